"""The integer references' rounded division (``naive_fixed._round_div``) against the obvious
form, ``Fraction`` rounded by the format's rule: every numerator around the ties of small
denominators of both signs, and large random ones."""

from fractions import Fraction

import numpy as np
import pytest

import naive_fixed


@pytest.mark.parametrize("mode", ["floor", "half_up", "half_even"])
def test_round_div_equals_the_rounded_fraction(mode):
    rng = np.random.default_rng(7)
    pairs = [(n, d) for d in (1, 2, 3, 4, 7, 8, -1, -2, -3, -8) for n in range(-40, 41)]
    pairs += [(int(n) << 20, int(d)) for n, d in zip(rng.integers(-2**40, 2**40, 500), rng.integers(1, 2**30, 500))]
    pairs += [(2**70 + 2**9, 2**10), (-(2**70) - 2**9, 2**10), (2**70 + 3 * 2**9, 2**10)]  # ties past int64
    for n, d in pairs:
        assert naive_fixed._round_div(n, d, mode) == naive_fixed._round(Fraction(n, d), mode), (n, d)
    assert naive_fixed._round_div(-5, 2, "half_even") == -2 and naive_fixed._round_div(-5, 2, "half_up") == -2
