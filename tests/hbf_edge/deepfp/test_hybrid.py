"""Hybrid DeepFP: the effective problem behind analog codes, and the bundle the simulator replays."""

import json

import numpy as np
import pytest

from hbf_edge import firmware_sim
from hbf_edge.firmware_sim.physics import digital_precoder, element_weights, sum_rate
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main
from hbf_edge.errors import ConfigError, InvalidChannelError, ShapeError
from hbf_edge.families.deepfp.hybrid import analog_precoder, effective_problem, hybrid_precoder, precoder_words
from hbf_edge.families.deepfp.network import load_dataset
from hbf_edge.families.deepfp.wsr import weighted_sum_rate
from helpers import quantized_model_dir


def _random(B=5, N=16, M=4, K=3, Q=3, seed=0):
    rng = np.random.default_rng(seed)
    H = saleh_valenzuela_miso(B, N, K, 6, seed=seed)
    codes = rng.integers(0, 1 << Q, size=(B, N, M))
    W = rng.standard_normal((B, M, K)) + 1j * rng.standard_normal((B, M, K))
    F = analog_precoder(codes, Q)
    W *= np.sqrt(N / np.sum(np.abs(F @ W) ** 2, axis=(1, 2)))[:, None, None]  # ||F W_hw||^2 = N (eq. 9)
    return H, codes, W, Q


def test_effective_problem_keeps_the_sum_rate_and_the_budget():
    """The DeepFP WSR of V = R W_hw / sqrt(N) equals the simulator's sum rate of (F, W), and
    W_hw maps back exactly."""
    H, codes, W, Q = _random()
    B, N, M = codes.shape
    p_t, noise = np.array([1.0, 3.0, 10.0, 30.0, 100.0]), np.array([1.0, 0.5, 1.0, 2.0, 1.0])
    prob = effective_problem(H, codes, Q, p_t, noise)
    assert prob.H.shape == (B, 1, 3, 1, 1, M)
    V = np.swapaxes(prob.R @ W / np.sqrt(N), 1, 2)[:, None, :, :, None]
    assert np.allclose(np.sum(np.abs(V) ** 2, axis=(1, 2, 3, 4)), 1.0)  # the budget of eq. (9) becomes ||V|| = 1
    beams = {"w_re": W.real, "w_im": W.imag, "w_frac_bits": 0, "p_t": p_t, "codes": codes}
    F = element_weights(codes, np.full(codes.shape, 127.0), Q)
    assert np.allclose(weighted_sum_rate(prob.H, V), sum_rate(H, F, digital_precoder(beams), noise), rtol=1e-12)
    assert np.allclose(hybrid_precoder(V, prob.R, N), W, atol=1e-12)


def test_precoder_words_round_and_saturate():
    W = np.array([[[0.5 + 0.25j, 2.0 - 2.5j]], [[0.125, 0.375j]]])  # [2, 1, 2]
    re, im, sat = precoder_words(W, 4, 2)  # 4-bit words, 2 fraction bits: -2 .. 1.75
    assert re.tolist() == [[[2, 7]], [[0, 0]]] and im.tolist() == [[[1, -8]], [[0, 2]]]  # 0.5 -> 0, 1.5 -> 2
    assert sat.tolist() == [2, 0]
    with pytest.raises(ConfigError):
        precoder_words(W, 4, 4)


def test_bad_hybrid_input_is_refused():
    H, codes, W, Q = _random()
    p = np.ones(5)
    with pytest.raises(ConfigError, match="phase codes"):
        effective_problem(H, codes + 8, Q, p, p)
    with pytest.raises(ShapeError):
        effective_problem(H[:, :8], codes, Q, p, p)
    same = codes.copy()
    same[2, :, 1] = same[2, :, 0]  # two RF chains with the same codes: F loses rank
    with pytest.raises(InvalidChannelError, match="channel 2"):
        effective_problem(H, same, Q, p, p)
    bad = H.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidChannelError):
        effective_problem(bad, codes, Q, p, p)
    with pytest.raises(ConfigError):
        effective_problem(H, codes, Q, -p, p)


def test_hybrid_pipeline_through_the_cli_and_the_simulator(tmp_path, capsys):
    quantized_model_dir(tmp_path, 16, 3, {"default": {"phase_bits": 3, "precoder": {"word_bits": 12, "frac_bits": 9}}})
    nets, pga, hyb = tmp_path / "p.npz", tmp_path / "pga", tmp_path / "hyb"
    assert main(["channels", "deepfp", "--hybrid", str(tmp_path / "q"), "--count", "40", "--snr", "10",
                 "--out", str(nets)]) == 0
    data = load_dataset(nets)
    assert data["H"].shape == (40, 1, 4, 1, 1, 4) and data["hybrid"]["phase_bits"] == 3
    assert main(["train", "deepfp", "--channels", str(nets), "--out", str(tmp_path / "d"), "--layers", "2",
                 "--hidden", "8", "--epochs", "1", "--supervised-epochs", "0", "--quiet"]) == 0
    assert main(["export", str(tmp_path / "q"), "--out", str(pga), "--count", "6", "--snr", "10"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "d"), "--hybrid", str(pga), "--out", str(hyb)]) == 0
    assert "with DeepFP's W words" in capsys.readouterr().out
    manifest = json.loads((hyb / "manifest.json").read_text())
    h = manifest["hybrid"]
    assert h["deepfp_mode"] == "float64" and set(h["mean_sum_rate"]) == {"pga_w", "deepfp", "deepfp_words", "fastfp_100"}
    pga_beams, hyb_beams = np.load(pga / "beams.npz"), np.load(hyb / "beams.npz")
    assert np.array_equal(pga_beams["codes"], hyb_beams["codes"]) and not np.array_equal(pga_beams["w_re"], hyb_beams["w_re"])
    assert set(manifest["files"]) >= {"lut.json", "lut.h", "beams.npz"}
    report, _ = firmware_sim.simulate(hyb)
    assert report["code_mismatches"] == {"direct": 0, "ram": 0}
    assert np.isclose(report["sum_rate"]["model_mean"], h["mean_sum_rate"]["deepfp_words"], rtol=1e-12)
    # a DeepFP model of another problem, and --hybrid on the wrong family, are refused
    assert main(["export", str(tmp_path / "q"), "--hybrid", str(pga), "--out", str(tmp_path / "x")]) == 2
    assert main(["channels", "upga", "--hybrid", str(tmp_path / "q"), "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["channels", "deepfp", "--hybrid", str(tmp_path / "float"), "--out", str(tmp_path / "x.npz")]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.npz").exists()
