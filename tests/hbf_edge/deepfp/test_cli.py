"""DeepFP through the CLI: network dataset, training, evaluation (Tables I-II) and the bench JSON."""

import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.families.deepfp.model import to_c, wsr_t
from hbf_edge.families.deepfp.evaluate import evaluate_deepfp, matching_iterations
from hbf_edge.families.deepfp.solvers import solve
from hbf_edge.modeldir import load_model
from hbf_edge.families.deepfp.network import load_dataset
from hbf_edge.families.deepfp.wsr import random_init

NET = ["--cells", "1", "-N", "8", "--users-per-cell", "3", "--n-rx", "2", "-d", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepfp")
    assert main(["channels", "deepfp", "--out", str(root / "nets.npz"), "--count", "40", *NET]) == 0
    assert main(["train", "deepfp", "--channels", str(root / "nets.npz"), "--out", str(root / "m"),
                 "--layers", "3", "--hidden", "16", "--epochs", "2", "--supervised-epochs", "1",
                 "--fastfp-iterations", "20", "--batch-size", "14", "--quiet"]) == 0
    return root


def test_train_writes_a_deepfp_model_directory(trained):
    model, config = load_model(trained / "m", family="deepfp")
    assert config.family == "deepfp" and model.n_layers == 3 and model.hidden == 16
    assert config.training["train_size"] == 28 and config.training["val_size"] == 6
    assert [h["stage"] for h in config.history] == ["supervised", "unsupervised", "unsupervised"]
    assert config.family_config["network"]["n_users"] == 3


def test_evaluate_writes_the_table_and_plots(trained, capsys):
    out = trained / "eval"
    assert main(["evaluate", str(trained / "m"), "--channels", str(trained / "nets.npz"), "--out", str(out),
                 "--fastfp-iterations", "30", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert (out / "wsr_vs_iterations.png").stat().st_size > 0 and (out / "wsr_cdf.png").stat().st_size > 0
    assert [r["method"] for r in res["rows"]][:2] == ["DeepFP", "FastFP"]
    assert {r["method"] for r in res["rows"]} >= {"EZF", "WMMSE-SC"}  # single-cell defaults
    assert res["n_channels"] == 6 and len(res["fastfp_trajectory"]) == 31
    assert "WSR (bit/s/Hz)" in capsys.readouterr().out


def test_table_figures_match_independent_runs(trained):
    """The DeepFP and FastFP rows equal direct runs of the network and the numpy solver from the
    same seeded start; the matching iteration count is the first that reaches DeepFP."""
    model, _ = load_model(trained / "m")
    data = load_dataset(trained / "nets.npz")
    H = data["H"][data["test"]]
    res = evaluate_deepfp(model, H, 30, seed=9, time_samples=3, batch=4, progress=False)
    V0 = random_init(H.shape[:3] + (8, 1), np.ones(1), 9)
    with torch.no_grad():
        deep = wsr_t(to_c(H), model(to_c(H), to_c(V0))[0]).mean().item()
    fast = solve(H, "fastfp", 30, V0=V0)["wsr"].mean()
    rows = {(r["method"], r["iterations"]): r for r in res["rows"]}
    assert np.isclose(rows[("DeepFP", 3)]["wsr"], deep) and np.isclose(rows[("FastFP", 30)]["wsr"], fast)
    k = res["matching_iterations"]
    traj = np.asarray(res["fastfp_trajectory"])
    assert k is None or (traj[k] >= deep and np.all(traj[:k] < deep))
    assert res["time_samples"] == 3 and all(r["cpu_s_per_channel"] > 0 for r in res["rows"])
    assert set(res["per_layer_cpu_ms"]) == {"fp_state", "dnn", "eigenvalue", "update"}


def test_matching_iterations():
    assert matching_iterations(np.array([1.0, 2.0, 3.0, 2.5]), 2.5) == 2
    assert matching_iterations(np.array([1.0, 2.0]), 5.0) is None


def test_bench_prints_json_and_bad_options_fail_cleanly(trained, capsys):
    assert main(["bench", "model", str(trained / "m"), "--count", "4", "--fastfp-iterations", "5",
                 "--time-samples", "2", "--baselines", "ezf", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "per_channel" not in res and res["n_channels"] == 4 and res["rows"][1]["iterations"] == 5
    assert main(["bench", "model", str(trained / "m"), "--count", "0"]) == 2
    assert main(["evaluate", str(trained / "m"), "--compare", str(trained / "m")]) == 2
    err = capsys.readouterr().err
    assert "--count" in err and "--compare" in err
    assert main(["bench", "model", str(trained / "m"), "--count", "3", "--baselines", "wmmse_sc"]) == 0


def test_profile_of_float_and_quantized_deepfp(trained, capsys):
    from hbf_edge.modelfiles import read_model_dir

    out = trained / "prof"
    assert main(["profile", str(trained / "m"), "--batches", "1", "2", "--repeat", "1", "--out", str(out)]) == 0
    r = json.loads((out / "profile.json").read_text())
    assert r["I"] == 3 and not r["quantized"] and set(r["measured"]) == {"1", "2"}
    assert set(r["measured"]["2"]) == {"numba_float64", "torch_eager"} and "numba_hardware" in r["skipped"]
    row = r["measured"]["2"]
    assert len(row["numba_float64"]["layers_us_per_channel"]) == 3 and row["numba_float64"]["whole_us_per_channel"] > 0
    assert [set(x) for x in row["torch_eager"]["layers"]] == [{"fp_state", "dnn", "update"}] * 3
    # the DNN's MACs are its complex weights (4 real MACs each) times the users
    _, arrays = read_model_dir(trained / "m")
    weights = sum(a.size for k, a in arrays.items() if k.startswith("steps.0.") and k.endswith("w_re"))
    assert r["macs"]["dnn"] == 4 * 3 * weights
    assert r["macs"]["layer"] == r["macs"]["fp_state"] + r["macs"]["dnn"] + r["macs"]["update"]
    assert r["target"]["layers_total_us"] > 0 and (out / "profile.png").read_bytes()[:4] == b"\x89PNG"
    assert "torch eager per layer: fp_state" in capsys.readouterr().out
    # a quantized model adds the hardware mode
    assert main(["quantize", str(trained / "m"), "--out", str(trained / "q"), "--channels", str(trained / "nets.npz"),
                 "--method", "ptq", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["profile", str(trained / "q"), "--batches", "2", "--repeat", "1", "--backends", "numba_hardware",
                 "--json", "--out", str(trained / "qprof")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["quantized"] and list(r["measured"]["2"]) == ["numba_hardware"]
    assert main(["profile", str(trained / "m"), "--backends", "onnxruntime", "--out", str(out)]) == 2


def test_bench_deepfp_kernels_float_and_hardware(trained, capsys):
    nets = str(trained / "nets.npz")
    assert main(["bench", "agreement", str(trained / "m"), "--channels", nets]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["kernel"] == "numba_float64" and r["n_networks"] == 6 and r["max_abs_v_difference"] < 1e-12
    assert r["relative_wsr_difference"] < 1e-12 and r["speedup_over_torch"] > 0
    assert main(["quantize", str(trained / "m"), "--out", str(trained / "qk"), "--channels", nets, "--method", "ptq",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["bench", "agreement", str(trained / "qk"), "--count", "5", "--seed", "3"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["kernel"] == "numba_hardware" and r["n_networks"] == 5
    assert r["step_codes_equal"] == 1.0 and r["v_words_equal"] == 1.0 and r["relative_wsr_difference"] == 0.0
    assert main(["bench", "agreement", str(trained / "m"), "--count", "0"]) == 2
