"""JCEHB's hardware datapath: the Numba integer kernel against the pure-Python reference
(``tests/naive_fixed_jcehb.py``) word for word and counter for counter, with both inverses and
with formats narrow enough to saturate; the default formats against the float kernel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import naive_fixed_jcehb
from hbf_edge.families.jcehb.config import pilot_noise_seeded
from hbf_edge.families.jcehb.formats import COUNTER_SITES, JcehbFormats
from hbf_edge.families.jcehb.system import equivalent, jcehb_channels, sum_rate
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.kernels._core.batching import SERIAL_BELOW
from hbf_edge.kernels.jcehb.forward import jcehb_observe, jcehb_slot
from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, load_jcehb_hw, pack_hw

from helpers import JCEHB_NARROW as NARROW, JCEHB_Z as Z, jcehb_quantized_dir as _quantized_dir  # noqa: E402


@pytest.mark.parametrize("inverse,formats", [("exact", None), ("paper", None), ("exact", NARROW)])
def test_the_kernel_equals_the_integer_reference(tmp_path, inverse, formats):
    hw = load_jcehb_hw(_quantized_dir(tmp_path / "q", inverse, formats=formats))
    assert hw.formats == (formats or JcehbFormats()) and hw.phase_bits == 6
    B, nu = 3, 10.0 ** -1.0
    H = jcehb_channels(B, Z, seed=5)
    noise = pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, 9)
    got = jcehb_forward_hw(hw, H, noise, nu)
    totals = dict.fromkeys(COUNTER_SITES, 0)
    totals["input"] = got.counters["input"]  # the ADC's saturations, counted before the datapath
    nu_word = int(hw.formats.accumulator.quantize(np.array([nu]))[0][0])
    for b in range(B):
        H_hat, F, W, counts = naive_fixed_jcehb.slot(hw.formats, got.Y[b], hw.words, nu_word, inverse == "exact",
                                                     Z.n_streams)
        np.testing.assert_array_equal(got.H_hat[b], np.array(H_hat))
        np.testing.assert_array_equal(got.F_bb[b], np.array(F))
        np.testing.assert_array_equal(got.W_bb[b], np.array(W))
        for site, c in counts.items():
            totals[site] += c
    assert got.counters == totals
    if formats is NARROW:  # the narrow words do saturate, and both count it alike
        assert all(got.counters[s] > 0 for s in ("cedun", "heq", "output")), str(got.counters)


def test_a_batch_in_chunks_on_threads_equals_its_channels_one_by_one(tmp_path):
    """From ``SERIAL_BELOW`` channels the slots run in chunks on Python threads
    (``run_chunks``): the same words and counters as each channel run alone in the calling
    thread, with narrow formats so that the counters are not all zero."""
    hw = load_jcehb_hw(_quantized_dir(tmp_path / "q", "exact", formats=NARROW))
    B, nu = 7, 10.0 ** -1.5
    assert B >= SERIAL_BELOW
    H = jcehb_channels(B, Z, seed=21)
    noise = pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, 4)
    got = jcehb_forward_hw(hw, H, noise, nu)
    assert sum(got.counters.values()) > 0
    totals = dict.fromkeys(COUNTER_SITES, 0)
    for b in range(B):
        one = jcehb_forward_hw(hw, H[b:b + 1], noise[b:b + 1], nu)
        for name in ("Y", "H_hat", "F_bb", "W_bb"):
            np.testing.assert_array_equal(getattr(got, name)[b], getattr(one, name)[0])
        for site, c in one.counters.items():
            totals[site] += c
    assert got.counters == totals


def test_default_formats_keep_the_float_networks_rate(tmp_path):
    """At the default word lengths the integer slot's sum rate is within 2 % of the float
    kernel's on the same slots (the issue's bound; this untrained network's rates are low, so
    the relative gap is larger than a trained one's), with no saturation."""
    hw = load_jcehb_hw(_quantized_dir(tmp_path / "q", "exact"))
    B, nu = 40, 0.1
    H = jcehb_channels(B, Z, seed=11)
    noise = pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, 3)
    m = hw.model
    H_f, F_f, W_f = jcehb_slot(m, jcehb_observe(m, H, noise, nu), nu)
    v = jcehb_forward_hw(hw, H, noise, nu).values()
    # CEDUN's gains, computed once from the pilots (rls_gains), give the float kernel's estimate
    assert np.linalg.norm(v["H_hat"] - H_f) / np.linalg.norm(H_f) < 1e-3
    H_eq = equivalent(H, m.F_rf, m.W_rf)
    r_float = sum_rate(H_eq, F_f, W_f, m.W_rf, nu).mean()
    r_hw = sum_rate(H_eq, v["F_bb"], v["W_bb"], m.W_rf, nu).mean()
    assert abs(r_hw / r_float - 1) < 0.02
    assert sum(jcehb_forward_hw(hw, H, noise, nu).counters.values()) == 0


def test_a_float_directory_or_a_bad_format_is_refused(tmp_path):
    from hbf_edge.errors import ConfigError

    q = _quantized_dir(tmp_path / "q", "exact")
    with pytest.raises(ConfigError, match="fraction bits"):
        JcehbFormats(accumulator=FixedPointFormat(32, 6))
    with pytest.raises(ConfigError, match="more fraction bits"):
        JcehbFormats(heq=FixedPointFormat(24, 20))
    with pytest.raises(ConfigError, match="formats must be"):
        JcehbFormats.from_dict({"gram": {}})
    hw = load_jcehb_hw(q)
    with pytest.raises(ConfigError, match="alpha = 2"):
        pack_hw(dataclasses.replace(hw.model, arrays={**hw.model.arrays, "alpha": 3.0}), hw.formats, 6)
