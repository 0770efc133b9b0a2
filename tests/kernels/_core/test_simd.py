"""The vector sums of kernels/_core/simd.py: each lane the scalar loop's bits."""

from __future__ import annotations

import numpy as np
import pytest

from hbf_edge.kernels._core import simd
from hbf_edge.kernels._core.jit import njit


@njit(cache=False)
def _call(n_rows, tr, ti, i0, st_r, st_i, c0, out_r, out_i):  # pragma: no cover - compiled
    if n_rows == 1:
        simd.rows_conj_sums_1(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
    elif n_rows == 2:
        simd.rows_conj_sums_2(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
    else:
        simd.rows_conj_sums_3(tr, ti, i0, st_r, st_i, c0, out_r, out_i)


def _scalar(tr, ti, st_r, st_i, i, c):
    """The scalar loop, in Python floats (IEEE double, one rounding per operation)."""
    ar = ai = 0.0
    for j in range(tr.shape[1]):
        x, y, s, u = float(tr[i, j]), float(ti[i, j]), float(st_r[j, c]), float(st_i[j, c])
        ar += x * s + y * u
        ai += y * s - x * u
    return ar, ai


@pytest.mark.parametrize("n_rows", [1, 2, 3])
def test_rows_conj_sums_are_the_scalar_loop_bit_for_bit(n_rows):
    rng = np.random.default_rng(n_rows)
    R, J, W = 5, 37, 12
    # magnitudes spread over decades, so a reordered or fused sum would round differently
    tr, ti = (rng.standard_normal((R, J)) * 10.0 ** rng.integers(-6, 6, (R, J)) for _ in range(2))
    st_r, st_i = (rng.standard_normal((J, W)) * 10.0 ** rng.integers(-6, 6, (J, W)) for _ in range(2))
    for i0, c0 in ((0, 0), (R - n_rows, simd.LANES), (1, W - simd.LANES)):
        out_r, out_i = np.full((R, W), np.nan), np.full((R, W), np.nan)
        _call(n_rows, tr, ti, i0, st_r, st_i, c0, out_r, out_i)
        for i in range(R):
            for c in range(W):
                inside = i0 <= i < i0 + n_rows and c0 <= c < c0 + simd.LANES
                if inside:
                    assert (out_r[i, c], out_i[i, c]) == _scalar(tr, ti, st_r, st_i, i, c)
                else:  # nothing written outside the block
                    assert np.isnan(out_r[i, c]) and np.isnan(out_i[i, c])


def test_rows_conj_sums_refuse_other_layouts():
    from numba.core.errors import TypingError

    a = np.zeros((3, 8))
    with pytest.raises(TypingError):
        _call(1, a[:, ::2], a[:, ::2], 0, a, a, 0, a, a)  # a strided t
