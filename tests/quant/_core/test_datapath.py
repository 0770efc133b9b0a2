"""The QAT datapath's integer steps (``quant._core.datapath``) against their other forms."""

import numpy as np
import pytest
import torch

from hbf_edge import FixedPointFormat



@pytest.mark.parametrize("fmt", [FixedPointFormat(32, 16), FixedPointFormat(24, 10, "floor"),
                                 FixedPointFormat(20, 12, "half_even"), FixedPointFormat(16, 8, saturate=False)])
def test_the_integer_gauss_jordan_outside_a_trace_is_the_traced_one(fmt, monkeypatch):
    """``gj_inverse_words`` by the integer kernel (outside a trace) and by the torch operations a
    trace records: the same words, singular and zero-column matrices, saturating and wrapping
    formats included."""
    from hbf_edge.quant._core import datapath as dp

    rng = np.random.default_rng(fmt.word_bits)
    for n in (2, 4, 8):
        x = torch.from_numpy((rng.normal(size=(40, n, n)) * 2.0 ** fmt.frac_bits).astype(np.int64))
        x[:4] = 0
        x[4:8, :, 0] = 0
        x[8:12] = torch.eye(n, dtype=torch.int64) * (1 << fmt.frac_bits)
        kernel = dp.gj_inverse_words(x, fmt)
        with monkeypatch.context() as m:
            m.setattr(torch.jit, "is_tracing", lambda: True)
            traced = dp.gj_inverse_words(x, fmt)
        assert torch.equal(kernel, traced) and kernel.dtype == torch.int64
        assert torch.equal(kernel[8:12], x[8:12])  # the identity's inverse
