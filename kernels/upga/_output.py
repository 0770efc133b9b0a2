"""Private Numba kernel of UPGA's output stage (integer arithmetic only): after the last layer, W
becomes the transmit Wiener filter on the effective channel of the final codes.  The datapath's
contract is :mod:`kernels.upga._fixed`'s; overflows count at the site ``output``."""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.fixed import ACC, CH, LUT, STP, fit, requant, rshift
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import WORD, cinv_ws_fx, gram_t_fx, matmul_t_ws_fx, words_t, words_t_into
from hbf_edge.kernels.upga._fixed import S_OUT, normalize_fx, work_rows


@njit(cache=True)
def output_fx(hr, hi, fc, fs, noise, xi, wr, wi, fm, cnt):  # pragma: no cover - compiled
    """The output stage: W = the transmit Wiener filter (Joham, Utschick and Nossek, IEEE TSP
    2005) on the effective channel of the final codes, ``(G^H G + xi' s2' F^H F)^-1 G^H`` with
    ``G = H^H F``, then eq. (9).

    ``xi`` is the step-format word of ``xi K / N`` (xi = 1: the Wiener filter, 0: zero
    forcing) and ``noise`` the accumulator word of ``s2 N / P_t``.  Block floating point keeps
    the inverse in range: with ``d`` the largest diagonal word and ``t = floor((bitlen(d) - 1
    - fA) / 2)`` (an arithmetic shift), the matrix enters the inverse as ``A 2^-2t`` (diagonal
    in [1, 4)) and ``G^H`` as ``G^H 2^-t``; W's scale does not matter before eq. (9).
    """
    N, K = hr.shape
    M = fc.shape[1]
    fH, fL, fA = fm[CH, 0], fm[LUT, 0], fm[ACC, 0]
    ws = output_workspace(N, M, K)
    g_r, g_i = np.empty((K, M), np.int64), np.empty((K, M), np.int64)
    ft_c, ft_s = words_t(fc), words_t(fs)  # F transposed once (both products read its rows)
    gram_t_fx(words_t(hr), words_t(hi), ft_c, ft_s, g_r, g_i, fH + fL - fA, fm, cnt, S_OUT)  # G = H^H F
    gram_t_fx(ft_c, ft_s, ft_c, ft_s, ws[0], ws[1], 2 * fL - fA, fm, cnt, S_OUT)  # F^H F
    output_tail_fx(ft_c, ft_s, g_r, g_i, noise, xi, wr, wi, fm, cnt, ws)


@njit(cache=True)
def output_workspace(N, M, K):  # pragma: no cover - compiled
    """Work arrays of :func:`output_tail_fx`: F^H F (its first two), then A, A^-1, G^H, W_acc,
    the inverse's real embedding, the normalisation's work rows, the word transposes of G and of
    A^-1 and the column sums of ``A^-1 G^H`` (the code search calls the tail once per candidate
    and allocates nothing there)."""
    return (np.empty((M, M), np.int64), np.empty((M, M), np.int64), np.empty((M, M), np.int64),
            np.empty((M, M), np.int64), np.empty((M, M), np.int64), np.empty((M, M), np.int64),
            np.empty((M, K), np.int64), np.empty((M, K), np.int64), np.empty((M, K), WORD),
            np.empty((M, K), WORD), np.empty((2 * M, 2 * M), np.int64), np.empty((2 * M, 2 * M), np.int64),
            work_rows(N), np.empty((M, K), WORD), np.empty((M, K), WORD), np.empty((M, M), WORD),
            np.empty((M, M), WORD), np.empty(M, np.int64), np.empty(M, np.int64))


@njit(cache=True)
def output_tail_fx(ft_c, ft_s, g_r, g_i, noise, xi, wr, wi, fm, cnt, ws):  # pragma: no cover - compiled
    """The output stage from the words of ``G = H^H F`` (g) and ``F^H F`` (``ws[0], ws[1]``):
    everything of :func:`output_fx` after those two products, in the work arrays ``ws``
    (:func:`output_workspace`); ``ft_c, ft_s [M, N]``: F's table words, transposed."""
    K, M = g_r.shape
    fA, fS = fm[ACC, 0], fm[STP, 0]
    mode = fm[ACC, 3]
    b_r, b_i, a_r, a_i, ainv_r, ainv_i, gh_r, gh_i, w_acc_r, w_acc_i, big, inv, wk, gr_t, gi_t, it_r, it_i, sr, si = ws
    # G^H G and A^-1 G^H from transposed WORD copies (G and A^-1 are accumulator words): the
    # products of the initialisation and the layers take the same types, one compilation each
    words_t_into(g_r, gr_t)
    words_t_into(g_i, gi_t)
    gram_t_fx(gr_t, gi_t, gr_t, gi_t, a_r, a_i, fA, fm, cnt, S_OUT)
    reg = requant(xi * noise, fS, fm[ACC], cnt, S_OUT)
    for i in range(M):
        for j in range(M):
            a_r[i, j] = fit(a_r[i, j] + rshift(reg * b_r[i, j], fA, mode), fm[ACC], cnt, S_OUT)
            a_i[i, j] = fit(a_i[i, j] + rshift(reg * b_i[i, j], fA, mode), fm[ACC], cnt, S_OUT)
    d = 0
    for i in range(M):
        d = max(d, a_r[i, i])
    t = 0
    if d > 0:
        bits = 0
        while (d >> bits) > 0:
            bits += 1
        t = (bits - 1 - fA) >> 1
    for i in range(M):
        for j in range(M):
            a_r[i, j] = requant(a_r[i, j], 2 * t, fm[ACC], cnt, S_OUT)
            a_i[i, j] = requant(a_i[i, j], 2 * t, fm[ACC], cnt, S_OUT)
    for m in range(M):
        for k in range(K):
            gh_r[m, k] = requant(g_r[k, m], t, fm[ACC], cnt, S_OUT)
            gh_i[m, k] = requant(-g_i[k, m], t, fm[ACC], cnt, S_OUT)
    cinv_ws_fx(a_r, a_i, ainv_r, ainv_i, big, inv, fm, cnt, S_OUT)
    words_t_into(ainv_r, it_r)
    words_t_into(ainv_i, it_i)
    matmul_t_ws_fx(it_r, it_i, gh_r, gh_i, w_acc_r, w_acc_i, fA, fm, cnt, S_OUT, sr, si)
    normalize_fx(ft_c, ft_s, w_acc_r, w_acc_i, wr, wi, fm, cnt, wk)
