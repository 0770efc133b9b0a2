"""The full-batch finish above the start (hbf_edge/families/upga/refine.py)."""

import numpy as np
import pytest
import torch

from hbf_edge import ConfigError, cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.families.upga.model import UPGA
from hbf_edge.families.upga.config import UpgaTrain, refine_between
from hbf_edge.families.upga.refine import _with_between, refine_above_start
from hbf_edge.training import TrainConfig, train_upga, train_upganet
from hbf_edge.units import snr_db_to_power

SMALL = dict(n_antennas=16, n_rf=4, n_users=4, n_layers=3, train_size=40, epochs=2, batch_size=10)


def _curve(model, H, snr_db):
    """Mean sum rate of the start and of every layer, from the model's own forward."""
    Hc = cplx.from_complex(torch.from_numpy(H))
    p = torch.from_numpy(snr_db_to_power(np.full(H.shape[0], snr_db)))
    with torch.no_grad():
        _, rates = model.run(Hc, p, torch.ones_like(p), trajectory=True)
    return torch.stack(rates).mean(1).numpy()


def test_the_refinement_lifts_a_layer_that_fell_below_the_start():
    H = saleh_valenzuela_miso(40, 16, 4, seed=3)
    config = TrainConfig(**SMALL, snr_db_min=20.0, snr_db_max=20.0, refine_above_start=0.2)
    model = UPGA(3, 1, 4)
    with torch.no_grad():
        model.mu[0, 0] = 0.5  # a first step far too long: layer 1 ends below the start
        model.lam[:] = 1e-3
    before = _curve(model, H, 20.0)
    assert before[1] < before[0]
    record = refine_above_start(model, H, config, progress=False)
    after = _curve(model, H, 20.0)
    # the penalty is soft (rho = 1 in its last stage): allow a few hundredths below the margin
    assert (after[1:] - after[0]).min() >= 0.2 - 0.05
    assert bool((model.mu > 0).all()) and bool((model.lam > 0).all())
    assert record["refine"] == "lbfgs" and record["iterations"] > 0
    assert record["rate_last"] == pytest.approx(after[-1], rel=1e-12)
    assert record["lowest_layer_minus_start"] == pytest.approx((after[1:] - after[0]).min(), abs=1e-12)


def test_the_refinement_at_several_snrs_keeps_each_curve_above_its_start():
    H = saleh_valenzuela_miso(40, 16, 4, seed=3)
    config = TrainConfig(**SMALL, snr_db_min=20.0, snr_db_max=20.0, refine_above_start=0.05, refine_snrs=(5.0, 20.0))
    model = UPGA(3, 1, 4)
    with torch.no_grad():
        model.mu[0, 0] = 0.5
        model.lam[:] = 1e-3
    assert min(_curve(model, H, s)[1] - _curve(model, H, s)[0] for s in (5.0, 20.0)) < 0
    record = refine_above_start(model, H, config, progress=False)
    for snr in (5.0, 20.0):  # each SNR's own curve, from the model's forward: no layer below its start
        after = _curve(model, H, snr)
        assert (after[1:] - after[0]).min() >= 0
        mine = record["per_snr"][f"{snr:g}"]
        assert mine["rate_last"] == pytest.approx(after[-1], rel=1e-12)
        assert mine["lowest_layer_minus_start"] == pytest.approx((after[1:] - after[0]).min(), abs=1e-12)
    assert record["rate_last"] == pytest.approx(np.mean([_curve(model, H, s)[-1] for s in (5.0, 20.0)]), rel=1e-12)


def test_between_the_knots_the_finish_scores_each_gap_too():
    assert _with_between((6.0, -10.0, 0.0), 1) == (-10.0, -5.0, 0.0, 3.0, 6.0)
    assert _with_between((0.0, 6.0), 2) == pytest.approx((0.0, 2.0, 4.0, 6.0))
    assert _with_between((6.0, 0.0), 0) == (6.0, 0.0)
    H = saleh_valenzuela_miso(40, 16, 4, seed=3)
    runs = {}
    for between in (0, 1):
        config = TrainConfig(**SMALL, snr_db_min=20.0, snr_db_max=20.0, refine_above_start=0.05,
                             refine_snrs=(5.0, 20.0), snr_steps="table", refine_between=between)
        model = UPGA(3, 1, 4, snr_law=config.snr_law)
        with torch.no_grad():
            model.mu[0, 0] = 5.0  # too long at every SNR of the range: layer 1 below the start
            model.lam[:] = 1e-3
        assert all(_curve(model, H, snr)[1] < _curve(model, H, snr)[0] for snr in (5.0, 12.5, 20.0))
        runs[between] = (model, refine_above_start(model, H, config, progress=False))
    model, record = runs[1]
    assert list(record["per_snr"]) == ["5", "12.5", "20"]
    for snr in (5.0, 12.5, 20.0):  # the midpoint's curve too, from the model's forward
        after = _curve(model, H, snr)
        assert (after[1:] - after[0]).min() >= 0
        assert record["per_snr"][f"{snr:g}"]["rate_last"] == pytest.approx(after[-1], rel=1e-12)
    # after the knot-by-knot pass (the shared steps fixed there) a joint pass moved them
    knots_only = runs[0][0]
    assert list(runs[0][1]["per_snr"]) == ["5", "20"]
    assert not torch.equal(model.mu, knots_only.mu)
    torch.testing.assert_close(knots_only.mu[1:], torch.full_like(knots_only.mu[1:], 0.01), rtol=1e-14, atol=0)


def test_the_cli_default_scores_midpoints_for_a_step_table_only():
    table = UpgaTrain(out="m", snr_steps="table", refine_above_start=0.3, refine_snrs=[0.0, 10.0])
    assert refine_between(table) == 2
    assert refine_between(UpgaTrain(out="m", refine_above_start=0.3, refine_snrs=[0.0, 10.0])) == 0
    assert refine_between(UpgaTrain(out="m", snr_steps="table", snr_knots=[0.0, 10.0])) == 0  # no finish SNRs
    assert refine_between(UpgaTrain(out="m", snr_steps="table", refine_above_start=0.3, refine_snrs=[0.0, 10.0],
                                    refine_between=0)) == 0


def test_training_with_the_refinement_is_reproducible_and_recorded():
    cfg = TrainConfig(**SMALL, seed=5, layer_loss="last", refine_above_start=0.1)
    m1, mc1 = train_upga(cfg, progress=False)
    m2, _ = train_upga(cfg, progress=False)
    assert torch.equal(m1.mu, m2.mu) and torch.equal(m1.lam, m2.lam)
    assert [("epoch" in h, "refine" in h) for h in mc1.history] == [(True, False)] * 2 + [(False, True)]
    assert mc1.training["refine_above_start"] == 0.1


@pytest.mark.parametrize("bad", [dict(refine_above_start=-0.1), dict(refine_above_start=float("nan")),
                                 dict(refine_above_start=0.5, steps="absolute"), dict(refine_snrs=(0.0, 6.0)),
                                 dict(refine_above_start=0.5, refine_snrs=(0.0, float("inf"))),
                                 dict(refine_above_start=0.5, refine_snrs=(0.0, 6.0), refine_between=-1),
                                 dict(refine_above_start=0.5, refine_snrs=(6.0, 6.0), refine_between=1),
                                 dict(refine_above_start=0.5, refine_between=1)])
def test_bad_refinement_settings(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_upganet_refuses_the_refinement():
    with pytest.raises(ConfigError, match="UPGA"):
        train_upganet(TrainConfig(**SMALL, refine_above_start=0.5), scenario=None, progress=False)


@pytest.mark.parametrize("argv", [["--refine-above-start", "-1"], ["--refine-above-start", "0.5", "--steps", "absolute"],
                                  ["--refine-snrs", "0", "6"], ["--refine-between", "1"],
                                  ["--refine-above-start", "0.1", "--refine-snrs", "0", "6", "--refine-between", "-2"]])
def test_the_cli_refuses_a_bad_refinement_in_one_line(tmp_path, capsys, argv):
    from hbf_edge.cli import main

    assert main(["train", "upga", "--out", str(tmp_path / "m"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--refine-" in err[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.slow  # 7-14 minutes on one core: the README's 12 dB model of issue 19, trained and evaluated
def test_the_12_db_model_beats_pga100_with_every_layer_above_the_start():
    """The README's claim, not one host's margin: the trained figure depends on the host's rounding
    (torch's and BLAS's vector paths).  29.808 on the Intel Xeon; 29.7554 (two torch threads) and
    29.7559 (one) on the Zen 3 EPYC, where the commit that added this test gives the same bits, so
    the difference is the host's, not a change of code (2026-12-07).  The test asked for 0.05
    above PGA-100 until then, which only the Xeon's model met."""
    from hbf_edge.families.upga.evaluate import evaluate

    cfg = TrainConfig(channel_scale="authors", snr_db_min=12.0, snr_db_max=12.0, epochs=100, lr=1.0,
                      layer_loss="ramp", refine_above_start=0.5)
    model, _ = train_upga(cfg, progress=False)
    H = saleh_valenzuela_miso(1000, 64, 4, 10, seed=2026, scale="authors")
    results, _ = evaluate(model, H, [12.0], progress=False)
    rate = results["sum_rate"]
    assert rate["upga"][0] > rate["pga100"][0]  # README: 29.808 (Xeon), 29.755 (Zen 3) against 29.710
    assert results["layer_summary"]["12"]["lowest_layer_minus_start"] > 0.5  # README: +1.39 (Xeon), +1.86 (Zen 3, one thread)


def test_the_training_snr_range_covers_the_finish_snrs():
    from types import SimpleNamespace

    from hbf_edge.families._miso import training_snr_db

    def rng(**training):
        return training_snr_db(SimpleNamespace(training={"snr_db_min": 12.0, "snr_db_max": 12.0, **training}))

    assert rng() == (12.0, 12.0)
    assert rng(refine_snrs=[0.0, 6.0, 12.0]) == (0.0, 12.0) == rng(refine_snrs=(0.0, 6.0))
    assert rng(refine_snrs=[20.0]) == (12.0, 20.0)
    assert rng(refine_snrs=None) == rng(refine_snrs=["x"]) == (12.0, 12.0)  # nothing usable recorded


def test_a_call_that_leaves_the_objective_non_finite_is_undone():
    """The finish's L-BFGS stages keep the last finite state (a twelve-knot table's finish once
    ended with an infinite log-gain, which the model directory refused to save)."""
    import torch

    from hbf_edge._progress import progress_bar
    from hbf_edge.families.upga.refine import _stages

    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)

    def objective():  # the minimum, x = 3, lies where the objective is NaN
        loss = torch.where(x > 2, torch.full_like(x, float("nan")), (x - 3) ** 2).sum()
        return loss, None

    bar = progress_bar(total=9, progress=False)
    _stages([x], objective, [0.0], bar)
    assert bool(torch.isfinite(x).all()) and bool(torch.isfinite(objective()[0]))
    assert float(x.detach().max()) <= 2
