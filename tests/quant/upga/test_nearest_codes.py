"""The QAT model's nearest-code rule (brute force, no atan2) against the kernel's, ties included."""

import numpy as np
import pytest
import torch

from hbf_edge import kernels
from hbf_edge import HardwareSpec
from hbf_edge.cplx import C
from hbf_edge.kernels._core import codes as _codes
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
    kernel = [_codes.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in vectors]
    assert ours.tolist() == kernel


@pytest.mark.parametrize("q", [1, 2, 4, 8])
def test_the_word_path_equals_the_brute_force(q):
    """Outside a trace, with the fraction bits given, the codes come from the integer kernel's
    rule on the words: the same as the brute force the trace keeps, ties and tiny vectors
    included, for values and tables in their fixed-point units and any batch shape."""
    fx, fL = 12, 10
    lut_c, lut_s = kernels.phase_lut(HardwareSpec(16, 4, 4, q))
    rng = np.random.default_rng(200 + q)
    xr = rng.integers(-(2**16), 2**16, (7, 16, 4))
    xi = rng.integers(-(2**16), 2**16, (7, 16, 4))
    xr[0], xi[0] = rng.integers(-3, 4, (2, 16, 4))  # runs of ties
    bis = [((lut_c[c] + lut_c[(c + 1) % 2**q]), (lut_s[c] + lut_s[(c + 1) % 2**q])) for c in range(2**q)]
    for j, (a, b) in enumerate(bis[:16]):  # exact ties between neighbouring codes
        xr[1, j, 0], xi[1, j, 0] = a, b
    x = C(torch.from_numpy(xr * 2.0**-fx), torch.from_numpy(xi * 2.0**-fx))
    tc, ts = (torch.from_numpy(t * 2.0**-fL) for t in (lut_c, lut_s))
    brute = dp.nearest_codes(x, tc, ts)
    words = dp.nearest_codes(x, tc, ts, (fx, fL))
    assert words.dtype == torch.int64 and words.shape == (7, 16, 4)
    assert torch.equal(words, brute)
    assert len(torch.unique(words)) >= min(2**q, 100)  # the codes are spread over the book
