"""The vector sums of kernels/_core/simd.py: each lane the scalar loop's bits."""

from __future__ import annotations

import numpy as np
import pytest

from hbf_edge.kernels._core import simd
from hbf_edge.kernels._core.jit import njit


@njit(cache=False)
def _call(conj, n_rows, tr, ti, i0, st_r, st_i, c0, out_r, out_i):  # pragma: no cover - compiled
    if conj:
        if n_rows == 1:
            simd.rows_conj_sums_1(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
        elif n_rows == 2:
            simd.rows_conj_sums_2(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
        else:
            simd.rows_conj_sums_3(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
    elif n_rows == 1:
        simd.rows_sums_1(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
    elif n_rows == 2:
        simd.rows_sums_2(tr, ti, i0, st_r, st_i, c0, out_r, out_i)
    else:
        simd.rows_sums_3(tr, ti, i0, st_r, st_i, c0, out_r, out_i)


def _scalar(conj, tr, ti, st_r, st_i, i, c):
    """The scalar loop, in Python floats (IEEE double, one rounding per operation)."""
    ar = ai = 0.0
    for j in range(tr.shape[1]):
        x, y, s, u = float(tr[i, j]), float(ti[i, j]), float(st_r[j, c]), float(st_i[j, c])
        if conj:
            ar += x * s + y * u
            ai += y * s - x * u
        else:  # kernels._core.linalg.matmul's terms
            ar += x * s - y * u
            ai += x * u + y * s
    return ar, ai


def _spread(rng, *shape):
    """Magnitudes over twelve decades, so a reordered or fused sum would round differently."""
    return rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 6, shape)


@pytest.mark.parametrize("conj", [False, True])
@pytest.mark.parametrize("n_rows", [1, 2, 3])
def test_rows_sums_are_the_scalar_loop_bit_for_bit(conj, n_rows):
    rng = np.random.default_rng(n_rows + 3 * conj)
    R, J, W = 5, 37, 12
    tr, ti = _spread(rng, R, J), _spread(rng, R, J)
    st_r, st_i = _spread(rng, J, W), _spread(rng, J, W)
    for i0, c0 in ((0, 0), (R - n_rows, simd.LANES), (1, W - simd.LANES)):
        out_r, out_i = np.full((R, W), np.nan), np.full((R, W), np.nan)
        _call(conj, n_rows, tr, ti, i0, st_r, st_i, c0, out_r, out_i)
        for i in range(R):
            for c in range(W):
                if i0 <= i < i0 + n_rows and c0 <= c < c0 + simd.LANES:
                    assert (out_r[i, c], out_i[i, c]) == _scalar(conj, tr, ti, st_r, st_i, i, c)
                else:  # nothing written outside the block
                    assert np.isnan(out_r[i, c]) and np.isnan(out_i[i, c])


@pytest.mark.parametrize("conj", [False, True])
def test_block_sums_cover_every_row_and_column_asked_for(conj):
    """Rows in groups of 3, 2 and 1, column blocks from any ``lo``: every asked entry is the
    scalar sum, bit for bit, and no row outside ``i_lo .. i_hi - 1`` is written."""
    rng = np.random.default_rng(7 + conj)
    J = 19
    for R, D in ((1, 3), (2, 4), (3, 6), (4, 8), (5, 10), (7, 5)):
        W = -(-D // simd.LANES) * simd.LANES
        tr, ti = _spread(rng, R, J), _spread(rng, R, J)
        st_r, st_i = _spread(rng, J, W), _spread(rng, J, W)
        for (i_lo, i_hi), (lo, hi) in (((0, R), (0, D)), ((R // 2, R), (D // 2, D)), ((0, 1), (1, 2))):
            out_r, out_i = np.full((R, W), np.nan), np.full((R, W), np.nan)
            (simd.block_conj_sums if conj else simd.block_sums)(tr, ti, st_r, st_i, i_lo, i_hi, lo, hi, out_r, out_i)
            for i in range(R):
                for c in range(lo, hi):
                    if i_lo <= i < i_hi:
                        assert (out_r[i, c], out_i[i, c]) == _scalar(conj, tr, ti, st_r, st_i, i, c)
                    else:
                        assert np.isnan(out_r[i, c])


def test_rows_sums_refuse_other_layouts():
    from numba.core.errors import TypingError

    a = np.zeros((3, 8))
    with pytest.raises(TypingError):
        _call(False, 1, a[:, ::2], a[:, ::2], 0, a, a, 0, a, a)  # a strided t


def test_padded_copy_and_transpose_zero_the_tail():
    rng = np.random.default_rng(11)
    a_r, a_i = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    d_r, d_i = np.full((5, simd.LANES), np.nan), np.full((5, simd.LANES), np.nan)
    simd.padded_copy(a_r, a_i, d_r, d_i)
    assert np.array_equal(d_r[:, :3], a_r) and np.array_equal(d_i[:, :3], a_i) and not d_r[:, 3:].any()
    t_r, t_i = np.full((3, 2 * simd.LANES), np.nan), np.full((3, 2 * simd.LANES), np.nan)
    simd.padded_transpose(a_r, a_i, t_r, t_i)
    assert np.array_equal(t_r[:, :5], a_r.T) and np.array_equal(t_i[:, :5], a_i.T)
    assert not t_r[:, 5:].any() and not t_i[:, 5:].any()
