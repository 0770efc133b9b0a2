"""The online mixed-timescale scheme (Fig. 17-18): its pieces against independent computations,
and `train --online` / `evaluate` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.evaluate import evaluate_jcehb
from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.families.jcehb.baselines import ridge
from hbf_edge.families.jcehb.online import OnlineConfig, full_csi_rls, reference_rate, train_online, with_csi_error
from hbf_edge.families.jcehb.system import JcehbSizes, dft_pilots, jcehb_channels, nmse, noise_power, pilot_noise
from hbf_edge.families.jcehb.train import JcehbTrainConfig, SscaState, dft_start

SIZES = JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=1)
TINY = ["-N", "8", "--n-rf-tx", "4", "--n-rx", "4", "--n-rf-rx", "2", "-K", "2", "-d", "1"]


def test_the_csi_error_has_the_asked_nmse_and_none_is_perfect():
    H = jcehb_channels(400, SIZES, seed=1)
    assert with_csi_error(H, None, 0) is H
    for db in (-20.0, -5.0):
        E = with_csi_error(H, db, 3) - H
        nmse = np.mean(np.sum(np.abs(E) ** 2, axis=(1, 2, 3)) / np.sum(np.abs(H) ** 2, axis=(1, 2, 3)))
        assert 10 * np.log10(nmse) == pytest.approx(db, abs=0.1)
    assert np.array_equal(with_csi_error(H, -10.0, 5), with_csi_error(H, -10.0, 5))


def test_the_full_csi_rls_estimate_is_the_ridge_estimate_and_improves_with_pilots():
    """RLS on the whole N_r x N_t channel (spec 2.7): the closed-form ridge estimate from the same
    pilots and noise; its NMSE falls about 3 dB per doubling of the pilots; too few pilots refused."""
    H = jcehb_channels(40, SIZES, seed=6)
    nu = noise_power(10.0)
    est = full_csi_rls(H, SIZES, 12, nu, "per-chain", 9)
    X = dft_pilots(SIZES.n_tx, 12, "per-chain")
    Y = H @ X + np.sqrt(nu) * pilot_noise(40, SIZES, 12, 9)
    assert np.abs(est - ridge(X, Y)).max() < 1e-10 * np.abs(H).max()
    db = [10 * np.log10(nmse(full_csi_rls(H, SIZES, L, nu, "per-chain", 9), H).mean()) for L in (8, 16, 32)]
    assert 2.0 < db[0] - db[1] < 4.0 and 2.0 < db[1] - db[2] < 4.0, db
    # the per-column reading puts power 1 in a pilot, N_t times less: about 10 log10(8) dB worse
    col = 10 * np.log10(nmse(full_csi_rls(H, SIZES, 8, nu, "per-column", 9), H).mean())
    assert 7.0 < col - db[0] < 11.0
    with pytest.raises(ConfigError, match="at least N_t = 8 pilots, got 7"):
        full_csi_rls(H, SIZES, 7, nu, "per-chain", 9)


def test_the_reference_rate_is_evaluates_reference_row():
    H = jcehb_channels(30, SIZES, seed=2)
    model = JcehbNet(SIZES, 4, 2, "per-chain", "exact")
    rng = np.random.default_rng(0)
    with torch.no_grad():  # beams other than the DFT start
        model.ssca_phi_f.copy_(torch.from_numpy(rng.uniform(-np.pi, np.pi, tuple(model.ssca_phi_f.shape))))
        model.ssca_phi_w.copy_(torch.from_numpy(rng.uniform(-np.pi, np.pi, tuple(model.ssca_phi_w.shape))))
    nu = noise_power(10.0)
    res = evaluate_jcehb(model, SIZES, H, [10.0], rls_pilots=12, sca_iterations=5, noise_seed=7, progress=False)
    noise = pilot_noise(30, SIZES, 12, 7)
    ours = reference_rate(H, model.ssca_phi_f.numpy(), model.ssca_phi_w.numpy(), SIZES, noise, nu, 12, 5, "per-chain")
    assert ours == pytest.approx(res["metrics"]["sum_rate"]["rls12_sca5"][0], rel=1e-12)


def _run(H, design="joint", boost=0.0, **online):
    cfg = JcehbTrainConfig(n_pilots=4, n_hb=2, pilot_power="per-chain", inverse="exact", batch_size=10,
                           nu=noise_power(10.0), seed=3, design=design, pilot_boost_db=boost)
    settings = OnlineConfig(**{"frames": 3, "samples": 10, "epochs": 2, "ssca_iterations": 2, "reference_pilots": 8,
                               "reference_iterations": 3, **online})
    return train_online(H[:40], H[40:], SIZES, cfg, settings, progress=False), cfg, settings


def test_online_training_steps_ssca_frame_by_frame_and_scores_every_frame():
    H = jcehb_channels(60, SIZES, seed=4)
    (model, (phi_f, phi_w), record), cfg, settings = _run(H)
    assert [r["frame"] for r in record["per_frame"]] == [0, 1, 2, 3]
    assert [r["samples"] for r in record["per_frame"]] == [0, 10, 20, 30]
    # SSCA: the same steps taken by hand over the stream's mini-batches
    state = SscaState(*dft_start(SIZES), SIZES, cfg.nu, settings.ssca_eta, settings.ssca_iterations)
    for lo in range(0, 30, settings.ssca_batch):
        state.step(H[lo:lo + settings.ssca_batch])
    assert np.array_equal(phi_f, state.phases()[0]) and np.array_equal(phi_w, state.phases()[1])
    noise = pilot_noise(20, SIZES, 8, cfg.seed + 7)
    assert record["per_frame"][-1]["rls_ssca"] == reference_rate(H[40:], phi_f, phi_w, SIZES, noise, cfg.nu, 8, 3,
                                                                 "per-chain")
    assert record["per_frame"][0]["rls_ssca"] == reference_rate(H[40:], *(t.numpy() for t in dft_start(SIZES)), SIZES,
                                                                noise, cfg.nu, 8, 3, "per-chain")
    assert record["per_frame"][-1]["network"] != record["per_frame"][0]["network"]  # the network moved
    again = _run(H)[0][2]
    assert again["per_frame"] == record["per_frame"]  # seeded
    noisy = _run(H, csi_nmse_db=-3.0)[0][2]
    assert noisy["per_frame"][1]["rls_ssca"] != record["per_frame"][1]["rls_ssca"]  # the CSI error is used
    assert record["full_csi_nmse_db"] is None and noisy["full_csi_nmse_db"] == pytest.approx(-3.0, abs=0.5)
    estimated = _run(H, csi_pilots=8)[0][2]  # RLS from 8 pilots: the samples of full_csi_rls
    assert estimated["per_frame"][1]["rls_ssca"] not in (record["per_frame"][1]["rls_ssca"],
                                                         noisy["per_frame"][1]["rls_ssca"])
    frames = [full_csi_rls(H[10 * f:10 * f + 10], SIZES, 8, cfg.nu, "per-chain", cfg.seed + 1001 + f) for f in range(3)]
    want = np.mean([nmse(e, H[10 * f:10 * f + 10]).mean() for f, e in enumerate(frames)])
    assert estimated["full_csi_nmse_db"] == pytest.approx(10 * np.log10(want), abs=1e-3)
    # the full-CSI pilots are pilots too: with the pilots 20 dB above the data, 20 dB less NMSE
    boosted = _run(H, boost=20.0, csi_pilots=8)[0][2]
    assert boosted["full_csi_nmse_db"] == pytest.approx(estimated["full_csi_nmse_db"] - 20.0, abs=0.5)
    with pytest.raises(ConfigError, match="at least N_t = 8 pilots"):
        _run(H, csi_pilots=6)
    with pytest.raises(ConfigError, match="not both"):
        OnlineConfig(csi_pilots=8, csi_nmse_db=-10.0)
    with pytest.raises(ConfigError, match="needs 5 frames"):
        _run(H, frames=5)
    with pytest.raises(ConfigError, match="joint design or the black box"):
        _run(H, design="separate")
    with pytest.raises(ConfigError, match="frames"):
        OnlineConfig(frames=0)


def test_the_online_black_box_sees_the_same_frames_and_beams():
    """Fig. 18: the black box trained frame by frame; RLS-SSCA's beams and scores are the joint
    run's (the same stream), the network's are its own, and frame 0 scores a fresh black box."""
    from hbf_edge.families.jcehb.blackbox import JcehbBlackBox

    H = jcehb_channels(60, SIZES, seed=4)
    (model, phases, record), cfg, _ = _run(H, design="black-box")
    (_, phases_j, record_j), _, _ = _run(H)
    assert isinstance(model, JcehbBlackBox) and not model.training  # scored and returned in eval mode
    assert record["design"] == "black-box" and record_j["design"] == "joint"
    assert all(np.array_equal(a, b) for a, b in zip(phases, phases_j))
    assert [r["rls_ssca"] for r in record["per_frame"]] == [r["rls_ssca"] for r in record_j["per_frame"]]
    assert [r["network"] for r in record["per_frame"]] != [r["network"] for r in record_j["per_frame"]]
    assert record["per_frame"][-1]["network"] != record["per_frame"][0]["network"]  # it moved
    assert _run(H, design="black-box")[0][2]["per_frame"] == record["per_frame"]  # seeded


def test_train_online_and_evaluate_plot_fig_17(tmp_path, capsys):
    out, off = tmp_path / "on", tmp_path / "off"
    common = ["-L", "4", "-I", "2", "--batch-size", "10", "--ssca-iterations", "2", "--val-size", "12", "-q", *TINY]
    assert main(["train", "jcehb", "--out", str(out), "--online", "2", "--frame-samples", "10", "--frame-epochs", "1",
                 "--csi-pilots", "16", *common]) == 0
    said = capsys.readouterr().out
    assert "online over 2 frames of 10 samples" in said and "full-CSI samples at NMSE" in said
    config = json.loads((out / "config.json").read_text())
    online = config["training"]["online"]
    assert online["csi_pilots"] == 16 and online["full_csi_nmse_db"] < -10
    assert [r["frame"] for r in online["per_frame"]] == [0, 1, 2] and online["test_channels"] == 12
    assert config["training"]["train_size"] == 20 and config["family_config"]["ssca"]["online_frames"] == 2
    assert main(["train", "jcehb", "--out", str(off), "--train-size", "20", "--epochs", "1", *common]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--count", "10", "--compare", str(off), "-q"]) == 0
    assert (out / "eval" / "fig17_online.png").stat().st_size > 0
    assert "sum_rate.png, fig9_overhead.png, fig17_online.png" in capsys.readouterr().out
    # Fig. 18: the black box online, compared as a curve of its own
    bb = tmp_path / "bb"
    assert main(["train", "jcehb", "--out", str(bb), "--online", "2", "--frame-samples", "10", "--frame-epochs", "1",
                 "--design", "black-box", *common]) == 0
    bb_config = json.loads((bb / "config.json").read_text())
    assert bb_config["family_config"]["design"] == "black-box"
    assert bb_config["training"]["online"]["design"] == "black-box"
    assert main(["evaluate", str(out), "--count", "10", "--compare", str(bb), str(off), "-q",
                 "--out", str(tmp_path / "e18")]) == 0
    assert (tmp_path / "e18" / "fig17_online.png").stat().st_size > 0
    for argv, match in [(["--frame-samples", "20"], "applies to online"),
                        (["--online", "2", "--train-size", "30"], "--train-size does not apply"),
                        (["--online", "2", "--design", "separate"], "--design separate does not apply"),
                        (["--online", "-1"], "--online must be >= 0"),
                        (["--online", "2", "--csi-nmse", "nan"], "--csi-nmse: 'nan' is not a finite number"),
                        (["--online", "2", "--csi-pilots", "7"], "--csi-pilots must be >= N_t = 8"),
                        (["--online", "2", "--csi-pilots", "8", "--csi-nmse", "-10"], "give one"),
                        (["--csi-pilots", "8"], "--csi-pilots applies to online")]:
        assert main(["train", "jcehb", "--out", str(tmp_path / "bad"), *argv, *common]) == 2
        err = capsys.readouterr().err.strip()
        assert match in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
