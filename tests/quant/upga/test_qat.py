"""The QAT model against the hardware kernel, PTQ, training and the quantize command."""

import json

import numpy as np
import pytest
import torch

from hbf_edge import kernels
from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec
from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.modeldir import ModelConfig, save_model
from hbf_edge.training import TrainConfig
from hbf_edge.families.upga.model import UPGA
from hbf_edge.quant import (
    PrecisionConfig,
    QuantUPGA,
    load_quantized,
    ptq_design,
    save_quantized,
    train_qat,
)
from hbf_edge.quant.upga.evaluate import quantized_design

STEPS = (np.array([[0.3], [0.1], [0.2], [0.05]]), np.array([5e-3, 2e-3, 1e-2, 1e-3]))


def _problem(B, N=32, seed=0):
    H = saleh_valenzuela_miso(B, N, 4, seed=seed)
    rng = np.random.default_rng(seed)
    return H, 10 ** (rng.uniform(-10, 20, B) / 10), np.ones(B)


@pytest.mark.parametrize("layers,xi", [
    ([HardwareSpec(32, 4, 4, 4)] * 4, None),
    ([HardwareSpec(32, 4, 4, 2)] * 4, None),
    ([HardwareSpec(32, 4, 4, 8, precoder=FixedPointFormat(16, 14))] * 4, None),
    ([HardwareSpec(32, 4, 4, 6), HardwareSpec(32, 4, 4, 6), HardwareSpec(32, 4, 4, 3),
      HardwareSpec(32, 4, 4, 3, precoder=FixedPointFormat(10, 8, "half_even"))], None),
    ([HardwareSpec(32, 4, 4, 1)] * 4, 1.0),  # the output stage: Wiener, and zero forcing after 8-bit layers
    ([HardwareSpec(32, 4, 4, 8)] * 3 + [HardwareSpec(32, 4, 4, 2, precoder=FixedPointFormat(10, 8, "floor"))], 0.0),
])
def test_quantized_forward_agrees_with_the_hardware_kernel(layers, xi):
    """Codes and W words equal the integer kernel's (at least 99.9% required; the float64
    emulation is exact while integer products stay below 2**53, which they do here)."""
    H, p_t, noise = _problem(150, seed=len(layers[0].to_json()) + layers[-1].phase_bits)
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS,
                                 layers[0], layers, xi=xi)
    q = QuantUPGA(layers, 1, torch.from_numpy(STEPS[0]), torch.from_numpy(STEPS[1]), xi=xi)
    codes, F, W = quantized_design(q, H, p_t, noise, chunk=40)
    assert (codes == hw.codes).mean() >= 0.999
    w_words = np.round((W / np.sqrt(p_t / 32)[:, None, None]) * 2 ** layers[-1].precoder.frac_bits)
    assert (w_words.real == hw.w_re).mean() >= 0.999 and (w_words.imag == hw.w_im).mean() >= 0.999
    r_q, r_hw = sum_rate_np(H, F @ W, noise), sum_rate_np(H, hw.analog() @ hw.digital(), noise)
    assert abs(r_q.mean() / r_hw.mean() - 1) < 1e-3
    assert (codes == hw.codes).mean() == 1.0 and (w_words.real == hw.w_re).all()  # measured today: exact agreement
    assert {k for k, v in hw.counters.items() if v.sum() > 0} <= {"input"}  # no overflow inside the datapath


def test_ptq_designs_are_feasible_and_refit_helps_at_high_snr():
    H, _, _ = _problem(100, seed=3)
    p_t, noise = np.full(100, 100.0), np.ones(100)
    spec = HardwareSpec(32, 4, 4, 2)
    model = UPGA(4, 1, 4)
    rates = {}
    for method in ("round", "refit"):
        codes, F, W = ptq_design(model, H, p_t, noise, spec, method)
        assert codes.max() < 4 and np.allclose(np.abs(F), 1)
        assert np.allclose(np.sum(np.abs(F @ W) ** 2, axis=(1, 2)), p_t, rtol=0.02)
        rates[method] = sum_rate_np(H, F @ W, noise).mean()
    assert rates["refit"] > rates["round"]


def test_qat_trains_saves_and_loads(tmp_path):
    spec = HardwareSpec(16, 4, 4, None)
    model = UPGA(3, 1, 4)
    cfg = ModelConfig("upga", spec, 3, 1, training={"n_paths": 10})
    save_model(model, cfg, tmp_path / "float")
    precision = PrecisionConfig.uniform_config(spec, 3, 3)
    loop = TrainConfig(n_antennas=16, n_layers=3, train_size=20, epochs=2, batch_size=10, seed=2)
    q, qcfg = train_qat(model, cfg, precision, loop, progress=False, output_xi=1.0)
    assert len(qcfg.history) == 2 and qcfg.quantization["method"] == "qat"
    assert not torch.equal(q.mu, model.mu)  # the step sizes moved
    assert q.output_xi is not None and q.output_xi != 1.0  # and the output stage's factor
    q2, qcfg2, prec2 = load_quantized(save_quantized(q, qcfg, tmp_path / "q"))
    assert torch.equal(q2.mu, q.mu) and prec2.layer_specs() == precision.layer_specs()
    assert q2.output_xi == q.output_xi == qcfg2.output_xi
    H, p_t, noise = _problem(5, N=16)
    a = quantized_design(q, H, p_t, noise)
    b = quantized_design(q2, H, p_t, noise)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # the hardware kernel runs the same directory and agrees
    steps = kernels.load_upga(tmp_path / "q")
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise,
                                 steps.mu, steps.lam, prec2.base, prec2.layer_specs(), xi=steps.xi)
    assert np.array_equal(hw.codes, a[0])
    assert np.allclose(hw.digital(), a[2], atol=1e-12)


def test_quantize_command(tmp_path, capsys):
    from hbf_edge.cli import main

    assert main(["train", "upga", "--out", str(tmp_path / "f"), "-N", "16", "--layers", "3", "--train-size", "20",
                 "--epochs", "1", "--quiet"]) == 0
    common = ["--count", "20", "--quiet", "--snr", "10"]
    assert main(["quantize", str(tmp_path / "f"), "--method", "ptq", "-Q", "3", "-B", "10", "--out", str(tmp_path / "p"),
                 *common]) == 0
    ret = json.loads((tmp_path / "p" / "retention.json").read_text())
    assert ret["method"] == "ptq" and ret["phase_bits"] == 3 and ret["precoder"]["word_bits"] == 10
    # the default recipe at Q <= 4 (issue 19): the Wiener output stage after 8-bit internal layers
    q_default, _, prec_default = load_quantized(tmp_path / "p")
    assert ret["output_xi"] == 1.0 == q_default.output_xi and [s.phase_bits for s in prec_default.layer_specs()] == [8, 8, 3]
    assert ret["recipe"] == {"output_stage": "wiener", "output_stage_option": "auto", "internal_phase_bits": 8,
                             "precision_file": None, "code_search": None}
    assert main(["quantize", str(tmp_path / "f"), "--method", "ptq", "-Q", "3", "--output-stage", "none",
                 "--out", str(tmp_path / "p0"), *common]) == 0
    q0, _, prec0 = load_quantized(tmp_path / "p0")
    assert q0.output_xi is None and [s.phase_bits for s in prec0.layer_specs()] == [3, 3, 3]
    assert main(["quantize", str(tmp_path / "f"), "--method", "ptq", "-Q", "5", "--out", str(tmp_path / "p5"),
                 *common]) == 0
    assert load_quantized(tmp_path / "p5")[0].output_xi is None  # above Q = 4 the plain network
    assert main(["quantize", str(tmp_path / "f"), "--method", "ptq", "-Q", "2", "--internal-phase-bits", "7", "--output-stage",
                 "wiener", "--out", str(tmp_path / "p2"), *common]) == 0
    q2, _, prec2 = load_quantized(tmp_path / "p2")
    assert q2.output_xi == 1.0 and [s.phase_bits for s in prec2.layer_specs()] == [7, 7, 2]
    assert set(ret["retention"]) == {"float", "ptq_round", "ptq_refit", "quantized", "hardware"}
    assert ret["retention"]["hardware"] == pytest.approx(ret["retention"]["quantized"], rel=1e-3)  # kernel == QAT model
    assert main(["quantize", str(tmp_path / "f"), "--method", "ptq", "-Q", "2", "--output-stage", "wiener", "--code-search", "2",
                 "--out", str(tmp_path / "s2"), *common]) == 0
    ret_s = json.loads((tmp_path / "s2" / "retention.json").read_text())
    assert ret_s["code_search"] == {"sweeps": 2, "span": 1} == load_quantized(tmp_path / "s2")[1].code_search
    assert ret_s["retention"]["hardware"][0] > ret_s["retention"]["quantized"][0]  # the search pays at Q=2
    assert 0 < ret_s["retention"]["ptq_refit_search"][0] and "ptq_refit_search" not in ret["retention"]
    (tmp_path / "prec.toml").write_text('[default]\nphase_bits = 2\n[layers."0"]\nphase_bits = 5\n')
    assert main(["quantize", str(tmp_path / "f"), "--method", "qat", "--epochs", "1", "--train-size", "10",
                 "--precision", str(tmp_path / "prec.toml"), "--out", str(tmp_path / "q"), *common]) == 0
    _, cfg, prec = load_quantized(tmp_path / "q")
    assert [s.phase_bits for s in prec.layer_specs()] == [5, 2, 2] and cfg.quantization["method"] == "qat"
    capsys.readouterr()
    for argv, match in [
        (["quantize", str(tmp_path / "f"), "-Q", "9", "--out", str(tmp_path / "x")], "phase_bits"),
        (["quantize", str(tmp_path / "f"), "-B", "2", "--out", str(tmp_path / "x")], "precoder-bits"),
        (["quantize", str(tmp_path / "q"), "--out", str(tmp_path / "x")], "already quantized"),
        (["quantize", str(tmp_path / "f"), "--out", str(tmp_path / "p")], "exists"),
        (["quantize", str(tmp_path / "f"), "--precision", str(tmp_path / "none.toml"), "--out", str(tmp_path / "x")],
         "does not exist"),
        (["quantize", str(tmp_path / "f"), "--precision", str(tmp_path / "prec.toml"), "--internal-phase-bits", "8",
          "--out", str(tmp_path / "x")], "use one"),
        (["quantize", str(tmp_path / "f"), "--internal-phase-bits", "12", "--out", str(tmp_path / "x")], "phase_bits"),
        (["quantize", str(tmp_path / "f"), "-Q", "5", "--code-search", "2", "--out", str(tmp_path / "x")],
         "--output-stage"),
        (["quantize", str(tmp_path / "f"), "--code-search", "0", "--output-stage", "zf", "--out", str(tmp_path / "x")],
         "sweeps"),
    ]:
        assert main([*argv, "--quiet", "--method", "ptq"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "x").exists()


def test_study_quantization_command(tmp_path, capsys):
    from hbf_edge.cli import main

    assert main(["train", "upga", "--out", str(tmp_path / "f"), "-N", "16", "--layers", "2", "--train-size", "20",
                 "--epochs", "1", "--quiet"]) == 0
    assert main(["study", "quantization", str(tmp_path / "f"), "--out", str(tmp_path / "s"), "-Q", "1", "3",
                 "--epochs", "1", "--train-size", "10", "--count", "10", "--snr", "20", "--quiet"]) == 0
    study = json.loads((tmp_path / "s" / "retention.json").read_text())
    assert [r["phase_bits"] for r in study["rows"]] == [1, 3]
    # the default recipe, per Q: the Wiener stage after 8-bit internal layers at Q <= 4
    assert all(r["output_stage"] == "wiener" and r["internal_phase_bits"] == 8 for r in study["rows"])
    assert (tmp_path / "s" / "retention.png").read_bytes()[:4] == b"\x89PNG"
    assert load_quantized(tmp_path / "s" / "q3")[2].base.phase_bits == 3
    assert " 3 |" in capsys.readouterr().out
    assert main(["study", "quantization", str(tmp_path / "f"), "--out", str(tmp_path / "c"), "-Q", "2", "--epochs", "1",
                 "--train-size", "10", "--count", "10", "--snr", "20", "--output-stage", "wiener", "--code-search",
                 "1", "--quiet"]) == 0
    study = json.loads((tmp_path / "c" / "retention.json").read_text())
    assert study["code_search"] == {"sweeps": 1, "span": 1} == load_quantized(tmp_path / "c" / "q2")[1].code_search
    assert {"hardware", "ptq_refit_search"} <= set(study["rows"][0]["retention"])
    assert "QAT+s" in capsys.readouterr().out


def test_output_stage_choice():
    from hbf_edge.quant.upga.train import output_xi_for

    assert (output_xi_for("wiener"), output_xi_for("zf"), output_xi_for("none")) == (1.0, 0.0, None)
    with pytest.raises(ConfigError, match="output stage"):
        output_xi_for("mmse")
    with pytest.raises(ConfigError, match="xi"):
        QuantUPGA([HardwareSpec(16, 4, 4, 3)], 1, torch.ones(1, 1), torch.ones(1), xi=-0.5)


def test_the_demos_retention_by_the_kernel_is_the_torch_networks(tmp_path):
    """The demo scores its QAT model's designs with the integer kernel (``demo._kernel_designs``):
    the same rates as the torch network's designs, with the output stage too."""
    import functools

    from helpers import quantized_model_dir
    from hbf_edge.demo import _kernel_designs
    from hbf_edge.modeldir import load_model
    from hbf_edge.quant.upga.evaluate import retention

    quantized_model_dir(tmp_path, 16, 3, {"default": {"phase_bits": 3}}, xi=1.0)
    model, _ = load_model(tmp_path / "float")
    q, _, _ = load_quantized(tmp_path / "q")
    H = saleh_valenzuela_miso(12, 16, 4, seed=5)
    torch_rows = retention(model, q, H, [10.0, 20.0])
    kernel_rows = retention(model, q, H, [10.0, 20.0], designs=functools.partial(_kernel_designs, tmp_path / "q"))
    assert kernel_rows == torch_rows
    assert torch_rows["sum_rate"]["quantized"] != torch_rows["sum_rate"]["float"]
