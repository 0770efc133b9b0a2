"""Every plot exists, is a PNG, and is not trivial: many colours and a real spread of pixels
(an empty axis or a single flat curve would fail), with each curve it promises drawn."""

import numpy as np
import pytest
from matplotlib import image

from hbf_edge import plots

SNR = [-10.0, 0.0, 10.0, 20.0]


def _busy(path, min_colours=40):
    img = image.imread(path)[..., :3]
    colours = np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert path.read_bytes()[:4] == b"\x89PNG" and len(colours) >= min_colours and img.std() > 0.05, path
    return img


@pytest.fixture
def results():
    rates = {m: [1.0 + i + 0.01 * j for i in range(len(SNR))] for j, m in enumerate(("upga", "pga30", "pga100", "omp", "zf"))}
    layers = {"0": {"pga": list(np.linspace(1, 2, 101)), "upga": list(np.linspace(1, 2.1, 11))}}
    return {"snr_db": SNR, "sum_rate": rates, "sizes": {"N": 8, "M": 2, "K": 2, "I": 10, "J": 1}, "n_channels": 5,
            "layers": layers}


def test_rate_plots(results, tmp_path):
    plain = _busy(plots.plot_rate_vs_snr(results, tmp_path / "a.png"))
    with_q = _busy(plots.plot_rate_vs_snr(results, tmp_path / "b.png", extra={"QAT": ([10.0, 20.0], [3.0, 4.0])}))
    assert plain.shape == with_q.shape and not np.array_equal(plain, with_q)  # the quantized points are drawn
    _busy(plots.plot_rate_vs_layers(results, tmp_path / "c.png"))


def test_beampattern_shows_a_difference_between_applied_and_intended(tmp_path):
    angles = np.linspace(-90, 90, 181)
    intended = np.stack([np.cos(np.deg2rad(angles - 20)) ** 8 + 1e-3, np.cos(np.deg2rad(angles + 30)) ** 8 + 1e-3])
    same = _busy(plots.plot_beampattern({"angles_deg": angles, "intended": intended, "applied": intended},
                                        tmp_path / "same.png"))
    off = _busy(plots.plot_beampattern({"angles_deg": angles, "intended": intended, "applied": intended * 1.5},
                                       tmp_path / "off.png"))
    assert not np.array_equal(same, off)


def test_retention_and_profile_plots(tmp_path):
    rows = [{"phase_bits": q, "retention": {k: [0.9 + 0.02 * q, 0.8 + 0.03 * q] for k in
                                            ("ptq_round", "ptq_refit", "quantized")}} for q in (1, 2, 3, 4)]
    _busy(plots.plot_retention({"rows": rows, "snr_db": [10.0, 20.0]}, tmp_path / "r.png"))
    stages = ["init", "layer 0", "layer 1"]
    measured = {"64": {b: {"us_per_channel": {s: 1.0 + i + j for j, s in enumerate(stages)},
                           "whole_us_per_channel": 5.0 + i} for i, b in enumerate(("numba_float64", "torch_eager"))}}
    _busy(plots.plot_profile({"measured": measured, "stages": stages}, "64", tmp_path / "p.png"))
