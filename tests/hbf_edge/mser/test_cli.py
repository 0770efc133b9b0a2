"""MSER as a registered family: train, evaluate and profile through the CLI, its model directory,
and one-line errors on bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.families._settings import DEFAULT_TEST_SEED
from hbf_edge.families import CORE
from hbf_edge.families.mser.gd import GdSteps, dft_alignment, gd
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std

TINY = ["--n-tx", "8", "--n-rf-tx", "2", "--users", "2", "--n-rx", "2", "--n-rf-rx", "1", "--streams", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mser")
    assert main(["channels", "mser", "--out", str(root / "ch"), "--count", "40", *TINY]) == 0
    assert main(["train", "mser", "--out", str(root / "m"), "--channels", str(root / "ch" / "channels.npz"), "-I", "2",
                 "--samples", "8", "--epochs", "2", "--batch-size", "10", "-q", *TINY]) == 0
    return root


def test_the_model_directory_round_trips(trained):
    core = CORE.get("mser")
    model, config = core.load(trained / "m")
    assert config.family == "mser" and config.n_layers == 2 and config.spec.phase_bits is None
    fc = config.family_config
    assert fc["step_shape"] == "scalar" and fc["samples"] == 8 and fc["sizes"]["n_tx"] == 8
    # the network's initial steps are start_scale (default 1) times the GD steps it was tuned from
    assert fc["steps"] == fc["gd_steps"]
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == core.expected_arrays(config)
    history = config.history
    assert history[0]["epoch"] == 0 and len(history) == 3
    assert config.training["kept_epoch"] == min(history, key=lambda r: r["val_loss"])["epoch"]
    H = core.read_channels(trained / "ch" / "channels.npz", config)[:5]
    out = core.torch_forward(model, H, snr_db=10.0)
    assert out["F"].shape == (5, 8, 2) and np.allclose(np.abs(out["F"]), 1.0)
    power = np.linalg.norm(out["F"] @ out["V"], axis=(1, 2)) ** 2
    np.testing.assert_allclose(power, 1.0, rtol=1e-12)  # eq. (26)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.pop("symbol_seed"), "must hold"),
    (lambda c: c.update(candidates=[[0.0, 0.0, 0.0, 0.0]]), "come together"),
    (lambda c: c.update(step_shape="diagonal"), "step_shape"),
    (lambda c: c.update(offsets=True), "offsets needs"),
    (lambda c: c["sizes"].update(n_tx=16), "hardware spec"),
    (lambda c: c.update(samples=0), "mser.samples"),
    (lambda c: c["steps"].update(mu_p="fast"), "invalid"),
])
def test_a_tampered_mser_section_is_refused_in_one_line(trained, tmp_path, edit, match):
    import shutil

    from hbf_edge.modelfiles import ModelDirError

    d = tmp_path / "m"
    shutil.copytree(trained / "m", d)
    cfg = json.loads((d / "config.json").read_text())
    edit(cfg["family_config"])
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match=match) as err:
        CORE.get("mser").load(d)
    assert "\n" not in str(err.value)


def test_evaluate_scores_every_design_with_the_exact_ser(trained, capsys):
    out = trained / "eval"
    assert main(["evaluate", str(trained / "m"), "--count", "6", "--snr", "5", "15", "--gd-iterations", "4",
                 "--mmse-gd-iterations", "3",
                 "--out", str(out), "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["schema"].startswith("hbf-edge/evaluation/") and res["family"] == "mser"
    ser = res["metrics"]["ser"]
    assert set(ser) == {"network", "gd_2", "gd_4", "alignment", "mmse_digital", "omp_mmse", "mo_mmse",
                        "mmse_gd_3"}
    assert all(len(v) == 2 and all(0 <= x <= 1 for x in v) for v in ser.values())
    assert (out / "ser_vs_snr.png").stat().st_size > 0 and (out / "results.csv").is_file()
    # the network row against an independent computation: torch forward, numpy exact SER
    core = CORE.get("mser")
    model, config = core.load(trained / "m")
    H = core.draw_channels(config, 6, 2026)
    d = core.torch_forward(model, H, snr_db=15.0)
    want = float(np.mean(ser_semi_analytic(H, d["F"], d["V"], d["U"], d["W"], float(noise_std(15.0)))))
    assert ser["network"][1] == pytest.approx(want, rel=1e-12)
    assert res["percent_of_gd"]["gd_4 / network"][1] == pytest.approx(100 * ser["gd_4"][1] / ser["network"][1], abs=0.01)
    assert "gd_4 / network" in capsys.readouterr().out


def test_imperfect_csi_scores_designs_from_estimates_on_the_true_channels(trained):
    """Fig. 10: at error variance 0 every design is the one of the main table (same SNR); a
    large error raises the network's SER; the plot is written."""
    out = trained / "csi"
    assert main(["evaluate", str(trained / "m"), "--count", "8", "--snr", "5", "--gd-iterations", "4",
                 "--csi-error", "0", "0.5", "--csi-snr", "5", "--out", str(out), "-q"]) == 0
    res = json.loads((out / "results.json").read_text())
    csi = res["imperfect_csi"]
    assert csi["error_variance"] == [0.0, 0.5] and csi["snr_db"] == 5.0
    assert set(csi["ser"]) == set(res["metrics"]["ser"])
    for name, values in csi["ser"].items():
        assert values[0] == pytest.approx(res["metrics"]["ser"][name][0], rel=1e-12), name
    assert csi["ser"]["network"][1] > csi["ser"]["network"][0]
    assert (out / "ser_vs_csi_error.png").stat().st_size > 0
    assert main(["evaluate", str(trained / "m"), "--csi-error", "-1"]) == 2


def test_profile_times_each_layer_and_counts_its_operations(trained, capsys):
    out = trained / "prof"
    assert main(["profile", str(trained / "m"), "--batches", "1", "2", "--repeat", "1", "--out", str(out), "-q"]) == 0
    res = json.loads((out / "profile.json").read_text())
    # the defaults: every backend a float model has, each timed whole and layer by layer
    assert set(res["measured"]["2"]) == {"torch_eager", "numba_float64", "onnxruntime"}
    for name, row in res["measured"]["2"].items():
        assert row["whole_us_per_channel"] > 0
        assert len(row["layers_us_per_channel"]) == 2 and all(t > 0 for t in row["layers_us_per_channel"])
    assert main(["profile", str(trained / "m"), "--batches", "1", "--repeat", "1", "--backends", "tensorrt",
                 "--out", str(out)]) == 2
    assert res["ops_per_layer"]["complex_macs"] > 0 and res["target"]["layer"]["us"] > 0
    assert "table lookups" in capsys.readouterr().out


def test_steps_scale_with_the_noise():
    """GdSteps: given at 15 dB, multiplied by sigma / sigma_15 elsewhere; absolute when
    snr_ref_db is None (the paper's literal form)."""
    sizes = MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1)
    H = mser_channels(3, sizes, seed=5)
    rel = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2)
    sigma = float(noise_std(25.0))
    f = sigma / float(noise_std(15.0))
    assert rel.factor(float(noise_std(15.0))) == pytest.approx(1.0)
    absolute = GdSteps(mu_p=1e-3 * f, mu_w=1e-2 * f, mu_theta_u=1e-2 * f, mu_theta_f=1e-2 * f, snr_ref_db=None)
    a = gd(H, sizes, sigma, 3, rel, 8, seed=1)
    b = gd(H, sizes, sigma, 3, absolute, 8, seed=1)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
    assert absolute.factor(sigma) == 1.0 and torch.is_tensor(rel.factor(torch.ones(2)))


def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys):
    H = mser_channels(8, MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1), seed=1)
    nan = H.copy()
    nan[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "users.npy", np.concatenate([H, H[:, :1]], axis=1))  # 3 users
    np.save(tmp_path / "antennas.npy", H[..., :4])
    cases = [
        (["evaluate", str(trained / "m"), "--channels", str(tmp_path / "nan.npy")], "NaN"),
        (["evaluate", str(trained / "m"), "--channels", str(tmp_path / "users.npy")], "K=3"),
        (["evaluate", str(trained / "m"), "--channels", str(tmp_path / "antennas.npy")], "N_t=4"),
        (["evaluate", str(trained / "m"), "--gd-iterations", "2", "--out", str(tmp_path / "e")], "network's depth"),
        (["train", "mser", "--out", str(tmp_path / "x"), "--streams", "3"], "R_r >= D_k"),
        (["train", "mser", "--out", str(tmp_path / "x"), "--channels", str(tmp_path / "nan.npy"), *TINY], "NaN"),
        (["train", "mser", "--out", str(tmp_path / "x"), "--offsets"], "--step-shape matrix"),
        (["train", "mser", "--out", str(tmp_path / "x"), "--constellation", "8psk"], "invalid choice"),
        (["quantize", str(trained / "m"), "--out", str(tmp_path / "q"), "--ue-phase-bits", "0"], "1..16"),
        (["quantize", str(trained / "m"), "--out", str(tmp_path / "q"), "--word-bits", "4"], "fraction bits"),
        (["quantize", str(trained / "m"), "--out", str(tmp_path / "q"), "--refit-layers", "-1"], ">= 0"),
        (["export", str(trained / "m"), "--out", str(tmp_path / "b")], "float model"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)
    assert not (tmp_path / "x").exists() and not (tmp_path / "q").exists() and not (tmp_path / "e").exists()


def test_quantize_scores_the_integer_datapath(trained):
    """PTQ and QAT write quantized directories whose retention table holds the float network, the
    quantized network and the integer datapath; the datapath's design is the Q-bit codes and
    the words, and evaluate adds its row."""
    from hbf_edge.kernels import REGISTRY
    from hbf_edge.quant import REGISTRY as QUANT

    for method, q, refit in (("ptq", "3", 0), ("qat", "2", 3)):
        out = trained / f"q_{method}"
        qat = ["--epochs", "1", "--train-size", "20", "--val-size", "10"] if method == "qat" else []
        assert main(["quantize", str(trained / "m"), "--out", str(out), "-Q", q, "--ue-phase-bits", "5", "--method",
                     method, "--refit-layers", str(refit), *qat, "--count", "12", "--snr", "10", "-q"]) == 0
        rec = json.loads((out / "retention.json").read_text())
        assert rec["method"] == method and rec["phase_bits"] == int(q) and rec["ue_phase_bits"] == 5
        assert rec["refit_layers"] == refit
        assert set(rec["ser"]) == {"float", "quantized", "hardware"}
        assert len(rec["history"]) == (2 if method == "qat" else 0)
        model, config = QUANT.get("mser").load(out)
        assert model.refit == refit
        assert config.spec.phase_bits == int(q) and config.quantization["formats"]["internal_phase_bits"] == 10
        H = mser_channels(4, MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1), seed=3)
        hw = REGISTRY.get("mser").forward_hw(out, H, snr_db=10.0)
        assert hw["F_codes"].max() < 2 ** int(q) and hw["U_codes"].max() < 32 and hw["U_codes"].shape == (4, 2, 1, 2)
        np.testing.assert_allclose(hw["F"], np.exp(2j * np.pi * hw["F_codes"] / 2 ** int(q)))
        np.testing.assert_allclose(np.linalg.norm(hw["F"] @ hw["V"], axis=(1, 2)) ** 2, 1.0, atol=5e-3)
    assert main(["evaluate", str(trained / "q_ptq"), "--count", "6", "--snr", "10", "--gd-iterations", "4",
                 "--out", str(trained / "qe"), "-q"]) == 0
    res = json.loads((trained / "qe" / "results.json").read_text())
    assert "hardware" in res["metrics"]["ser"] and len(res["metrics"]["ser"]["hardware"]) == 1
    # the profile of a quantized directory adds the integer datapath (whole forward and each of its L + refit
    # iterations); a float one skips it
    assert main(["profile", str(trained / "q_qat"), "--batches", "2", "--repeat", "1", "--out",
                 str(trained / "qp"), "-q"]) == 0
    prof = json.loads((trained / "qp" / "profile.json").read_text())
    hw = prof["measured"]["2"]["numba_hardware"]
    assert hw["refit_layers"] == 3 and "note" in prof
    assert len(hw["layers_us_per_channel"]) == prof["layers"] + 3 and all(t > 0 for t in hw["layers_us_per_channel"])
    assert prof["measured"]["2"]["onnxruntime_int"]["whole_us_per_channel"] > 0  # the integer graph, whole
    assert main(["profile", str(trained / "m"), "--batches", "1", "--repeat", "1", "--backends", "numba_hardware",
                 "onnxruntime_int", "--out", str(trained / "qp2"), "-q"]) == 0
    skipped = json.loads((trained / "qp2" / "profile.json").read_text())["skipped"]
    assert all("quantize it first" in skipped[name] for name in ("numba_hardware", "onnxruntime_int"))


def test_tiny_settings_train():
    tiny = CORE.get("mser").spec.tiny()
    assert dataclasses.replace(tiny, out=tiny.out).sizes().n_total_streams == 2
    assert dft_alignment(mser_channels(2, tiny.sizes(), seed=0), tiny.sizes()).F.shape == (2, 8, 2)


@pytest.mark.parametrize("shape,constellation,cand,odd", [("scalar", "qpsk", False, False),
                                                          ("matrix", "qpsk", False, False),
                                                          ("matrix", "16qam", False, False),
                                                          ("scalar", "qpsk", True, False),
                                                          ("matrix", "16qam", True, False),
                                                          ("matrix", "qpsk", False, True),
                                                          ("matrix", "16qam", True, True)])
def test_the_float_kernel_equals_the_torch_network(shape, constellation, cand, odd, tmp_path):
    """kernels.mser against torch, on a network whose parameters are all moved off their
    initial values (steps, offsets, widths), at two SNRs and for a layer range; QPSK and
    16-QAM (whose weights read the desired gains, kernels.mser._float_kde._weights_qam); with
    candidate layers (kernels.mser._cand: the choice per channel and the score); ``odd``: sizes
    that are no multiple of the vector sums' lanes (kernels._core.simd: D = 3, R_t = 3, N_r = 5),
    so every padded work array has a tail."""
    from hbf_edge.families.mser.candidates import grid_table
    from hbf_edge.kernels import REGISTRY
    from hbf_edge.kernels._core.batching import SERIAL_BELOW
    from hbf_edge.kernels.mser.forward import mser_forward
    from hbf_edge.families.mser.model import MserNet
    from hbf_edge.hw.spec import HardwareSpec
    from hbf_edge.modeldir import save_model
    from hbf_edge.modelfiles import ModelConfig

    sizes = (MserSizes(n_tx=6, n_rf_tx=3, n_users=3, n_rx=5, n_rf_rx=1, n_streams=1, constellation=constellation)
             if odd else
             MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2, constellation=constellation))
    steps = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=5e-2)
    table = grid_table("line", (16.0, 1 / 16, 1.0, 4.0)) if cand else None
    net = MserNet(sizes, 3, steps, n_samples=16, seed=4, step_shape=shape, offsets=shape == "matrix",
                  candidates=table, score_samples=32)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    section = {"sizes": {k: getattr(sizes, k) for k in ("n_tx", "n_rf_tx", "n_users", "n_rx", "n_rf_rx", "n_streams",
                                                         "constellation")},
               "steps": dataclasses.asdict(steps), "gd_steps": dataclasses.asdict(steps), "samples": 16,
               "step_shape": shape, "offsets": shape == "matrix", "symbol_seed": 4}
    if cand:
        section.update(candidates=table.tolist(), score_samples=32)
    config = ModelConfig("mser", HardwareSpec(n_antennas=sizes.n_tx, n_rf=sizes.n_rf_tx, n_users=sizes.n_users,
                                              phase_bits=None), 3, 1,
                         family_config=section)
    save_model(net, config, tmp_path / "m")
    core, kernels = CORE.get("mser"), REGISTRY.get("mser")
    model, _ = core.load(tmp_path / "m")
    km = kernels.load(tmp_path / "m")
    for batch in (1, SERIAL_BELOW + 3):  # the serial and the parallel driver
        H = mser_channels(batch, sizes, seed=batch)
        for snr in (5.0, 25.0):
            want = core.torch_forward(model, H, snr_db=snr)
            got = kernels.forward(km, H, snr_db=snr)
            for name in "FVUW":
                # 1e-10, not 1e-12: in one CI run the 16-QAM case at 25 dB differed by 1.3e-12
                # in two entries of U (the summation orders of torch and the kernel differ, and
                # the 16-QAM weights amplify them at high SNR); a wrong formula is off by far more.
                # Candidate layers take steps up to 256x larger, which amplify them from layer to
                # layer (16-QAM at 25 dB: 1.6e-10 here, 2.6e-8 in a CI run); each candidate layer
                # alone is checked at 1e-10 below, from torch's own input to it
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6 if cand else 1e-10)
    if cand:  # layer by layer from the same input: the same choice per channel, to 1e-10
        H = mser_channels(SERIAL_BELOW + 3, sizes, seed=3)
        sigma = float(noise_std(25.0))
        with torch.no_grad():
            Ht, s = torch.from_numpy(H), torch.full((len(H),), sigma, dtype=torch.float64)
            d = [torch.from_numpy(x) for x in dft_alignment(H, sizes)]
            score = model.score(Ht, d, s)
            for i in range(3):
                got = mser_forward(H, tuple(x.numpy() for x in d), sigma, km, (i, i + 1))
                d, score = model.candidate_layer(i, Ht, d, s, score)
                for a, b in zip(got, d):
                    np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-10)
    # a layer range from a given design equals torch's layers from it
    H = mser_channels(2, sizes, seed=9)
    sigma = float(noise_std(10.0))
    start = dft_alignment(H, sizes)
    with torch.no_grad():
        d = [torch.from_numpy(x) for x in start]
        s = torch.full((2,), sigma, dtype=torch.float64)
        Ht = torch.from_numpy(H)
        if cand:
            score = model.score(Ht, d, s)
            for i in (0, 1):
                d, score = model.candidate_layer(i, Ht, d, s, score)
        else:
            d = model.layer(1, Ht, model.layer(0, Ht, d, s), s)
    mid = mser_forward(H, start, sigma, km, (0, 2))
    for a, b in zip(mid, d):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)


def test_the_kernel_refuses_bad_arrays(trained):
    from hbf_edge.errors import ConfigError, InvalidChannelError, ShapeError
    from hbf_edge.kernels.mser.forward import load_mser, mser_forward

    km = load_mser(trained / "m")
    sizes = MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1)
    H = mser_channels(2, sizes, seed=1)
    start = dft_alignment(H, sizes)
    with pytest.raises(ShapeError):
        mser_forward(H[:, :1], start, 0.1, km)
    with pytest.raises(ShapeError):
        mser_forward(H, (start[0][:, :4], *start[1:]), 0.1, km)
    bad = H.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(InvalidChannelError):
        mser_forward(bad, start, 0.1, km)
    with pytest.raises(ConfigError):
        mser_forward(H, start, 0.0, km)
    with pytest.raises(ConfigError):
        mser_forward(H, start, 0.1, km, (1, 5))


def test_the_mmse_gd_start_is_recorded_and_used_by_every_stage(tmp_path):
    """--start mmse-gd: the directory records it; torch and the float kernel run from it (the same
    design); the integer datapath runs from it; a directory without the record (before the
    option) starts from the alignment."""
    from hbf_edge.families.mser.start import design_start
    from hbf_edge.kernels import REGISTRY

    root = tmp_path
    assert main(["train", "mser", "--out", str(root / "g"), "-I", "2", "--samples", "8", "--epochs", "1",
                 "--train-size", "20", "--val-size", "10", "--batch-size", "10", "--start", "mmse-gd",
                 "--start-iterations", "3", "-q", *TINY]) == 0
    core, kernels = CORE.get("mser"), REGISTRY.get("mser")
    model, config = core.load(root / "g")
    assert config.family_config["start"] == {"kind": "mmse-gd", "iterations": 3} and model.start["kind"] == "mmse-gd"
    H = mser_channels(4, MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1), seed=5)
    torch_design = core.torch_forward(model, H, snr_db=10.0)
    kernel_design = kernels.forward(kernels.load(root / "g"), H, snr_db=10.0)
    for k in "FVUW":
        np.testing.assert_allclose(torch_design[k], kernel_design[k], atol=1e-10)
    sizes = core.sizes(config)
    start = design_start(H, sizes, float(noise_std(10.0)), model.start)
    assert not np.allclose(start.F, dft_alignment(H, sizes).F)  # the MMSE-based GD moved the phases
    assert main(["quantize", str(root / "g"), "--out", str(root / "gq"), "--method", "ptq", "--count", "4",
                 "--snr", "10", "-q"]) == 0
    session = kernels.session_hw(root / "gq", H, snr_db=10.0)
    assert session.start[0].shape == (4, 8, 2)
    # evaluate adds GD from the network's own start (the fair comparison)
    assert main(["evaluate", str(root / "g"), "--count", "4", "--snr", "10", "--gd-iterations", "3",
                 "--mmse-gd-iterations", "0", "--out", str(root / "ge"), "-q"]) == 0
    res = json.loads((root / "ge" / "results.json").read_text())
    assert "gd_3_from_start" in res["metrics"]["ser"] and "gd_3_from_start / network" in res["percent_of_gd"]
    # ... with GD-T's steps tuned from that start (the same search; the model's GD-L steps are tuned
    # from the alignment at training, as for any start)
    from hbf_edge.families.mser.evaluate import GD_SEED, TUNE_CHANNELS, TUNE_SEED
    from hbf_edge.families.mser.gd import tune_steps

    sigma15 = float(noise_std(15.0))
    _, H_val, _ = core.training_channels(None, sizes, 20, 10, config.training["seed"])
    want, _ = tune_steps(H_val, sizes, sigma15, 2, n_samples=8, seed=config.training["seed"] + 1)
    assert GdSteps(**config.family_config["gd_steps"]) == want
    H_tune = mser_channels(TUNE_CHANNELS, sizes, seed=TUNE_SEED)
    tuned, _ = tune_steps(H_tune, sizes, sigma15, 3, start=want, n_samples=8, seed=1, sweeps=1,
                          design=design_start(H_tune, sizes, sigma15, model.start))
    got = res["gd"]["steps_from_start_at_15db"]
    assert got == {k: getattr(tuned, k) for k in ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f")}
    H_e = core.draw_channels(config, 4, DEFAULT_TEST_SEED)
    sigma10 = float(noise_std(10.0))
    d = gd(H_e, sizes, sigma10, 3, tuned, 8, seed=GD_SEED, start=design_start(H_e, sizes, sigma10, model.start))
    assert res["metrics"]["ser"]["gd_3_from_start"][0] == pytest.approx(
        float(np.mean(ser_semi_analytic(H_e, *d, sigma10))), rel=1e-12)
    # a directory written before the option has no start record: the alignment
    cfg = json.loads((root / "g" / "config.json").read_text())
    del cfg["family_config"]["start"]
    (root / "g" / "config.json").write_text(json.dumps(cfg))
    old, _ = core.load(root / "g")
    assert old.start is None and kernels.load(root / "g").start is None
    assert main(["train", "mser", "--out", str(root / "x"), "--start", "mmse-gd", "--start-iterations", "0"]) == 2


def test_a_16qam_network_trains_evaluates_and_profiles_in_torch(tmp_path, capsys):
    """Sec. V-F through the CLI: the model directory records the constellation, evaluate scores
    every row with the 16-QAM SER (GD in the numpy loop), profile times torch, the float kernel
    and the ONNX graph; export refuses the float model in one line (quantize, export and simulate of a
    16-QAM model: tests/firmware_sim/test_transceiver.py)."""
    m = tmp_path / "m16"
    assert main(["train", "mser", "--out", str(m), "--constellation", "16qam", "-I", "2", "--samples", "8",
                 "--epochs", "1", "--train-size", "20", "--val-size", "10", "--batch-size", "10", "--tune-snr", "25",
                 "-q", *TINY]) == 0
    model, config = CORE.get("mser").load(m)
    assert config.family_config["sizes"]["constellation"] == "16qam" and model.sizes.constellation == "16qam"
    # the GD steps were tuned at --tune-snr: the same search on the same validation channels
    from hbf_edge.families.mser.gd import tune_steps

    _, H_val, _ = CORE.get("mser").training_channels(None, model.sizes, 20, 10, config.training["seed"])
    steps, _ = tune_steps(H_val, model.sizes, float(noise_std(25.0)), 2, n_samples=8, seed=config.training["seed"] + 1)
    assert config.training["gd_steps_tuned_at_db"] == 25.0
    assert config.family_config["gd_steps"]["mu_theta_f"] == steps.mu_theta_f
    assert GdSteps(**config.family_config["gd_steps"]) == steps
    assert np.all(np.isin(model.symbol_set(0).numpy().real, [-3, -1, 1, 3]))
    assert main(["evaluate", str(m), "--count", "6", "--snr", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "e"), "--gd-steps", "1e-4", "2e-3", "0.05", "0.2", "-q"]) == 0
    res = json.loads((tmp_path / "e" / "results.json").read_text())
    sizes = MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1, constellation="16qam")
    H = CORE.get("mser").draw_channels(config, 6, DEFAULT_TEST_SEED)
    sigma = float(noise_std(25.0))
    assert res["metrics"]["ser"]["alignment"][0] == pytest.approx(
        float(np.mean(ser_semi_analytic(H, *dft_alignment(H, sizes), sigma, "16qam"))), rel=1e-12)
    # the long GD ran with the given steps, untuned
    from hbf_edge.families.mser.evaluate import GD_SEED

    assert res["gd"]["tuned_on"] == "not tuned: given" and res["gd"]["steps_at_15db"]["mu_theta_f"] == 0.2
    given = gd(H, sizes, sigma, 4, GdSteps(1e-4, 2e-3, 0.05, 0.2), 8, seed=GD_SEED)
    assert res["metrics"]["ser"]["gd_4"][0] == pytest.approx(
        float(np.mean(ser_semi_analytic(H, *given, sigma, "16qam"))), rel=1e-12)
    assert "numba" in res["cpu_timed_in"]
    # --gd-keep-best: the long GD keeps each channel's best checkpoint (never above the alignment)
    assert main(["evaluate", str(m), "--count", "6", "--snr", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "ek"), "--gd-steps", "1e-4", "2e-3", "0.05", "0.2", "--gd-keep-best", "2",
                 "--mmse-gd-iterations", "0", "-q"]) == 0
    kept = json.loads((tmp_path / "ek" / "results.json").read_text())
    best = gd(H, sizes, sigma, 4, GdSteps(1e-4, 2e-3, 0.05, 0.2), 8, seed=GD_SEED, keep_best=2)
    assert kept["gd"]["keep_best_every"] == 2 and kept["metrics"]["ser"]["gd_4"][0] == pytest.approx(
        float(np.mean(ser_semi_analytic(H, *best, sigma, "16qam"))), rel=1e-12)
    assert kept["metrics"]["ser"]["gd_4"][0] <= kept["metrics"]["ser"]["alignment"][0]
    capsys.readouterr()
    assert main(["evaluate", str(m), "--count", "6", "--gd-keep-best", "-1", "--out", str(tmp_path / "ebad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gd-keep-best" in err[0] and not (tmp_path / "ebad").exists()
    # tuned at --gd-tune-snr with --gd-tune-sweeps: the same search as evaluate's module
    from hbf_edge.families.mser.evaluate import TUNE_CHANNELS, TUNE_SEED

    assert main(["evaluate", str(m), "--count", "6", "--snr", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "e2"), "--gd-tune-snr", "25", "--gd-tune-sweeps", "2", "--mmse-gd-iterations", "0",
                 "-q"]) == 0
    tuned = json.loads((tmp_path / "e2" / "results.json").read_text())["gd"]
    ref, _ = tune_steps(mser_channels(TUNE_CHANNELS, sizes, seed=TUNE_SEED), sizes, sigma, 4,
                        start=GdSteps(**config.family_config["gd_steps"]), n_samples=8, seed=1, sweeps=2)
    assert tuned["steps_at_15db"] == {k: getattr(ref, k) for k in ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f")}
    assert tuned["tuned_on"].endswith("at 25 dB, 2 sweep(s)")
    # --gd-tune-each: one search per evaluated SNR, each SNR's long GD with its own steps
    assert main(["evaluate", str(m), "--count", "6", "--snr", "10", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "e3"), "--gd-tune-each", "--mmse-gd-iterations", "0", "-q"]) == 0
    each = json.loads((tmp_path / "e3" / "results.json").read_text())
    assert each["gd"]["tuned_on"].endswith("at every SNR, 1 sweep(s)") and "steps_at_15db" not in each["gd"]
    for i, snr in enumerate((10.0, 25.0)):
        sig = float(noise_std(snr))
        ref, _ = tune_steps(mser_channels(TUNE_CHANNELS, sizes, seed=TUNE_SEED), sizes, sig, 4,
                            start=GdSteps(**config.family_config["gd_steps"]), n_samples=8, seed=1, sweeps=1)
        assert each["gd"]["steps_by_snr"][i] == {"snr_db": snr, **{k: getattr(ref, k) for k in
                                                                   ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f")}}
        d = gd(H, sizes, sig, 4, ref, 8, seed=GD_SEED)
        assert each["metrics"]["ser"]["gd_4"][i] == pytest.approx(
            float(np.mean(ser_semi_analytic(H, *d, sig, "16qam"))), rel=1e-12)
    # imperfect CSI at an evaluated SNR takes that SNR's tuned steps: its zero-error GD row is the table's
    assert main(["evaluate", str(m), "--count", "6", "--snr", "10", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "e5"), "--gd-tune-each", "--mmse-gd-iterations", "0", "--csi-error", "0",
                 "--csi-snr", "25", "-q"]) == 0
    csi = json.loads((tmp_path / "e5" / "results.json").read_text())["imperfect_csi"]
    assert csi["ser"]["gd_4"][0] == pytest.approx(each["metrics"]["ser"]["gd_4"][1], rel=1e-12)
    # --gd-tune-min-gain: each accepted move lowers the tuning SER by more than that fraction
    assert main(["evaluate", str(m), "--count", "6", "--snr", "25", "--gd-iterations", "4", "--out",
                 str(tmp_path / "e6"), "--gd-tune-snr", "25", "--gd-tune-min-gain", "0.2", "--mmse-gd-iterations",
                 "0", "-q"]) == 0
    g6 = json.loads((tmp_path / "e6" / "results.json").read_text())["gd"]
    ref, moves = tune_steps(mser_channels(TUNE_CHANNELS, sizes, seed=TUNE_SEED), sizes, sigma, 4,
                            start=GdSteps(**config.family_config["gd_steps"]), n_samples=8, seed=1, sweeps=1,
                            min_gain=0.2)
    assert g6["steps_at_15db"] == {k: getattr(ref, k) for k in ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f")}
    assert g6["accepted_moves"] == len(moves) - 1 and "more than 0.2 of it" in g6["tuned_on"]
    assert all(b["ser"] < 0.8 * a["ser"] for a, b in zip(moves, moves[1:]))
    capsys.readouterr()
    assert main(["evaluate", str(m), "--count", "6", "--gd-tune-min-gain", "0.1", "--gd-steps", "1e-4", "2e-3",
                 "0.05", "0.2", "--out", str(tmp_path / "e7")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gd-tune-min-gain" in err[0] and not (tmp_path / "e7").exists()
    for bad in (["--gd-tune-snr", "25"], ["--gd-steps", "1e-4", "2e-3", "0.05", "0.2"]):
        capsys.readouterr()
        assert main(["evaluate", str(m), "--count", "6", "--gd-tune-each", *bad, "--out", str(tmp_path / "e4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--gd-tune-each" in err[0] and not (tmp_path / "e4").exists()
    assert main(["profile", str(m), "--batches", "1", "--repeat", "1", "--out", str(tmp_path / "p"), "-q"]) == 0
    measured = json.loads((tmp_path / "p" / "profile.json").read_text())["measured"]["1"]
    assert set(measured) == {"torch_eager", "numba_float64", "onnxruntime"}  # the graph has 16-QAM's weights
    capsys.readouterr()
    assert main(["export", str(m), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "float model" in err[0], err
    assert not (tmp_path / "b").exists()


def test_a_precision_file_sets_every_format_of_the_datapath(trained, tmp_path, capsys):
    """`hbf-edge precision template` writes the seven formats; an edited file reaches the
    quantized directory and the integer kernel (4-bit V words change the design); a -Q for the
    template is refused in one line."""
    from hbf_edge.kernels import REGISTRY

    m = str(trained / "m")
    assert main(["precision", "template", m, "--out", str(tmp_path / "pt")]) == 0
    text = (tmp_path / "pt" / "precision.toml").read_text()
    assert all(f"{name} = {{ word_bits = " in text for name in ("channel", "lut", "accumulator", "step", "kernel",
                                                                  "precoder", "combiner"))
    narrow = text.replace("precoder = { word_bits = 16, frac_bits = 14", "precoder = { word_bits = 4, frac_bits = 3")
    assert narrow != text
    (tmp_path / "narrow.toml").write_text(narrow)
    H = mser_channels(6, MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1), seed=3)
    hw = {}
    for name, precision in (("p", tmp_path / "pt"), ("narrow", tmp_path / "narrow.toml")):
        assert main(["quantize", m, "--out", str(tmp_path / name), "--method", "ptq", "--count", "6", "--snr", "10",
                     "--precision", str(precision), "-q"]) == 0
        q = json.loads((tmp_path / name / "config.json").read_text())["quantization"]
        assert q["precision_file"].endswith(".toml")
        assert q["formats"]["precoder"]["word_bits"] == (16 if name == "p" else 4)
        hw[name] = REGISTRY.get("mser").forward_hw(tmp_path / name, H, snr_db=10.0)
    assert not np.array_equal(hw["p"]["V_words"], hw["narrow"]["V_words"])
    assert np.abs(hw["narrow"]["V_words"]).max() < 8 < np.abs(hw["p"]["V_words"]).max()  # 4-bit words
    capsys.readouterr()
    assert main(["precision", "template", m, "-Q", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "quantize -Q" in err[0]
