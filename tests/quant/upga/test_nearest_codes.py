"""The QAT model's nearest-code rule (brute force, no atan2) against the kernel's, ties included."""

import numpy as np
import pytest
import torch

from hbf_edge import kernels
from hbf_edge import HardwareSpec
from hbf_edge.cplx import C
from hbf_edge.kernels._core import fixed as _fixed
from hbf_edge.quant._core import datapath as dp


@pytest.mark.parametrize("q", [1, 2, 3, 4, 6, 8])
def test_nearest_codes_equal_the_kernel_rule_on_ties_and_tiny_vectors(q):
    lut_c, lut_s = kernels.phase_lut(HardwareSpec(16, 4, 4, q))
    rng = np.random.default_rng(100 + q)
    vectors = [tuple(v) for v in rng.integers(-(2**18), 2**18, (2000, 2))]
    vectors += [tuple(v) for v in rng.integers(-4, 5, (300, 2))]  # tiny vectors: runs of ties
    for c in range(2**q):  # bisectors of neighbouring table entries (exact ties) and the entries
        d = (c + 1) % 2**q
        vectors += [(int(lut_c[c] + lut_c[d]), int(lut_s[c] + lut_s[d])), (int(lut_c[c]), int(lut_s[c]))]
    vectors += [(-5, 0), (-5, -1), (-5, 1), (0, 7), (0, -7), (1, 0), (0, 0), (430, -260)]
    xr, xi = (torch.tensor(v, dtype=torch.float64) for v in zip(*vectors))
    ours = dp.nearest_codes(C(xr, xi), torch.from_numpy(lut_c).double(), torch.from_numpy(lut_s).double())
    kernel = [_fixed.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in vectors]
    assert ours.tolist() == kernel


def test_nearest_codes_in_slices_equal_the_whole(monkeypatch):
    """Outside a trace a large batch runs in slices of its leading axis (cache-sized); the codes
    are the same as in one piece, for a slice that does not divide the batch too."""
    lut_c, lut_s = (torch.from_numpy(t).double() for t in kernels.phase_lut(HardwareSpec(16, 4, 4, 6)))
    rng = np.random.default_rng(7)
    x = C(*(torch.from_numpy(rng.integers(-(2**12), 2**12, (9, 5, 3)).astype(np.float64)) for _ in range(2)))
    monkeypatch.setattr(dp, "NEAREST_SLICE", 1 << 40)
    whole = dp.nearest_codes(x, lut_c, lut_s)
    for products in (2 * 15 * 64, 4 * 15 * 64 + 1):  # slices of 2 and 4 items: 5 and 3 slices
        monkeypatch.setattr(dp, "NEAREST_SLICE", products)
        assert torch.equal(dp.nearest_codes(x, lut_c, lut_s), whole)
    assert len(torch.unique(whole)) > 30
