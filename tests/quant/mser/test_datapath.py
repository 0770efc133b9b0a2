"""MSER's torch model of the integer datapath (:mod:`quant.mser.datapath`): equal to the integer
kernel code for code and word for word -- the default formats with refit layers, narrow formats
that saturate, wrap and round by floor, two streams per user, a wrapping accumulator that
overflows -- and the quant stage's ``torch_forward_hw`` equals the kernel stage's ``forward_hw``."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import MSER_NARROW as NARROW, MSER_TINY as TINY, MSER_WRAP as WRAP, mser_hw_session
from hbf_edge.families.mser.formats import MserFormats
from hbf_edge.families.mser.system import MserSizes
from hbf_edge.quant.mser.datapath import design_words

TINY2 = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
QAM2 = MserSizes(**{**TINY2.__dict__, "constellation": "16qam"})  # 16-QAM's weights (eq. 47-48)


@pytest.mark.parametrize("sizes,formats,q_bs,q_ue,refit",
                         [(TINY, MserFormats(), 4, 3, 2), (TINY, NARROW, 2, 6, 1), (TINY2, NARROW, 3, 3, 0),
                          (TINY, WRAP, 3, 4, 1), (QAM2, MserFormats(), 4, 3, 2), (QAM2, NARROW, 2, 5, 1)])
def test_the_datapath_model_equals_the_integer_kernel(sizes, formats, q_bs, q_ue, refit):
    hw, session = mser_hw_session(sizes, formats, q_bs, q_ue, refit)
    got = session.result()
    out = design_words(hw, session.input_words())
    for name in ("F_codes", "U_codes", "V", "W"):
        np.testing.assert_array_equal(out[name], getattr(got, name), err_msg=name)
    assert len(np.unique(got.F_codes)) > 1 and np.abs(got.V).max() > 0  # codes and words, not zeros
    if formats == WRAP:  # the wrapping accumulator overflowed, and the model wrapped with it
        assert got.counters["forward"] > 50, got.counters
