"""`profile --numerical`: the float taps against the float kernel, the per-stage overflow counts
against the whole hardware kernel's, a saturating site named, and the advisor's formats checked
independently on fresh channels."""

import dataclasses
import json

import numpy as np
import pytest

from helpers import quantized_model_dir
from hbf_edge.baselines import sum_rate_np
from hbf_edge.cli import main
from hbf_edge.families import CORE
from hbf_edge.families.upga.numerical import numerical_profile
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.kernels.upga.forward import upga_forward
from hbf_edge.kernels.upga.stage import hardware_design
from hbf_edge.kernels.upga.taps import SITE_FORMATS, tap_forward
from hbf_edge.modelfiles import read_model_dir
from hbf_edge.units import snr_db_to_power


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A Q=4 model whose gradient format is narrow enough to saturate at grad_W."""
    root = tmp_path_factory.mktemp("num")
    quantized_model_dir(root, 16, 3, {"default": {"phase_bits": 4, "gradient": {"word_bits": 19, "frac_bits": 16}}},
                        xi=1.0)
    return root / "q"


def test_taps_end_where_the_float_kernel_ends():
    rng = np.random.default_rng(3)
    H = (rng.standard_normal((6, 16, 4)) + 1j * rng.standard_normal((6, 16, 4))) / np.sqrt(2)
    p_t, noise = rng.uniform(1, 100, 6), np.ones(6)
    mu, lam = np.full((3, 2), 0.04), np.array([1e-3, 2e-3, 3e-3])
    seen = {}
    rates, F, W = tap_forward(H, p_t, noise, mu, lam, 4, lambda stage, site, v: seen.setdefault(site, set()).add(stage))
    fr, fi, wr, wi = upga_forward(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, mu, lam, 4)
    assert np.abs(F - (fr + 1j * fi)).max() < 1e-12
    assert np.abs(W - (wr + 1j * wi) * np.sqrt(16 / p_t)[:, None, None]).max() < 1e-12
    assert set(seen) == set(SITE_FORMATS) - {"output"} and seen["grad_W"] == {"layer 0", "layer 1", "layer 2"}
    FW = (fr + 1j * fi) @ (wr + 1j * wi)
    assert np.allclose(rates[-1], sum_rate_np(H, FW, noise))


def test_profile_counts_equal_the_kernel_and_name_the_saturating_site(model):
    result, sample = numerical_profile(model, CORE.get("upga"), count=64, snr_db=20.0, target=None)
    config, arrays = read_model_dir(model)
    H = CORE.get("upga").draw_channels(config, 64, 0)
    p_t = np.full(64, float(snr_db_to_power(20.0, 1.0)))
    res = hardware_design((config, arrays), H, p_t, np.ones(64))
    assert result["overflows"]["total"] == {k: int(v.sum()) for k, v in res.counters.items() if v.sum()}
    assert "grad_W" in result["saturating_sites"]
    rate = float(sum_rate_np(H, res.analog() @ res.digital(), np.ones(64)).mean())
    assert result["sum_rate"]["hardware"][-1] == pytest.approx(rate, rel=1e-12)
    assert result["sites"]["grad_W"]["layer 0"]["format"]["word_bits"] == 19 and sample["grad_W"].size > 0


def test_advisor_formats_keep_the_target_on_fresh_channels_with_fewer_bits(model, tmp_path, capsys):
    assert main(["profile", str(model), "--numerical", "--count", "96", "--retention-target", "0.97",
                 "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "saturating sites: grad_W" in out
    res = json.loads((tmp_path / "numerical.json").read_text())
    adv = res["advisor"]
    assert adv["total_word_bits"]["advised"] < adv["total_word_bits"]["model"]
    config, arrays = read_model_dir(model)
    advised = PrecisionConfig.load(tmp_path / "advised_precision.toml", config.spec, config.n_layers)
    cfg = dataclasses.replace(config, precision=advised.to_dict())
    H = CORE.get("upga").draw_channels(config, 96, adv["fresh_seed"])  # independent of the advisor's run
    p_t, n = np.full(96, float(snr_db_to_power(10.0, 1.0))), np.ones(96)
    hw = hardware_design((cfg, arrays), H, p_t, n)
    fr, fi, wr, wi = upga_forward(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, n, arrays["mu"],
                                  arrays["lam"], 4)
    float_rate = sum_rate_np(H, (fr + 1j * fi) @ (wr + 1j * wi), n).mean()
    kept = sum_rate_np(H, hw.analog() @ hw.digital(), n).mean() / float_rate
    assert kept == pytest.approx(adv["retention"]["advised_fresh_channels"], rel=1e-12) and kept >= 0.97
    assert (tmp_path / "numerical.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["--numerical", "--backends", "numba"], "--backends does not apply to --numerical"),
    (["--count", "5"], "--count does not apply without --numerical"),
    (["--numerical", "--retention-target", "2"], "--retention-target must be in 0..1.5"),
    (["--numerical", "--snr", "0", "10"], "one --snr"),
])
def test_profile_options_that_do_not_apply_are_refused(model, tmp_path, capsys, argv, message):
    assert main(["profile", str(model), *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_float_model_is_refused(model, tmp_path, capsys):
    assert main(["profile", str(model.parent / "float"), "--numerical", "--out", str(tmp_path)]) == 2
    assert "is a float model" in capsys.readouterr().err
