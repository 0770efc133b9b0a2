"""Quantization-aware UPGANet: code book, fixed-point W, STE gradients, CLI."""

import json

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main
from hbf_edge.errors import ConfigError
from hbf_edge.families.upganet.model import UPGANet, jcas_objective
from hbf_edge.modeldir import load_model
from hbf_edge.families.upganet.sensing import SensingScenario, benchmark_covariance
from hbf_edge.hw.spec import FixedPointFormat, phase_to_code
from hbf_edge.quant.upganet.qat import QuantUPGANet, load_quant_upganet

N, M, K = 16, 4, 4
SC = SensingScenario(targets_deg=(-40.0, 0.0, 40.0), delta_deg=6.0, grid_points=181)


@pytest.fixture(scope="module")
def float_model():
    return UPGANet(3, 2, M, benchmark_covariance(SC, N).psi, SC, mu0=1e-3, lambda0=1e-3)


def _batch(b=5, seed=4):
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(b, N, K, 6, seed=seed)))
    p = torch.linspace(1.0, 15.0, b, dtype=torch.float64)
    return H, p, torch.ones(b, dtype=torch.float64)


def test_phases_on_the_code_book_and_w_in_its_format(float_model):
    fmt = FixedPointFormat(10, 8)
    q = QuantUPGANet(float_model, 3, fmt)
    H, p, n = _batch()
    with torch.no_grad():
        (F, W), codes, W_hw, _ = q.run_quantized(H, p, n)
    assert codes.min() >= 0 and codes.max() < 8
    angle = 2 * np.pi * codes.numpy() / 8
    assert np.allclose(F.re.numpy(), np.cos(angle)) and np.allclose(F.im.numpy(), np.sin(angle))
    # the codes are the spec's rounding of the phases the (unquantized) layer would apply
    assert np.array_equal(phase_to_code(angle, 3), codes.numpy())
    lsb = 2.0**-8
    for part in (W_hw.re, W_hw.im):
        words = part.numpy() / lsb
        assert np.array_equal(words, np.round(words)) and words.max() <= fmt.max_int and words.min() >= fmt.min_int
    rho = torch.sqrt(p / N)[:, None, None]
    assert torch.allclose(W.re, W_hw.re * rho)
    # W_hw is power-normalised before rounding: ||F W_hw||^2 = N up to the rounding
    X = cplx.matmul(F, W_hw)
    assert torch.allclose(cplx.abs2(X).sum((1, 2)), torch.full((5,), float(N), dtype=torch.float64), rtol=0.05)


def test_fine_quantization_approaches_the_float_network(float_model):
    q = QuantUPGANet(float_model, 8, FixedPointFormat(24, 22))
    H, p, n = _batch()
    with torch.no_grad():
        (F, W), _ = float_model.run(H, p, n)
        (Fq, Wq), _ = q.run(H, p, n)
        psi1 = float_model.psi1()
        o_f = jcas_objective(H, F, W, n, psi1, p, SC.omega)
        o_q = jcas_objective(H, Fq, Wq, n, psi1, p, SC.omega)
    assert torch.allclose(o_q, o_f, rtol=0.05, atol=0.05)


def test_step_sizes_get_gradients_through_the_ste(float_model):
    q = QuantUPGANet(float_model, 4, FixedPointFormat(12, 10))
    H, p, n = _batch()
    (F, W), _, _, _ = q.run_quantized(H, p, n)
    (-jcas_objective(H, F, W, n, q.psi1(), p, SC.omega).mean()).backward()
    assert torch.all(torch.isfinite(q.mu.grad)) and q.mu.grad.abs().sum() > 0
    assert q.lam.grad.abs().sum() > 0


def test_bad_settings_are_refused(float_model):
    with pytest.raises(ConfigError):
        QuantUPGANet(float_model, 0, FixedPointFormat(12, 10))
    with pytest.raises(ConfigError):
        QuantUPGANet(float_model, 9, FixedPointFormat(12, 10))
    with pytest.raises(ConfigError):
        QuantUPGANet(float_model, 4, FixedPointFormat(12, 10, saturate=False))


def test_quantize_cli_for_upganet(tmp_path, capsys):
    fdir, qdir = tmp_path / "f", tmp_path / "q"
    assert main(["train", "upganet", "--out", str(fdir), "-N", "16", "--layers", "2", "--inner", "2",
                 "--train-size", "20", "--epochs", "1", "--batch-size", "10", "--quiet"]) == 0
    assert main(["quantize", str(fdir), "--out", str(qdir), "-Q", "4", "-B", "12", "--epochs", "1",
                 "--train-size", "20", "--count", "8", "--snr", "0", "12", "--quiet"]) == 0
    res = json.loads((qdir / "retention.json").read_text())
    assert res["phase_bits"] == 4 and res["precoder"]["word_bits"] == 12 and len(res["retention"]["qat"]) == 2
    assert all(0.5 < r < 1.05 for r in res["retention"]["qat"])
    model, config = load_model(qdir)
    q = load_quant_upganet(model, config)
    assert q.phase_bits == 4 and config.quantization["method"] == "qat"
    assert "QAT UPGANet Q=4" in capsys.readouterr().out
    assert main(["quantize", str(qdir), "--out", str(tmp_path / "qq"), "--quiet"]) == 2  # already quantized
    assert "already quantized" in capsys.readouterr().err


def test_evaluate_runs_a_quantized_upganet_through_its_quantized_network(tmp_path, capsys):
    fdir, qdir = tmp_path / "f", tmp_path / "q"
    assert main(["train", "upganet", "--out", str(fdir), "-N", "16", "--layers", "2", "--inner", "1",
                 "--train-size", "10", "--epochs", "1", "--batch-size", "10", "--quiet"]) == 0
    assert main(["quantize", str(fdir), "--method", "ptq", "--out", str(qdir), "-Q", "2", "--count", "4", "--snr", "12",
                 "--quiet"]) == 0
    out = tmp_path / "ev"
    assert main(["evaluate", str(qdir), "--compare", str(fdir), "--count", "5", "--snr", "12",
                 "--iterations", "2", "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["sum_rate"]) == {"upganet_i2_j1_q2", "upganet_i2_j1", "pga", "pga_tuned", "zf"}
    assert res["sum_rate"]["upganet_i2_j1_q2"] != res["sum_rate"]["upganet_i2_j1"]  # 2-bit phases change the design


def test_malformed_sensing_section_is_a_model_dir_error(tmp_path):
    from hbf_edge.errors import ModelDirError
    from hbf_edge.modeldir import build_model
    from hbf_edge.modelfiles import ModelConfig
    from hbf_edge.hw.spec import HardwareSpec

    cfg = ModelConfig("upganet", HardwareSpec(16, 4, 4, None), 2, 1, family_config={"eta": 0.1})
    with pytest.raises(ModelDirError):
        build_model(cfg)
