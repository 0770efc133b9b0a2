"""Issue 19: the channel scale, the training gain a model records, the warning on channels of
another scale, the exact rescaled design, and positive relative step sizes."""

import logging
import math

import numpy as np
import pytest

from hbf_edge.channels import ChannelDataset, channel_gain_db, make_dataset, saleh_valenzuela_miso
from hbf_edge.errors import ShapeError
from hbf_edge.families._miso import training_gain_db
from hbf_edge.families.upga.core import CORE
from hbf_edge.families.upga.evaluate import evaluate
from hbf_edge.modeldir import load_model, save_model
from hbf_edge.training import TrainConfig, train_upga

SMALL = dict(n_antennas=16, n_rf=4, n_users=4, n_layers=4, train_size=60, epochs=4, batch_size=10)


def test_authors_scale_is_the_same_draws_times_sqrt_n_over_p():
    paper = saleh_valenzuela_miso(400, 32, 4, 8, seed=3)
    authors = saleh_valenzuela_miso(400, 32, 4, 8, seed=3, scale="authors")
    np.testing.assert_allclose(authors, paper * math.sqrt(32 / 8), rtol=0, atol=1e-14)
    # E ||h_k||^2 = P on the paper's scale, N on the authors' (eq. 2-3 and the authors' generator)
    assert abs(channel_gain_db(paper) - 10 * math.log10(8)) < 0.3
    assert abs(channel_gain_db(authors) - 10 * math.log10(32)) < 0.3
    with pytest.raises(ShapeError, match="channel scale"):
        saleh_valenzuela_miso(2, 8, 2, scale="db")


def test_dataset_records_its_scale(tmp_path):
    path = make_dataset("saleh_valenzuela", n_channels=3, n_antennas=8, n_users=2, scale="authors").save(tmp_path / "c")
    ds = ChannelDataset.load(path)
    assert ds.params["scale"] == "authors" and ds.params["n_paths"] == 10


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model, config = train_upga(TrainConfig(**SMALL, seed=2), progress=False)
    out = tmp_path_factory.mktemp("m") / "upga"
    save_model(model, config, out)
    return out


def test_model_records_its_training_gain_and_old_directories_get_the_generators(trained):
    _, config = load_model(trained)
    H = saleh_valenzuela_miso(60, 16, 4, 10, seed=2)
    assert config.training["channel_gain_db"] == pytest.approx(channel_gain_db(H), abs=1e-4)
    old = dict(config.training)
    del old["channel_gain_db"], old["channel_scale"]  # a directory of release 0.1
    config.training.clear()
    config.training.update(old)
    assert training_gain_db(config) == pytest.approx(10.0)  # E ||h||^2 = P = 10 paths


def test_channels_of_another_scale_are_warned_about_in_one_line(trained, tmp_path, caplog):
    _, config = load_model(trained)
    np.save(tmp_path / "same.npy", saleh_valenzuela_miso(50, 16, 4, seed=7))
    np.save(tmp_path / "authors.npy", saleh_valenzuela_miso(50, 16, 4, seed=7, scale="authors"))  # +2.0 dB
    np.save(tmp_path / "far.npy", saleh_valenzuela_miso(50, 16, 4, seed=7) * 10 ** (8 / 20))
    with caplog.at_level(logging.WARNING, logger="hbf_edge"):
        CORE.read_channels(tmp_path / "same.npy", config)
        CORE.read_channels(tmp_path / "authors.npy", config)  # within the 3 dB margin
        assert not caplog.records
        CORE.read_channels(tmp_path / "far.npy", config)
    (record,) = caplog.records
    assert "far.npy" in record.message and "+8." in record.message and "\n" not in record.message


def test_rescaled_design_is_the_equivalent_problem_exactly(trained):
    """Channels c times the training ones at SNR s, designed with design_scale=c, have the rates
    of the training-scale channels at s + 20 log10 c (R(F, W / c; c H0) = R(F, W; H0))."""
    model, _ = load_model(trained)
    H0 = saleh_valenzuela_miso(30, 16, 4, seed=11)
    c = 10 ** (8.0 / 20)
    shifted, _ = evaluate(model, c * H0, [0.0, 4.0], progress=False, design_scale=c)
    reference, _ = evaluate(model, H0, [8.0, 12.0], progress=False)
    np.testing.assert_allclose(shifted["sum_rate"]["upga"], reference["sum_rate"]["upga"], rtol=1e-10)
    for a, b in zip(("0", "4"), ("8", "12")):
        np.testing.assert_allclose(shifted["layers"][a]["upga"], reference["layers"][b]["upga"], rtol=1e-10)
    assert shifted["design_scale_db"] == pytest.approx(8.0)


def test_relative_steps_stay_positive_and_never_go_backwards_on_a_shifted_scale():
    """Regression (issue 19): trained on the authors' scale, release 0.1's absolute steps learned
    a negative lambda and layers that fell below the initialisation; relative steps cannot."""
    model, config = train_upga(TrainConfig(**SMALL, channel_scale="authors", seed=5), progress=False)
    assert config.training["steps"] == "relative" and config.training["channel_scale"] == "authors"
    assert bool((model.mu >= 0).all()) and bool((model.lam >= 0).all())
    H = saleh_valenzuela_miso(100, 16, 4, seed=2026, scale="authors")
    results, _ = evaluate(model, H, [0.0, 6.0, 12.0], progress=False)
    for curve in results["layers"].values():
        assert min(curve["upga"]) >= curve["upga"][0] - 1e-9
        assert curve["upga"][-1] > curve["upga"][0]


def test_cli_scale_steps_and_rescaled_evaluation(tmp_path, capsys):
    from hbf_edge.cli import main

    tiny = ["-N", "8", "-K", "2", "--paths", "3"]
    assert main(["channels", "upga", "--out", str(tmp_path / "c"), "--count", "6", *tiny,
                 "--channel-scale", "authors"]) == 0
    assert "authors scale" in capsys.readouterr().out
    assert main(["train", "upga", "--out", str(tmp_path / "m"), *tiny, "-M", "2", "-I", "2", "--train-size", "8", "--epochs",
                 "1", "--batch-size", "4", "--channel-scale", "authors", "--steps", "absolute", "-q"]) == 0
    _, config = load_model(tmp_path / "m")
    assert config.training["steps"] == "absolute" and config.training["channel_scale"] == "authors"
    np.save(tmp_path / "far.npy", saleh_valenzuela_miso(5, 8, 2, 3, seed=1) * 100)
    assert main(["evaluate", str(tmp_path / "m"), "--channels", str(tmp_path / "far.npy"), "--snr", "0",
                 "--rescale-channels", "-q"]) == 0
    import json

    assert json.loads((tmp_path / "m" / "eval" / "results.json").read_text())["design_scale_db"] > 30


def test_snrs_outside_the_training_range_are_warned_about_in_one_line(trained, caplog):
    """A model's steps are tuned to its training SNRs; a model trained at one SNR can end below
    its initialisation a few dB away (README), so evaluate / quantize / export say so."""
    from hbf_edge.families._miso import snrs_outside_training, warn_snrs_outside_training

    _, config = load_model(trained)
    assert snrs_outside_training(config, [-10.0, 5.0, 20.0]) == (-10.0, 20.0, [])
    assert snrs_outside_training(config, [25.0, 0.0, -12.5]) == (-10.0, 20.0, [25.0, -12.5])
    assert snrs_outside_training(config, [15.0], shift_db=8.0)[2] == [15.0]
    with caplog.at_level(logging.WARNING, logger="hbf_edge"):
        warn_snrs_outside_training(config, [0.0, 20.0])
        assert not caplog.records
        warn_snrs_outside_training(config, [0.0, 25.0, 30.0])
    (record,) = caplog.records
    assert "[-10, 20] dB" in record.message and "25, 30 dB" in record.message and "\n" not in record.message


def test_qat_trains_on_the_float_models_snr_range_unless_told(trained):
    from types import SimpleNamespace

    from hbf_edge.quant._core.loop import qat_loop

    _, config = load_model(trained)
    config.training.update(snr_db_min=6.0, snr_db_max=6.0)  # a model trained at one SNR
    s = SimpleNamespace(train_size=20, epochs=1, batch_size=10, lr=0.01, lr_decay=0.97, seed=1,
                        snr_min=None, snr_max=None)
    loop = qat_loop(config, s, None)
    assert (loop.snr_db_min, loop.snr_db_max) == (6.0, 6.0)
    s.snr_min, s.snr_max = -3.0, 9.0
    loop = qat_loop(config, s, None)
    assert (loop.snr_db_min, loop.snr_db_max) == (-3.0, 9.0)


def test_ramp_layer_loss_weighs_layer_i_by_i():
    import torch

    from hbf_edge.training import _layer_mean

    rates = torch.tensor([[1.0, 3.0], [2.0, 2.0], [4.0, 6.0]], dtype=torch.float64)  # [I=3, B=2]
    assert float(_layer_mean(rates, "uniform")) == pytest.approx(3.0)
    # (1 * 2 + 2 * 2 + 3 * 5) / 6, the per-layer means 2, 2, 5 weighted 1, 2, 3
    assert float(_layer_mean(rates, "ramp")) == pytest.approx(21.0 / 6.0)
    with pytest.raises(Exception, match="layer_loss"):
        TrainConfig(**SMALL, layer_loss="cubic")


def test_an_unreadable_training_snr_record_skips_the_warning_and_refuses_qat_in_one_line(trained, caplog):
    from types import SimpleNamespace

    from hbf_edge.errors import ConfigError
    from hbf_edge.families._miso import warn_snrs_outside_training
    from hbf_edge.quant._core.loop import qat_loop

    _, config = load_model(trained)
    config.training["snr_db_max"] = ""
    with caplog.at_level(logging.WARNING, logger="hbf_edge"):
        warn_snrs_outside_training(config, [0.0, 99.0])
    assert not caplog.records
    s = SimpleNamespace(train_size=20, epochs=1, batch_size=10, lr=0.01, lr_decay=0.97, seed=1,
                        snr_min=None, snr_max=None)
    with pytest.raises(ConfigError, match="training.snr_db_max"):
        qat_loop(config, s, None)
    s.snr_min, s.snr_max = 0.0, 12.0  # given on the command line: the record is not read
    assert qat_loop(config, s, None).snr_db_max == 12.0
