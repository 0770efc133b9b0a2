"""JCEHB as a registered family: train (joint and separate), evaluate and profile through the
CLI, its model directory, the float kernel against torch, and one-line errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.families import CORE
from hbf_edge.families.jcehb.system import JcehbSizes, analog, jcehb_channels, noise_power, sum_rate

TINY = ["-N", "8", "--n-rf-tx", "4", "--n-rx", "4", "--n-rf-rx", "2", "-K", "2", "-d", "1"]
TRAIN = ["-L", "4", "-I", "2", "--epochs", "2", "--batch-size", "10", "--ssca-iterations", "2", "-q", *TINY]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("jcehb")
    assert main(["channels", "jcehb", "--out", str(root / "ch"), "--count", "50", *TINY]) == 0
    ch = str(root / "ch" / "channels.npz")
    assert main(["train", "jcehb", "--out", str(root / "m"), "--channels", ch, *TRAIN]) == 0
    assert main(["train", "jcehb", "--out", str(root / "sep"), "--channels", ch, "--design", "separate", *TRAIN]) == 0
    return root


def test_the_model_directory_keeps_the_timescales_apart(trained):
    core = CORE.get("jcehb")
    model, config = core.load(trained / "m")
    fc = config.family_config
    assert config.family == "jcehb" and fc["pilots"] == 4 and fc["hb_layers"] == 2 and fc["design"] == "joint"
    assert fc["pilot_power"] == "per-chain" and fc["inverse"] == "exact" and fc["ssca"]["eta"] > 0
    arrays = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert arrays == core.expected_arrays(config)
    long_term = {k for k in arrays if k.startswith(("phi_", "ssca_"))}
    assert long_term == {"phi_f", "phi_w", "ssca_phi_f", "ssca_phi_w"}
    stages = [h["stage"] for h in config.history]
    assert stages == ["stage 1"] * 3 + ["stage 2"] * 3  # epoch 0 and 2 epochs each
    # the separate design: the same stage 1 (same seed), then its estimator on the NMSE
    sep, sc = core.load(trained / "sep")
    assert [h["stage"] for h in sc.history][3:] == ["separate CE"] * 3
    np.testing.assert_array_equal(sep.phi_f.detach().numpy(), model.phi_f.detach().numpy())


def test_evaluate_scores_every_design_on_the_same_slots(trained, capsys):
    out = trained / "eval"
    assert main(["evaluate", str(trained / "m"), "--count", "8", "--snr", "5", "10", "--rls-pilots", "6",
                 "--sca-iterations", "5", "--compare", str(trained / "sep"), "--test-users", "1", "--out", str(out),
                 "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["family"] == "jcehb" and res["schema"].startswith("hbf-edge/evaluation/")
    rate = res["metrics"]["sum_rate"]
    assert set(rate) == {"network", "hbdun_perfect", "rls4_sca2", "rls6_sca5", "rls6_rzf", "sca5_perfect",
                         "compare:sep", "network_K1", "rls6_sca5_K1"}
    assert set(res["metrics"]["nmse"]) == {"network", "rls4_sca2", "rls6_sca5", "compare:sep", "network_K1",
                                           "rls6_sca5_K1"}
    assert res["percent_of_reference"]["network_K1 / rls6_sca5_K1"][1] == pytest.approx(
        100 * rate["network_K1"][1] / rate["rls6_sca5_K1"][1], abs=0.01)
    assert all(len(v) == 2 and all(x > 0 for x in v) for v in rate.values())
    assert (out / "sum_rate.png").stat().st_size > 0 and (out / "fig9_overhead.png").stat().st_size > 0
    bits = res["signalling_bits"]  # Fig. 9 at this model's sizes: N_t=8, N_t^RF=4, N_r=4, N_r^RF=2, L=4
    assert bits["per_estimate"] == {"full_csi": 8 * (4 * 2 + 8 * 4 + 4 * 4), "equivalent_csi": 8 * 4 * 4}
    assert bits["frames"] == list(range(1, 17)) and bits["online"][-1] == 16 * (8 * 128 + 448)
    # the network row against an independent computation: torch forward, numpy rate
    core = CORE.get("jcehb")
    model, config = core.load(trained / "m")
    H = core.draw_channels(config, 8, 2026)
    d = core.torch_forward(model, H, snr_db=10.0, noise_seed=7)
    F_rf, W_rf = analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())
    He = np.einsum("kar,bkat,tn->bkrn", W_rf.conj(), H, F_rf)
    want = sum_rate(He, d["F_bb"], d["W_bb"], W_rf, noise_power(10.0)).mean()
    assert rate["network"][1] == pytest.approx(want, rel=1e-12)
    assert res["percent_of_reference"]["network / rls6_sca5"][1] == pytest.approx(
        100 * rate["network"][1] / rate["rls6_sca5"][1], abs=0.01)
    assert "network / rls6_sca5" in capsys.readouterr().out


def test_profile_times_each_stage_and_counts_its_operations(trained, capsys):
    out = trained / "prof"
    assert main(["profile", str(trained / "m"), "--batches", "1", "5", "--repeat", "1", "--out", str(out), "-q"]) == 0
    res = json.loads((out / "profile.json").read_text())
    for batch in ("1", "5"):
        assert set(res["measured"][batch]) == {"torch_eager", "numba_float64", "onnxruntime"}
        for row in res["measured"][batch].values():
            assert all(row[f"{s}_us_per_channel"] > 0 for s in ("cedun", "hbdun", "slot"))
        assert all(r["slot_iqr_us_per_channel"] >= 0 for r in res["measured"][batch].values())
    assert res["ops_per_layer"]["cedun"]["real_macs"] == 4 * 2 * (3 * 16 + 3 * 8 + 16)
    assert res["target"]["slot_us"] > 0 and "HBDUN layer" in capsys.readouterr().out


@pytest.mark.parametrize("inverse", ["exact", "paper"])
def test_the_float_kernel_equals_the_torch_network(inverse, tmp_path):
    """kernels.jcehb against torch on a network whose parameters are all moved off their initial
    values, through the serial and the parallel driver, at two SNRs."""
    from hbf_edge.families.jcehb.model import JcehbNet
    from hbf_edge.hw.spec import HardwareSpec
    from hbf_edge.kernels import REGISTRY
    from hbf_edge.kernels._core.batching import SERIAL_BELOW
    from hbf_edge.modeldir import save_model
    from hbf_edge.modelfiles import ModelConfig

    z = JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=2)
    net = JcehbNet(z, 5, 3, "per-column", inverse)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.add_((0.3 if name.startswith("phi") else 0.05) * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    section = {"sizes": {k: getattr(z, k) for k in ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "n_users", "n_streams")},
               "pilots": 5, "hb_layers": 3, "pilot_power": "per-column", "inverse": inverse, "design": "joint",
               "snr_db": 10.0, "ssca": {}}
    config = ModelConfig("jcehb", HardwareSpec(n_antennas=8, n_rf=4, n_users=2, phase_bits=None), 8, 1,
                         family_config=section)
    save_model(net, config, tmp_path / "m")
    core, kernels = CORE.get("jcehb"), REGISTRY.get("jcehb")
    model, _ = core.load(tmp_path / "m")
    km = kernels.load(tmp_path / "m")
    for batch in (1, SERIAL_BELOW + 3):
        H = jcehb_channels(batch, z, seed=batch)
        for snr in (0.0, 20.0):
            want = core.torch_forward(model, H, snr_db=snr, noise_seed=3)
            got = kernels.forward(km, H, snr_db=snr, noise_seed=3)
            for name in ("H_hat", "F_bb", "W_bb"):
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-11)


def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys):
    H = jcehb_channels(8, JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=1), seed=1)
    nan = H.copy()
    nan[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "users.npy", np.concatenate([H, H[:, :1]], axis=1))
    np.save(tmp_path / "antennas.npy", H[..., :4])
    m = str(trained / "m")
    cases = [
        (["evaluate", m, "--channels", str(tmp_path / "nan.npy")], "NaN"),
        (["evaluate", m, "--channels", str(tmp_path / "users.npy")], "K=3"),
        (["evaluate", m, "--channels", str(tmp_path / "antennas.npy")], "N_t=4"),
        (["evaluate", m, "--rls-pilots", "2"], "below N_t^RF = 4"),
        (["evaluate", m, "--test-users", "2"], "tested on fewer"),
        (["train", "jcehb", "--out", str(tmp_path / "x"), "-K", "5"], "K N_s"),
        (["train", "jcehb", "--out", str(tmp_path / "x"), "-d", "3"], "N_r^RF >= N_s"),
        (["train", "jcehb", "--out", str(tmp_path / "x"), "--channels", str(tmp_path / "nan.npy"), *TINY], "NaN"),
        (["train", "jcehb", "--out", str(tmp_path / "x"), "-L", "0"], "--pilots"),
        (["quantize", m, "--out", str(tmp_path / "q"), "-Q", "0"], "--phase-bits"),
        (["quantize", m, "--out", str(tmp_path / "q"), "--word-bits", "4"], "--word-bits 4 leaves"),
        (["quantize", m, "--out", str(tmp_path / "q"), "--accumulator-bits", "20"], "fraction bits"),
        (["export", m, "--out", str(tmp_path / "b")], "float model"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)
    assert not (tmp_path / "x").exists()


def test_a_precision_file_sets_every_format_of_the_datapath(trained, tmp_path, capsys):
    """`hbf-edge precision template` writes the datapath's formats; an edited file reaches the
    quantized directory and the integer kernel (a narrower combiner saturates); bad files and a
    -Q for the template are refused in one line, nothing written."""
    from hbf_edge.kernels import REGISTRY

    m = str(trained / "m")
    assert main(["precision", "template", m, "--out", str(tmp_path / "pt")]) == 0
    text = (tmp_path / "pt" / "precision.toml").read_text()
    assert all(f"{name} = {{ word_bits = " in text for name in ("received", "pilot", "coef", "accumulator", "heq",
                                                                  "precoder", "combiner"))
    narrow = text.replace("combiner = { word_bits = 16, frac_bits = 12", "combiner = { word_bits = 6, frac_bits = 5")
    assert narrow != text
    (tmp_path / "narrow.toml").write_text(narrow)
    H = jcehb_channels(30, JcehbSizes(8, 4, 4, 2, 2, 1), seed=3)
    saturated = {}
    for name, precision in (("p", tmp_path / "pt"), ("narrow", tmp_path / "narrow.toml")):
        assert main(["quantize", m, "--out", str(tmp_path / name), "-Q", "4", "--method", "ptq", "--count", "10",
                     "--word-bits", "12", "--precision", str(precision), "-q"]) == 0
        q = json.loads((tmp_path / name / "config.json").read_text())["quantization"]
        assert q["precision_file"] == str(precision / "precision.toml" if name == "p" else precision)  # a folder: its file
        # the file names every format, so --word-bits 12 changes none of them
        assert q["formats"]["combiner"]["word_bits"] == (16 if name == "p" else 6)
        assert q["formats"]["heq"] == {"word_bits": 16, "frac_bits": 12, "rounding": "half_up", "saturate": True}
        saturated[name] = REGISTRY.get("jcehb").forward_hw(tmp_path / name, H, snr_db=20.0)["counters"]["output"]
    assert saturated == {"p": 0, "narrow": saturated["narrow"]} and saturated["narrow"] > 0
    # narrow words without a file: one line points to the advisor (none above: the file's formats)
    capsys.readouterr()
    assert main(["quantize", m, "--out", str(tmp_path / "w5"), "-Q", "4", "--method", "ptq", "--count", "10",
                 "--word-bits", "5", "-q"]) == 0
    warned = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "--word-bits 5" in warned[0] and "--numerical" in warned[0]
    bad = {"layers.toml": text + '\n[layers."0"]\nheq = { word_bits = 8, frac_bits = 4 }\n',
           "q.toml": text.replace("[default]", "[default]\nphase_bits = 3"),
           "unknown.toml": text.replace("[default]", "[default]\nchannel = { word_bits = 8, frac_bits = 4 }"),
           "list.json": "[1, 2]"}
    for file, content in bad.items():
        (tmp_path / file).write_text(content)
    for argv, needle in [(["precision", "template", m, "-Q", "3"], "quantize -Q"),
                         (["quantize", m, "--out", str(tmp_path / "x"), "--precision", str(tmp_path / "layers.toml")],
                          "[default] table only"),
                         (["quantize", m, "--out", str(tmp_path / "x"), "--precision", str(tmp_path / "q.toml")],
                          "-Q"),
                         (["quantize", m, "--out", str(tmp_path / "x"), "--precision", str(tmp_path / "unknown.toml")],
                          "unknown key(s) ['channel']"),
                         (["quantize", m, "--out", str(tmp_path / "x"), "--precision", str(tmp_path / "list.json")],
                          "a precision file is a table")]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("method,loss", [("qat", "network"), ("qat", "datapath"), ("qat", "words"), ("ptq", None)])
def test_quantize_puts_every_phase_on_a_q_bit_code(trained, method, loss, capsys):
    from hbf_edge.kernels import REGISTRY

    out = trained / f"q-{method}-{loss}"
    qat = ["--epochs", "1", "--train-size", "20", "--val-size", "10", "--batch-size", "10", "--qat-loss", loss]
    assert main(["quantize", str(trained / "m"), "--out", str(out), "-Q", "3", "--method", method, "--count", "10",
                 "-q", *(qat if method == "qat" else [])]) == 0
    rec = json.loads((out / "retention.json").read_text())
    assert rec["method"] == method and rec["phase_bits"] == 3 and rec["epochs"] == (1 if method == "qat" else 0)
    # which loss QAT's stage 2 scored, recorded in the report and the directory (PTQ: none)
    assert rec.get("qat_loss") == loss
    assert json.loads((out / "config.json").read_text())["quantization"].get("qat_loss") == loss
    assert rec["retention"] == pytest.approx(rec["quantized_sum_rate"] / rec["float_sum_rate"])
    # the integer datapath, scored on the same slots, at the default word lengths
    assert rec["hardware_retention"] == pytest.approx(rec["hardware_sum_rate"] / rec["quantized_sum_rate"])
    assert abs(rec["hardware_retention"] - 1) < 0.02 and sum(rec["counters"].values()) == 0
    core = CORE.get("jcehb")
    model, config = core.load(out)
    assert config.spec.phase_bits == 3 and config.quantization["method"] == method
    for name in ("phi_f", "phi_w"):
        codes = getattr(model, name).detach().numpy() * 8 / (2 * np.pi)
        np.testing.assert_allclose(codes, np.round(codes), atol=1e-9)  # code angles
        assert codes.min() >= 0 and codes.max() <= 7
    if method == "ptq":  # rounding only: the digital network is the float one's
        float_model, _ = core.load(trained / "m")
        np.testing.assert_array_equal(model.hb_b.detach().numpy(), float_model.hb_b.detach().numpy())
        assert main(["evaluate", str(out), "--count", "6", "--rls-pilots", "8", "--sca-iterations", "3", "-q"]) == 0
        res = json.loads((out / "eval" / "results.json").read_text())
        assert list(res["metrics"]["sum_rate"])[:2] == ["network", "hardware"] and "hardware" in res["metrics"]["nmse"]
        assert set(res["hardware_counters"]) == set(CORE.get("jcehb").spec.counter_sites)
        prof = trained / "qprof"
        assert main(["profile", str(out), "--batches", "2", "--repeat", "1", "--out", str(prof), "-q"]) == 0
        row = json.loads((prof / "profile.json").read_text())["measured"]["2"]
        assert set(row) == {"torch_eager", "numba_float64", "numba_hardware", "onnxruntime", "onnxruntime_int"}  # all
        for name in ("numba_hardware", "onnxruntime_int"):
            assert all(row[name][f"{s}_us_per_channel"] > 0 for s in ("cedun", "hbdun", "slot"))
        for name in ("numba_hardware", "onnxruntime_int"):
            capsys.readouterr()
            assert main(["profile", str(trained / "m"), "--backends", name, "-q"]) == 2
            assert "quantize the model first" in capsys.readouterr().err
    H = core.draw_channels(config, 3, 1)
    kernels = REGISTRY.get("jcehb")
    got = kernels.forward(kernels.load(out), H)
    want = core.torch_forward(model, H)
    np.testing.assert_allclose(got["F_bb"], want["F_bb"], atol=1e-11)


def test_the_phase_bit_study_writes_fig_12(trained, capsys):
    out = trained / "study"
    assert main(["study", "quantization", str(trained / "m"), "--out", str(out), "--bits", "1", "8", "--snr", "0",
                 "10", "--epochs", "1", "--count", "10", "-q"]) == 0
    res = json.loads((out / "study.json").read_text())
    assert set(res["ptq"]) == set(res["qat"]) == {"1", "8"} and len(res["float_retrained"]) == 2
    assert res["retention"]["ptq"]["8"] == pytest.approx(res["ptq"]["8"][1] / res["float"][1])
    assert (out / "fig12.png").stat().st_size > 0 and "Q=8" in capsys.readouterr().out


def test_the_black_box_network_trains_loads_and_is_compared(trained, tmp_path, capsys):
    """Sec. VII-A's black box: DNNs in place of CEDUN and HBDUN, trained on the rate; its model
    directory restores it exactly (batch-norm statistics included, eval mode), `evaluate --compare`
    scores it on the same slots, and the commands of the unfolded network refuse it in one line."""
    from hbf_edge.families.jcehb.blackbox import JcehbBlackBox

    bb = tmp_path / "bb"
    assert main(["train", "jcehb", "--design", "black-box", "--channels", str(trained / "ch" / "channels.npz"),
                 "--out", str(bb), *TRAIN]) == 0
    core = CORE.get("jcehb")
    model, config = core.load(bb)
    assert isinstance(model, JcehbBlackBox) and not model.training and config.family_config["design"] == "black-box"
    assert model.bb_ce[1].running_var.abs().sum() > 0 and not torch.equal(model.bb_ce[1].running_mean,
                                                                           torch.zeros_like(model.bb_ce[1].running_mean))
    H = core.draw_channels(config, 5, 3)
    a, b = core.torch_forward(model, H), core.torch_forward(core.load(bb)[0], H)  # deterministic in eval mode
    np.testing.assert_array_equal(a["F_bb"], b["F_bb"])
    F_rf = analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())[0]
    power = np.einsum("bnc,nm,bmc->bc", a["F_bb"].conj(), F_rf.conj().T @ F_rf, a["F_bb"]).real
    np.testing.assert_allclose(power.reshape(5, 2, 1).sum(-1), 1.0, rtol=1e-10)  # N_s = 1 per user, (31c)
    out = tmp_path / "e"
    assert main(["evaluate", str(trained / "m"), "--compare", str(bb), "--count", "6", "--rls-pilots", "6",
                 "--sca-iterations", "3", "--out", str(out), "-q"]) == 0
    rate = json.loads((out / "results.json").read_text())["metrics"]["sum_rate"]
    assert rate["compare:bb"][0] > 0
    for argv, needle in [(["quantize", str(bb), "--out", str(tmp_path / "q")], "black-box"),
                         (["profile", str(bb)], "black-box"),
                         (["evaluate", str(bb), "--test-users", "1"], "black-box"),
                         (["train", "jcehb", "--design", "black-box", "--inverse", "paper", "--out",
                           str(tmp_path / "x")], "do not apply")]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "q").exists() and not (tmp_path / "x").exists()


def test_one_stage_and_transfer_learning_from_a_model(trained, tmp_path):
    """Fig. 13's one-stage schedule, and fine-tuning a trained model on channels of other
    statistics (Fig. 15: 3 clusters x 3 rays over +-90 degrees)."""
    assert main(["channels", "jcehb", "--out", str(tmp_path / "mis"), "--count", "40", "--clusters", "3", "--rays",
                 "3", "--angle-range", "90", *TINY]) == 0
    ds = np.load(tmp_path / "mis" / "channels.npz", allow_pickle=True)
    assert ds["H"].shape == (40, 2, 4, 8)
    assert main(["train", "jcehb", "--out", str(tmp_path / "one"), "--design", "one-stage",
                 "--channels", str(trained / "ch" / "channels.npz"), *TRAIN]) == 0
    core = CORE.get("jcehb")
    _, config = core.load(tmp_path / "one")
    assert [h["stage"] for h in config.history] == ["one stage"] * 5  # epoch 0 and 2 + 2 epochs
    assert main(["train", "jcehb", "--out", str(tmp_path / "tl"), "--init-from", str(trained / "m"), "--design",
                 "one-stage", "--epochs", "1", "--batch-size", "10", "--ssca-iterations", "2", "-q", "--channels",
                 str(tmp_path / "mis" / "channels.npz"), "--track-every", "1"]) == 0
    _, tl = core.load(tmp_path / "tl")
    assert tl.family_config["sizes"] == config.family_config["sizes"] and tl.training["start"].startswith("model")
    # Fig. 16: the validation rate after every batch, from the old model on the new statistics (batch 0)
    track = tl.training["tracking"]
    n_batches = 2 * -(-tl.training["train_size"] // 10)  # one stage runs both stages' epochs: 2 x 1
    assert [r["batch"] for r in track["records"]] == list(range(n_batches + 1))
    assert track["records"][0]["val_loss"] == tl.history[0]["val_loss"]
    assert track["records"][-1]["val_loss"] == tl.history[-1]["val_loss"]  # the last batch ends the epoch
    assert main(["evaluate", str(tmp_path / "tl"), "--count", "4", "--rls-pilots", "6", "--sca-iterations", "2",
                 "--out", str(tmp_path / "tle"), "-q"]) == 0
    assert (tmp_path / "tle" / "fig16_tracking.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["train", "jcehb", "--out", str(tmp_path / "x"), "--init-from", str(trained / "m"), "-L", "6"]) == 2
    assert not (tmp_path / "x").exists()


def test_fewer_pilots_at_test_time_fig_14b(trained, capsys):
    """The network on its first L' pilots (CEDUN layers) equals its own estimator cut there, and
    is scored beside RLS-L' + SCA-L_h on the same slots; more pilots than it has are refused."""
    from hbf_edge.families.jcehb.evaluate import network_slot
    from hbf_edge.families.jcehb.system import pilot_noise

    out = trained / "f14"
    assert main(["evaluate", str(trained / "m"), "--count", "6", "--rls-pilots", "8", "--sca-iterations", "3",
                 "--test-pilots", "2", "3", "--out", str(out), "-q"]) == 0
    rate = json.loads((out / "results.json").read_text())["metrics"]["sum_rate"]
    assert {"network_L2", "rls2_sca2", "network_L3", "rls3_sca2"} <= set(rate)
    core = CORE.get("jcehb")
    model, config = core.load(trained / "m")
    H = core.draw_channels(config, 6, 2026)
    noise = pilot_noise(6, core.sizes(config), 8, 7)
    cut = network_slot(model, H, noise, noise_power(10.0), layers=3)
    with torch.no_grad():  # the same slots through estimate(..., 3) by hand
        He = model.equivalent(torch.from_numpy(H))
        want = model.estimate(model.observe(He, torch.from_numpy(noise), noise_power(10.0))[..., :3]).numpy()
    np.testing.assert_allclose(cut["H_hat"], want, atol=1e-12)
    W_rf = analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())[1]
    assert rate["network_L3"][0] == pytest.approx(
        sum_rate(cut["H_eq"], cut["F_bb"], cut["W_bb"], W_rf, noise_power(10.0)).mean(), rel=1e-12)
    capsys.readouterr()
    assert main(["evaluate", str(trained / "m"), "--test-pilots", "5", "-q"]) == 2
    assert "it can run on fewer, not more" in capsys.readouterr().err


def test_superframe_bundle_replays_with_codes_written_once(trained, tmp_path, capsys, monkeypatch):
    """export writes the superframe (codes once, words per slot); simulate programs every front
    end once, sees no analog write between slots, reads back every code, and scores the applied
    beams to the kernel's sum rate; a damaged or unusable bundle is refused in one line."""
    q, b = tmp_path / "q", tmp_path / "b"
    assert main(["quantize", str(trained / "m"), "--out", str(q), "-Q", "4", "--method", "ptq", "--count", "10",
                 "-q"]) == 0
    assert main(["export", str(q), "--out", str(b), "--count", "7"]) == 0
    capsys.readouterr()
    assert main(["simulate", str(b)]) == 0
    rep = json.loads((b / "sim" / "simulate.json").read_text())
    assert rep["n_beams"] == 7 and set(rep["code_mismatches"]) == {"bs", "user0", "user1"}
    assert all(v == 0 for v in rep["code_mismatches"].values())
    assert rep["analog_writes"]["superframe"] > 0 and rep["analog_writes"]["between_slots"] == 0
    assert rep["sum_rate"]["applied_mean"] == pytest.approx(rep["sum_rate"]["kernel_mean"], rel=1e-12)
    assert rep["digital_per_slot"]["words"] == 2 * (4 * 2 + 2 * 2 * 1)  # F_BB [4, 2] and W_BB [2, 2, 1], re and im
    # the kernel's words, scored by the toolkit on the same slots, are what the bundle carries
    from hbf_edge.kernels import REGISTRY

    with np.load(b / "beams.npz") as data:
        H, F_words, rate = data["H"], data["F_bb"], data["kernel_sum_rate"]
    hw = REGISTRY.get("jcehb").forward_hw(q, H)
    np.testing.assert_array_equal(F_words, hw["F_bb_words"])
    from hbf_edge.families.jcehb.system import equivalent
    np.testing.assert_allclose(rate, sum_rate(equivalent(H, hw["F_rf"], hw["W_rf"]), hw["F_bb"], hw["W_bb"],
                                              hw["W_rf"], noise_power(10.0)), rtol=1e-12)
    # model.onnx: verified at export, and it reproduces that check from the bundle's own slots
    from hbf_edge.export.jcehb.onnx_float import run_jcehb_onnx

    check = json.loads((b / "manifest.json").read_text())["verified"]["model.onnx"]
    assert check["channels"] == 7 and check["relative_difference"] <= 0.01
    with np.load(b / "beams.npz") as data:
        Y = data["Y"][..., 0] + 1j * data["Y"][..., 1]
    F, W = run_jcehb_onnx(b / "model.onnx", Y, noise_power(10.0))
    model, _ = CORE.get("jcehb").load(q)
    W_rf = analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())[1]
    He = equivalent(H, analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())[0], W_rf)
    assert sum_rate(He, F, W, W_rf, noise_power(10.0)).mean() == pytest.approx(check["sum_rate_onnx"], rel=1e-12)
    # datapath.h and the .mem files hold datapath.npz's words, every ROM, read back by the parsers
    import re

    from hbf_edge.export._core.cfiles import parse_header, parse_mem

    text = (b / "datapath.h").read_text()
    header = parse_header(text)
    bits = {name: int(n) for n, name in re.findall(r"\((\d+) bits\)[^\n]*\*/\nstatic const \w+ (\w+)\[", text)}
    assert len(header) == len(bits) == 28 and "#define HBF_JCEHB_PHASE_BITS 4" in text
    with np.load(b / "datapath.npz") as d:
        R = 2  # N_r^RF of TINY: the packing pads (17d)'s rows beyond it
        for rom, values in header.items():
            assert parse_mem((b / f"{rom}.mem").read_text(), bits[rom]) == values, rom
        assert header["jcehb_pilot_re"] == d["xr"].ravel().tolist()
        assert header["jcehb_gain_im"] == d["vgi"].ravel().tolist()
        assert header["jcehb_qw_re"] == d["ce"][14][..., :R].ravel().tolist()
        assert header["jcehb_hb_q_im"] == d["hb"][3].ravel().tolist()
        assert header["jcehb_hbs_mu"] == d["hbs"][4].ravel().tolist()
        assert header["jcehb_exp2"] == d["table"].ravel().tolist()
    # model.int.onnx: verified word for word at export, and it gives the bundle's words from its received words
    from hbf_edge.export.jcehb.onnx_int import run_jcehb_int_onnx

    check = json.loads((b / "manifest.json").read_text())["verified"]["model.int.onnx"]
    assert check["channels"] == 7 and check["words_differing_from_kernel"] == 0
    with np.load(b / "beams.npz") as data:
        F_int, W_int = run_jcehb_int_onnx(b / "model.int.onnx", data["Y_words"], check["noise_word"])
        np.testing.assert_array_equal(F_int, data["F_bb"])
        np.testing.assert_array_equal(W_int, data["W_bb"])
    # on two cores export has the integer graph traced by a second process (export._core.side; the bundle
    # writer's use of it is tested with UPGA's graphs): the same graph, nothing of the process left
    import tempfile

    from hbf_edge.export._core.side import graph_process

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "side"))
    (tmp_path / "side").mkdir()
    job = graph_process("the per-slot integer ONNX graph", "hbf_edge.export.jcehb.onnx_int:write_jcehb_int_graph", q)
    try:
        assert (job.result() / "model.int.onnx").read_bytes() == (b / "model.int.onnx").read_bytes()
    finally:
        job.close()
    assert not list((tmp_path / "side").iterdir())
    monkeypatch.undo()
    # calibration errors (spec 6.1): pilots through the calibrated front ends -> the replay under the same errors
    # scores exactly the kernel's words; the ideal bundle replayed under them is designed for other front ends
    cal, zero, bc = tmp_path / "cal" / "calibration.json", tmp_path / "zero.json", tmp_path / "bc"
    assert main(["calibration", "--out", str(cal.parent), "--phase-bits", "4", "--phase-error-deg", "20", "--seed",
                 "1"]) == 0
    zero.write_text(json.dumps({"phase_error_deg": [0.0] * 16}))
    assert main(["export", str(q), "--out", str(bc), "--count", "7", "--calibration", str(cal)]) == 0
    assert json.loads((bc / "superframe.json").read_text())["calibration"]["file"] == "calibration.json"
    capsys.readouterr()
    assert main(["simulate", str(bc), "--calibration", str(cal)]) == 0
    rep_c = json.loads((bc / "sim" / "simulate.json").read_text())
    assert rep_c["designed_through_this_calibration"] and all(v == 0 for v in rep_c["code_mismatches"].values())
    assert rep_c["sum_rate"]["applied_mean"] == pytest.approx(rep_c["sum_rate"]["kernel_mean"], rel=1e-12)
    assert main(["simulate", str(b), "--calibration", str(cal), "--out", str(tmp_path / "s2")]) == 0
    rep_i = json.loads((tmp_path / "s2" / "simulate.json").read_text())
    assert not rep_i["designed_through_this_calibration"] and "designed through other front ends" in capsys.readouterr().out
    assert rep_i["sum_rate"]["applied_mean"] != pytest.approx(rep_i["sum_rate"]["kernel_mean"], rel=1e-6)
    # superframe.json's record: a bundle from before the option (no record) replays as ideal; a bad one is refused
    import shutil

    from hbf_edge._io import sha256_file
    from hbf_edge.export._core.bundle import _manifest_digest

    for value, ok in ((None, True), (5, False)):
        edited = tmp_path / f"edited{value}"
        shutil.copytree(bc, edited)
        info = json.loads((edited / "superframe.json").read_text())
        info.pop("calibration") if value is None else info.update(calibration=value)
        (edited / "superframe.json").write_text(json.dumps(info))
        manifest = json.loads((edited / "manifest.json").read_text())
        manifest["files"]["superframe.json"] = {"sha256": sha256_file(edited / "superframe.json"),
                                                "bytes": (edited / "superframe.json").stat().st_size}
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        (edited / "manifest.json").write_text(json.dumps(manifest))
        capsys.readouterr()
        assert main(["simulate", str(edited)]) == (0 if ok else 2)
        if ok:
            assert json.loads((edited / "sim" / "simulate.json").read_text())["designed_through_this_calibration"]
        else:
            assert "calibration must be" in capsys.readouterr().err
    assert main(["export", str(q), "--out", str(tmp_path / "b0"), "--count", "7", "--calibration", str(zero)]) == 0
    with np.load(tmp_path / "b0" / "beams.npz") as data:  # zero errors: the ideal front ends
        np.testing.assert_allclose(data["kernel_sum_rate"], rate, rtol=1e-9)
    for argv, needle in [(["simulate", str(b), "--trace"], "does not apply to a superframe"),
                         (["export", str(q), "--out", str(tmp_path / "x"), "--calibration", str(tmp_path / "s2" /
                                                                                                "simulate.json")],
                          "needs 'phase_error_deg'"),
                         (["export", str(trained / "m"), "--out", str(tmp_path / "f")], "float model")]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    with np.load(b / "beams.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["codes_bs"][0, 0] ^= 1  # a flipped code: the bundle no longer matches its manifest
    np.savez(b / "beams.npz", **arrays)
    capsys.readouterr()
    assert main(["simulate", str(b)]) == 2 and "altered" in capsys.readouterr().err
