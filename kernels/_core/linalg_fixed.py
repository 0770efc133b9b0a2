"""Small dense complex algebra of the bit-accurate datapath (Numba, int64 only).

Matrices are (re, im) pairs of int64 arrays in the accumulator format (format row ``ACC``);
every stored value is rounded once by that format's rule and fitted, overflows counted in
``cnt[site]`` (the caller's stage).  The contract is the one of :mod:`kernels.upga._fixed`.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.fixed import ACC, div_round, fit, requant, rshift, shift_by, shift_plan, word_of
from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import pivot_rows

# The dtype of the words an exact product reads many times (H, F's table words, D, W before
# eq. (9)), kept transposed or in the caller's buffers: every format is at most 32 bits wide
# (hw.spec), and a product of two sign-extended 32-bit lanes is one AVX2 instruction (vpmuldq)
# where a 64-bit multiply has none (LLVM builds one from three 32-bit ones, shifts and adds).  The sums
# stay exact int64.
# Measured on a Zen 1 EPYC (AVX2), 2026-12-05, scratch/hw/parts.py, best of 5: G = H^H F
# 3.27 -> 1.27 us, the F-step's H D 3.28 -> 1.43, the normalisation 5.41 -> 3.55 (N = 64, M = K = 4).
WORD = np.int32


@njit(cache=True)
def words_t(a):  # pragma: no cover - compiled
    """``a`` transposed into a new C-contiguous array of :data:`WORD` (``a``'s entries are words
    of a format, so they fit)."""
    out = np.empty((a.shape[1], a.shape[0]), WORD)
    words_t_into(a, out)
    return out


@njit(cache=True)
def words_t_into(a, out):  # pragma: no cover - compiled
    """:func:`words_t` into the caller's ``out [C, R]`` (a loop calling it allocates nothing)."""
    R, C = a.shape
    for i in range(R):
        for j in range(C):
            out[j, i] = a[i, j]


@njit(cache=True)
def inv_fx(a, out, fm, cnt, site):  # pragma: no cover - compiled
    """Gauss-Jordan inverse of the real matrix ``a`` (accumulator format; destroyed)."""
    n = a.shape[0]
    fA = fm[ACC, 0]
    mode = fm[ACC, 3]
    for i in range(n):
        for j in range(n):
            out[i, j] = (1 << fA) if i == j else 0
    for col in range(n):
        pivot_rows(a, out, col)
        p = a[col, col]
        if p == 0:  # singular to working precision: counted, column left as is
            cnt[site] += 1
            continue
        r = fit(div_round(1 << (2 * fA), p, mode), fm[ACC], cnt, site)
        for j in range(n):
            a[col, j] = requant(a[col, j] * r, fA, fm[ACC], cnt, site)
            out[col, j] = requant(out[col, j] * r, fA, fm[ACC], cnt, site)
        for row in range(n):
            if row != col:
                f = a[row, col]
                if f != 0:
                    for j in range(n):
                        a[row, j] = fit(a[row, j] - rshift(f * a[col, j], fA, mode), fm[ACC], cnt, site)
                        out[row, j] = fit(out[row, j] - rshift(f * out[col, j], fA, mode), fm[ACC], cnt, site)


@njit(cache=True)
def inv_fx_batch(x, out, fm):  # pragma: no cover - compiled
    """:func:`inv_fx` of each real matrix ``x[b]`` (``[B, n, n]`` words; left as they are) into
    ``out[b]``: the QAT networks' integer Gauss-Jordan outside a trace
    (:func:`hbf_edge.quant._core.datapath.gj_inverse_words`).  Overflows are not counted."""
    B, n = x.shape[0], x.shape[1]
    a = np.empty((n, n), np.int64)
    cnt = np.zeros(1, np.int64)
    for b in range(B):
        copy_into(a, x[b])
        inv_fx(a, out[b], fm, cnt, np.int64(0))  # int64, as the kernels' sites: one compiled inv_fx


@njit(cache=True)
def cinv_fx(xr, xi, outr, outi, fm, cnt, site):  # pragma: no cover - compiled
    """Complex inverse through the real embedding ``[[Xr, -Xi], [Xi, Xr]]``."""
    n = xr.shape[0]
    cinv_ws_fx(xr, xi, outr, outi, np.empty((2 * n, 2 * n), np.int64), np.empty((2 * n, 2 * n), np.int64), fm, cnt,
               site)


@njit(cache=True)
def cinv_ws_fx(xr, xi, outr, outi, big, inv, fm, cnt, site):  # pragma: no cover - compiled
    """:func:`cinv_fx` in the caller's work arrays ``big, inv [2n, 2n]`` (a loop calling it
    allocates nothing)."""
    n = xr.shape[0]
    for i in range(n):
        for j in range(n):
            big[i, j] = xr[i, j]
            big[i, j + n] = -xi[i, j]
            big[i + n, j] = xi[i, j]
            big[i + n, j + n] = xr[i, j]
    inv_fx(big, inv, fm, cnt, site)
    for i in range(n):
        for j in range(n):
            outr[i, j] = inv[i, j]
            outi[i, j] = inv[i + n, j]


@njit(cache=True)
def exact_gram_t(at_r, at_i, bt_r, bt_i, outr, outi):  # pragma: no cover - compiled
    """``out = A^H B`` as exact int64 sums from A and B given transposed (``at [P, N]``,
    ``bt [Q, N]``): dot products over contiguous rows, so the sums vectorise."""
    P, N = at_r.shape
    Q = bt_r.shape[0]
    for i in range(P):
        for j in range(Q):
            sr = 0
            si = 0
            for n in range(N):
                sr += at_r[i, n] * bt_r[j, n] + at_i[i, n] * bt_i[j, n]
                si += at_r[i, n] * bt_i[j, n] - at_i[i, n] * bt_r[j, n]
            outr[i, j] = sr
            outi[i, j] = si


@njit(cache=True)
def gram_t_fx(at_r, at_i, bt_r, bt_i, outr, outi, shift, fm, cnt, site):  # pragma: no cover - compiled
    """``out = A^H B`` rounded down by ``shift`` bits into the accumulator, from A and B given
    transposed (``at [P, N]``, ``bt [Q, N]``): the exact sums (:func:`exact_gram_t`), each
    rounded once."""
    exact_gram_t(at_r, at_i, bt_r, bt_i, outr, outi)
    for i in range(outr.shape[0]):
        for j in range(outr.shape[1]):
            outr[i, j] = requant(outr[i, j], shift, fm[ACC], cnt, site)
            outi[i, j] = requant(outi[i, j], shift, fm[ACC], cnt, site)


@njit(cache=True)
def mac_column(at_r, at_i, br, bi, j, sr, si):  # pragma: no cover - compiled
    """Column ``j`` of ``A B`` as exact int64 sums into ``sr, si [:P]``, from ``A`` given
    transposed (``at [R, P]``, contiguous rows): one pass over the P rows per term, which
    vectorises (the F-step's ``H D``, the normalisation's ``F W`` and :func:`matmul_fx`)."""
    for i in range(at_r.shape[1]):  # the first P entries: the rows may be longer (upga work_rows)
        sr[i] = 0
        si[i] = 0
    for r in range(at_r.shape[0]):
        b_r = br[r, j]
        b_i = bi[r, j]
        for i in range(at_r.shape[1]):
            sr[i] += at_r[r, i] * b_r - at_i[r, i] * b_i
            si[i] += at_r[r, i] * b_i + at_i[r, i] * b_r


@njit(cache=True)
def matmul_fx(ar, ai, br, bi, outr, outi, shift, fm, cnt, site):  # pragma: no cover - compiled
    """``out = A B`` (A [P, R], B [R, Q]) rounded down by ``shift`` bits into the accumulator
    (:func:`matmul_t_fx` on a transposed copy of A)."""
    matmul_t_fx(ar.T.copy(), ai.T.copy(), br, bi, outr, outi, shift, fm, cnt, site)


@njit(cache=True)
def matmul_t_fx(at_r, at_i, br, bi, outr, outi, shift, fm, cnt, site):  # pragma: no cover - compiled
    """:func:`matmul_fx` of A given transposed (``at [R, P]``).

    Column by column of ``out`` over the P rows at once (rounding, fitting and counting
    branch-free as :func:`~kernels._core.fixed.word_of` says), so that a tall ``A`` (``H A^-1``
    of the initialisation, 64 x 4 by 4 x 4) vectorises: 1.4 against 3.0 us, 0.30 against 0.22
    us at 4 x 4 (2026-12-04, scratch/hw/mm_ab.py, best of 9)."""
    P = at_r.shape[1]
    matmul_t_ws_fx(at_r, at_i, br, bi, outr, outi, shift, fm, cnt, site, np.empty(P, np.int64), np.empty(P, np.int64))


@njit(cache=True)
def matmul_t_ws_fx(at_r, at_i, br, bi, outr, outi, shift, fm, cnt, site, sr, si):  # pragma: no cover - compiled
    """:func:`matmul_t_fx` with the column sums in the caller's ``sr, si [P]`` (int64; a loop
    calling it allocates nothing)."""
    P = at_r.shape[1]
    Q = br.shape[1]
    lo, top, sat = fm[ACC, 1], fm[ACC, 2], fm[ACC, 4] != 0
    pl, pr, pa, po = shift_plan(shift, fm[ACC, 3])
    over = 0
    for j in range(Q):
        mac_column(at_r, at_i, br, bi, j, sr, si)
        for i in range(P):
            x = shift_by(sr[i], pl, pr, pa, po)
            y = shift_by(si[i], pl, pr, pa, po)
            over += ((x > top) | (x < lo)) + ((y > top) | (y < lo))
            outr[i, j] = word_of(x, lo, top, sat)
            outi[i, j] = word_of(y, lo, top, sat)
    cnt[site] += over
