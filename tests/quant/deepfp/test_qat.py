"""8-bit DeepFP: quantizers, calibration, QAT through the CLI, reload and the QCDQ export."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.families.deepfp.model import DeepFP, to_c
from hbf_edge.errors import ConfigError
from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
from hbf_edge.quant.deepfp.qat import (
    QuantDeepFP,
    StepNets,
    calibrate_ranges,
    export_stepnets_qcdq,
    load_deepfp,
    mean_wsr,
    quantize_deepfp,
)

NET = NetworkConfig(n_cells=1, n_users=3, n_tx=8, n_rx=2, n_streams=1)


@pytest.fixture(scope="module")
def small():
    H = generate_channels(NET, 12, seed=1)
    return DeepFP(3, 8, 1, 16, seed=0), H


def test_calibration_bounds_every_site_and_the_8bit_grid(small):
    model, H = small
    ranges = calibrate_ranges(model, H)
    assert len(ranges) == 3 and all(len(r["hidden"]) == 2 for r in ranges)
    q = quantize_deepfp(model, H, bits=8, v_bits=None)
    net = q.steps[0]
    w = net.re[0].quant_weight()
    ints = (w.value / w.scale).detach()
    assert torch.equal(ints, ints.round()) and ints.abs().max() <= 128
    assert float(torch.log2(w.scale.detach())) == round(float(torch.log2(w.scale.detach())))  # power-of-two weight scale
    x = torch.linspace(-2 * ranges[0]["input"], 2 * ranges[0]["input"], 101, dtype=torch.float64)
    y = net.inp(x)
    lsb = ranges[0]["input"] / 128
    assert torch.allclose(y / lsb, (y / lsb).round()) and y.abs().max() <= ranges[0]["input"] + 1e-12
    # close to the float network: the 8-bit grid moves the WSR by well under 1 %
    a, b = mean_wsr(model, H, 3), mean_wsr(q, H, 3)
    assert abs(b.mean() / a.mean() - 1) < 0.01


def test_v_is_rounded_to_its_fixed_point_words(small):
    model, H = small
    q = quantize_deepfp(model, H, v_bits=10)
    V0 = to_c(np.full((2, 1, 3, 8, 1), 0.2 + 0.1j))
    with torch.no_grad():
        V, _ = q.layer(0, to_c(H[:2]), V0)
    for part in (V.re, V.im):
        assert torch.equal(part * 512, (part * 512).round())  # Q1.9
    with pytest.raises(ConfigError, match="V bits"):
        QuantDeepFP(model, calibrate_ranges(model, H), v_bits=2)
    with pytest.raises(ConfigError, match="one entry per layer"):
        QuantDeepFP(model, calibrate_ranges(model, H)[:2])


def test_qcdq_export_equals_the_torch_dnns(small, tmp_path):
    model, H = small
    q = quantize_deepfp(model, H)
    path = export_stepnets_qcdq(q, tmp_path / "dnn.qcdq.onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts)
    assert {n.op_type for n in __import__("onnx").load(str(path)).graph.node} >= {"QuantizeLinear", "DequantizeLinear"}
    x = np.random.default_rng(0).standard_normal((3, 7, 16)).astype(np.float32) * 0.05
    out = sess.run(None, {"x_re": x, "x_im": -x})[0]
    with torch.no_grad():
        ref = StepNets(q.steps).float()(torch.from_numpy(x), torch.from_numpy(-x)).numpy()
    assert out.shape == (3, 7) and np.array_equal(out, ref)


def test_quantize_cli_qat_reload_and_evaluate(tmp_path):
    nets = tmp_path / "nets.npz"
    assert main(["channels", "deepfp", "--out", str(nets), "--count", "40", "--cells", "1", "-N", "8",
                 "--users-per-cell", "3", "--n-rx", "2", "-d", "1"]) == 0
    assert main(["train", "deepfp", "--channels", str(nets), "--out", str(tmp_path / "m"), "--layers", "2",
                 "--hidden", "8", "--epochs", "1", "--supervised-epochs", "0", "--quiet"]) == 0
    assert main(["quantize", str(tmp_path / "m"), "--out", str(tmp_path / "q"), "--channels", str(nets),
                 "--epochs", "1", "--batch-size", "14", "--quiet"]) == 0
    rep = json.loads((tmp_path / "q" / "retention.json").read_text())
    assert rep["test_size"] == 6 and rep["dnn_bits"] == 8 and 0.9 < rep["retention"] < 1.1
    qmodel, config = load_deepfp(tmp_path / "q")
    assert isinstance(qmodel, QuantDeepFP) and config.quantization["method"] == "qat"
    H = load_dataset_test(nets)
    assert np.isclose(mean_wsr(qmodel, H, 2026).mean(), rep["quantized_wsr"])  # reloaded exactly
    assert main(["quantize", str(tmp_path / "q"), "--out", str(tmp_path / "q2")]) == 2  # already quantized
    assert main(["bench", "model", str(tmp_path / "q"), "--channels", str(nets), "--fastfp-iterations", "3",
                 "--baselines", "--quiet"]) == 0


def load_dataset_test(path):
    from hbf_edge.families.deepfp.network import load_dataset

    data = load_dataset(path)
    return data["H"][data["test"]]


def test_export_bundle_of_a_quantized_deepfp(tmp_path):
    from hbf_edge.export import read_bundle
    from hbf_edge.export.deepfp.bundle import write_deepfp_bundle
    from hbf_edge.families.deepfp.train import deepfp_model_config
    from hbf_edge.quant.deepfp.qat import save_quant_deepfp

    H = generate_channels(NetworkConfig(n_cells=7, n_users=2, n_tx=8, n_rx=2, n_streams=1), 6, seed=4)
    model = DeepFP(2, 8, 1, 8, seed=1)
    q = quantize_deepfp(model, H)
    config = deepfp_model_config(model, NetworkConfig(n_cells=7, n_users=2, n_tx=8, n_rx=2, n_streams=1), {}, [])
    save_quant_deepfp(q, config, {"method": "ptq"}, tmp_path / "q")
    path = write_deepfp_bundle(tmp_path / "q", tmp_path / "b", H[:4])
    bundle = read_bundle(path)  # every sha256 checked
    ver = bundle.manifest["verified"]
    assert ver["dnn.qcdq.onnx"]["outputs_equal"] == 1.0 and ver["dnn.qcdq.onnx"]["n_inputs"] == 2 * 4 * 7 * 2
    # onnxruntime's fused integer kernels (default optimisations) are recorded beside: on an AVX2
    # host a few outputs move by one step
    assert ver["dnn.qcdq.onnx"]["outputs_equal_optimized"] >= 0.95
    assert abs(ver["model.onnx"]["mean_wsr_onnx"] / ver["model.onnx"]["mean_wsr_torch"] - 1) < 1e-4
    beams = np.load(path / "beams.npz")
    assert beams["v_re"].shape == (4, 7, 2, 8, 1) and np.isclose(beams["wsr"].mean(), ver["model.onnx"]["mean_wsr_torch"])
    with pytest.raises(Exception, match="exists"):
        write_deepfp_bundle(tmp_path / "q", tmp_path / "b", H[:4])


def test_a_second_export_takes_the_qcdq_graph_from_the_cache(tmp_path, monkeypatch):
    """``dnn.qcdq.onnx`` depends on the model only: a second export on other channels takes it
    from the graph cache (no export, the same bytes) and checks it on its own channels; another
    model exports again."""
    from hbf_edge.export import read_bundle
    from hbf_edge.export._core import graph_cache
    from hbf_edge.export.deepfp import bundle as deepfp_bundle
    from hbf_edge.families.deepfp.train import deepfp_model_config
    from hbf_edge.quant.deepfp.qat import save_quant_deepfp

    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "cache"))
    net = NetworkConfig(n_cells=1, n_users=2, n_tx=8, n_rx=2, n_streams=1)
    H = generate_channels(net, 9, seed=4)
    for name, seed in (("q", 1), ("q2", 2)):
        model = DeepFP(2, 8, 1, 8, seed=seed)
        save_quant_deepfp(quantize_deepfp(model, H), deepfp_model_config(model, net, {}, []), {"method": "ptq"},
                          tmp_path / name)
    exports = []
    real = deepfp_bundle.write_qcdq_graph
    monkeypatch.setattr(deepfp_bundle, "write_qcdq_graph", lambda *a, **k: exports.append(1) or real(*a, **k))
    first = read_bundle(deepfp_bundle.write_deepfp_bundle(tmp_path / "q", tmp_path / "b1", H[:4]))
    second = read_bundle(deepfp_bundle.write_deepfp_bundle(tmp_path / "q", tmp_path / "b2", H[4:], seed=3))
    assert len(exports) == 1 and second.manifest["files"]["dnn.qcdq.onnx"] == first.manifest["files"]["dnn.qcdq.onnx"]
    assert second.manifest["verified"]["dnn.qcdq.onnx"]["outputs_equal"] == 1.0
    deepfp_bundle.write_deepfp_bundle(tmp_path / "q2", tmp_path / "b3", H[:4])
    assert len(exports) == 2
