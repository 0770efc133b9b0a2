"""UPGANet through the CLI and the model directory: train, reload exactly, kernel, evaluate."""

import json

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main
from hbf_edge.families.upganet.model import UPGANet
from hbf_edge.modeldir import load_model
from hbf_edge.kernels.upganet.forward import load_upganet, upganet_forward

TINY = ["-N", "16", "-M", "5", "--layers", "3", "--inner", "2", "--train-size", "20",
        "--epochs", "1", "--batch-size", "10", "--targets", "-30", "20", "--delta", "8", "--quiet"]


@pytest.fixture(scope="module")
def jcas_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("jcas") / "model"
    assert main(["train", "upganet", "--out", str(out), *TINY]) == 0
    return out


def test_model_dir_round_trip_and_kernel(jcas_dir):
    model, config = load_model(jcas_dir)
    assert isinstance(model, UPGANet) and config.family == "upganet"
    assert (model.n_layers, model.n_inner, model.n_rf) == (3, 2, 5)
    assert config.family_config["scenario"]["targets_deg"] == [-30.0, 20.0] and config.family_config["eta"] == 1 / 16
    assert config.training["snr_db_min"] == 0.0 and config.training["snr_db_max"] == 12.0  # the paper's range
    psi = model.psi_re.numpy() + 1j * model.psi_im.numpy()
    assert np.allclose(np.diag(psi).real, 1 / 16)  # unit-power Psi_1 in S
    H = saleh_valenzuela_miso(4, 16, 4, 10, seed=7)
    p = np.array([1.0, 3.0, 9.0, 15.0])
    with torch.no_grad():
        (F, W), _ = model.run(cplx.from_complex(torch.from_numpy(H)), torch.from_numpy(p), torch.ones(4, dtype=torch.float64))
    f_re, f_im, w_re, w_im = upganet_forward(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p, np.ones(4),
                                             load_upganet(jcas_dir))
    assert np.max(np.abs(f_re + 1j * f_im - cplx.to_complex(F).numpy())) < 1e-10
    assert np.max(np.abs(w_re + 1j * w_im - cplx.to_complex(W).numpy())) < 1e-10


def test_evaluate_writes_tables_and_plots(jcas_dir, tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(["evaluate", str(jcas_dir), "--compare", str(jcas_dir), "--count", "6", "--snr", "0", "12",
               "--iterations", "4", "--out", str(out), "--quiet"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["sum_rate"]) == {"upganet_i3_j2", "upganet_i3_j2'", "pga", "pga_tuned", "zf"}
    assert res["sum_rate"]["upganet_i3_j2"] == res["sum_rate"]["upganet_i3_j2'"]
    assert res["mse_convention"] == "normalised" and res["pga"]["mu"] == 0.01 and res["pga"]["layers"] == 3
    # digital ZF is the rate reference; every metric is finite
    assert all(res["sum_rate"]["zf"][i] >= res["sum_rate"]["pga"][i] for i in range(2))
    assert all(np.isfinite(v).all() for m in ("mse_db", "objective", "tau") for v in res[m].values())
    assert len(res["convergence"]["curves"]["pga_j20_svd"]) == 5
    assert len(res["convergence"]["curves"]["pga_j10_initsteps"]) == 5
    assert len(res["convergence"]["curves"]["upganet_i3_j2"]) == 4
    assert len(res["beampattern"]["patterns"]["benchmark"]) == len(res["beampattern"]["angles_deg"])
    for png in ("jcas_vs_snr.png", "convergence.png", "beampattern.png"):
        assert (out / png).stat().st_size > 1000
    assert "beampattern MSE" in capsys.readouterr().out


def test_stages_refuse_what_they_cannot_do_clearly(jcas_dir, tmp_path, capsys):
    assert main(["export", str(jcas_dir), "--out", str(tmp_path / "b")]) == 2
    assert "float model" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert main(["profile", str(jcas_dir), "--backends", "tpu", "--out", str(tmp_path / "p")]) == 2
    assert "backend" in capsys.readouterr().err


def test_profile_of_a_upganet_model(jcas_dir, tmp_path, capsys):
    out = tmp_path / "prof"
    assert main(["profile", str(jcas_dir), "--batches", "1", "4", "--repeat", "1", "--out", str(out), "--quiet",
                 "--target", "mcu"]) == 0
    res = json.loads((out / "profile.json").read_text())
    assert set(res["measured"]) == {"1", "4"} and (res["I"], res["J"]) == (3, 2)
    stages = res["measured"]["4"]["torch_eager"]["stages_us_per_channel"]
    assert list(stages) == ["init", "layer0", "layer1", "layer2"] and all(v > 0 for v in stages.values())
    for backend in ("numba_float64", "numba_float32", "numba_hardware", "onnxruntime"):
        row = res["measured"]["4"][backend]
        # the layer figure is derived from two timings (whole - first layer): >= 0, not a timing test
        assert row["whole_us_per_channel"] > 0 and row["layer_us_per_channel"] >= 0, backend
    assert res["hardware_spec"]["phase_bits"] == 4  # a float model is timed at the embedded default
    # the estimate: MACs / (MACs per cycle) plus the special operations, for the mcu target
    t = res["target"]
    assert t["name"] and t["layers_total_us"] == pytest.approx(3 * t["layer"]["us"], rel=1e-6)
    # Table I counts: the Psi X product (N^2 K complex MACs) is in every inner step and W-step
    assert res["macs"]["inner_step"] > 4 * 16 * 16 * 4
    assert (out / "profile.png").stat().st_size > 1000
    assert "real MACs per layer" in capsys.readouterr().out


def test_bad_sensing_options_are_refused(tmp_path, capsys):
    assert main(["train", "upganet", "--out", str(tmp_path / "m"), *TINY, "--targets", "95"]) == 2
    assert "target angles" in capsys.readouterr().err
    assert main(["train", "upganet", "--out", str(tmp_path / "m"), *TINY[:-1], "-M", "8", "--quiet"]) == 2  # M - K > P
    assert "M <= K + P" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_evaluate_options_mse_pga_and_dump(jcas_dir, tmp_path):
    """Issue 19: the MSE convention, the PGA baseline's depth and steps, the tuned PGA, --dump."""
    common = ["evaluate", str(jcas_dir), "--count", "5", "--snr", "0", "12", "--iterations", "2", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "n"), "--pga-layers", "7", "--pga-mu", "0.1", "--pga-lambda",
                 "0.001", "--tune-size", "4", "--dump", str(tmp_path / "d.npz")]) == 0
    assert main([*common, "--out", str(tmp_path / "a"), "--mse", "absolute", "--tune-size", "0"]) == 0
    norm = json.loads((tmp_path / "n" / "results.json").read_text())
    absolute = json.loads((tmp_path / "a" / "results.json").read_text())
    assert "pga_tuned" not in absolute["sum_rate"] and absolute["mse_convention"] == "absolute"
    # absolute = normalised x P^2 (noise 1): +2 dB per SNR dB
    for i, snr in enumerate((0.0, 12.0)):
        assert absolute["mse_db"]["upganet_i3_j2"][i] == pytest.approx(norm["mse_db"]["upganet_i3_j2"][i] + 2 * snr)
    assert norm["pga"] == {"layers": 7, "inner": 1, "mu": 0.1, "lam": 0.001}
    assert norm["sum_rate"]["pga"] != absolute["sum_rate"]["pga"]  # the options are honoured
    # the tuned pair is the best of its grid on the validation channels, which holds the paper's (0.01, 0.01)
    tuning = norm["pga_tuning"]
    paper = next(g for g in tuning["grid"] if g["mu"] == 0.01 and g["lambda"] == 0.01)
    assert tuning["objective"] >= paper["objective"] and tuning["n_channels"] == 4
    with np.load(tmp_path / "d.npz") as d:
        assert d["H"].shape == (10, 16, 4) and list(d["snr_db"][[0, 5]]) == [0.0, 12.0]
        assert {"F_upganet_i3_j2", "W_pga", "W_pga_tuned", "F_zf"} <= set(d.files)
        # the dump recomputes the table's rate independently
        from hbf_edge.baselines import sum_rate_np

        rate = sum_rate_np(d["H"][5:], d["F_upganet_i3_j2"][5:] @ d["W_upganet_i3_j2"][5:], np.ones(5)).mean()
        assert rate == pytest.approx(norm["sum_rate"]["upganet_i3_j2"][1], rel=1e-9)


def test_train_with_a_given_psi_and_grid(tmp_path, capsys):
    from hbf_edge.families.upganet.sensing import SensingScenario, benchmark_covariance

    psi = benchmark_covariance(SensingScenario((-30.0, 20.0), 8.0, 181), 16, power=7.0).psi  # diag 7/16
    np.save(tmp_path / "psi.npy", psi)
    out = tmp_path / "m"
    assert main(["train", "upganet", "--out", str(out), *TINY, "--psi", str(tmp_path / "psi.npy"),
                 "--grid-points", "181"]) == 0
    model, config = load_model(out)
    assert config.family_config["psi"]["method"] == "file"
    assert config.family_config["psi"]["power_in_file"] == pytest.approx(7.0)
    assert config.family_config["scenario"]["grid_points"] == 181
    np.testing.assert_allclose(model.psi_re.numpy() + 1j * model.psi_im.numpy(), psi / 7.0, atol=1e-12)
    bad = psi.copy()
    bad[0, 1] += 0.1  # not Hermitian
    np.save(tmp_path / "bad.npy", bad)
    assert main(["train", "upganet", "--out", str(tmp_path / "b"), *TINY, "--psi", str(tmp_path / "bad.npy")]) == 2
    assert "Hermitian" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_each_layer_loss_trains_on_its_own_objective(tmp_path):
    """--layer-loss is read by UPGANet's training too: one epoch from the same seed ends with a
    different loss for each rule (an accepted and ignored rule would repeat another's)."""
    losses = {}
    for rule in ("last", "uniform", "ramp"):
        assert main(["train", "upganet", "--out", str(tmp_path / rule), *TINY, "--layer-loss", rule]) == 0
        losses[rule] = load_model(tmp_path / rule)[1].history[-1]["loss"]
    assert len(set(losses.values())) == 3, losses
