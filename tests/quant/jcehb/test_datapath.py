"""JCEHB's torch model of the integer datapath (:mod:`quant.jcehb.datapath`): equal to the
integer kernel word for word -- both inverses, the default formats, narrow saturating ones, and
wrapping ones with every rounding rule, all overflowing -- and the quant stage's
``torch_forward_hw`` on a model directory equals the kernel stage's ``forward_hw``."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import JCEHB_NARROW as NARROW, JCEHB_WRAP as WRAP, jcehb_hw_slots
from hbf_edge.quant.jcehb.datapath import slot_words


@pytest.mark.parametrize("inverse,formats", [("exact", None), ("paper", None), ("exact", NARROW), ("paper", NARROW),
                                             ("exact", WRAP), ("paper", WRAP)])
def test_the_datapath_model_equals_the_integer_kernel(tmp_path, inverse, formats):
    hw, got, nu_word = jcehb_hw_slots(tmp_path, inverse, formats)
    F, W = slot_words(hw, got.Y, nu_word)
    np.testing.assert_array_equal(F, got.F_bb)
    np.testing.assert_array_equal(W, got.W_bb)
    assert np.abs(got.F_bb).max() > 4 and np.abs(got.W_bb).max() > 4  # words, not zeros
    if formats is not None:  # the datapath did overflow, saturating or wrapping, and the model followed it
        assert sum(v for k, v in got.counters.items() if k != "input") > 50, got.counters


def test_torch_forward_hw_is_the_kernels(tmp_path):
    from helpers import JCEHB_Z, jcehb_quantized_dir
    from hbf_edge.families.jcehb.system import jcehb_channels
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.quant import REGISTRY as QUANT

    q = jcehb_quantized_dir(tmp_path / "q", "paper", formats=NARROW)
    H = jcehb_channels(5, JCEHB_Z, seed=2)
    hw, ours = KERNELS.get("jcehb").forward_hw(q, H, snr_db=5.0), QUANT.get("jcehb").torch_forward_hw(q, H, snr_db=5.0)
    for key in ("F_bb_words", "W_bb_words"):
        np.testing.assert_array_equal(ours[key], hw[key])
    assert QUANT.get("jcehb").hardware_exact
