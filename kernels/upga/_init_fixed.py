"""Private Numba kernel of the bit-accurate UPGA initialisation (eq. 12-13 of the UPGA paper,
eq. 17 of the UPGANet paper), in the datapath of :mod:`kernels.upga._fixed` (its contract):
codes of the channel phases plus DFT codes, then ``W = (F^H F)^-1 F^H H (H^H H)^-1``
normalised."""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.codes import nearest_codes_block
from hbf_edge.kernels._core.fixed import ACC, CH, LUT
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import WORD, cinv_fx, gram_t_fx, matmul_t_fx, words_t
from hbf_edge.kernels.upga._fixed import S_INIT, normalize_fx, table_words_into, work_rows


@njit(cache=True)
def init_fx(hr, hi, codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai):  # pragma: no cover - compiled
    """Eq. (12)-(13) in fixed point: codes of the channel phases plus DFT codes, then W."""
    N, K = hr.shape
    M = codes.shape[1]
    n_codes = lc.shape[0]
    for n in range(N):
        for m in range(K, M):  # nearest code of -2 pi n (m-K) / N: floor(x + 1/2) in integers
            codes[n, m] = ((-2 * n * (m - K) * n_codes + N) // (2 * N)) % n_codes
    init_w_fx(words_t(hr), words_t(hi), codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai)


@njit(cache=True)
def init_w_fx(ht_r, ht_i, codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai):  # pragma: no cover - compiled
    """Codes ``[:, :K]`` of the channel phases (``codes[:, K:]`` are given), their table words,
    then ``W_acc = (F^H F)^-1 F^H H (H^H H)^-1`` and the normalisation (eq. 13 of the UPGA
    paper, eq. 17 of the UPGANet paper); ``ht_r, ht_i [K, N]``: H transposed."""
    K, N = ht_r.shape
    M = codes.shape[1]
    fH, fL, fA = fm[CH, 0], fm[LUT, 0], fm[ACC, 0]
    wk = work_rows(N, max(M, K))
    # every user's channel words in one block of int64 rows, as the F-step decides on (one
    # compilation of the code decision for both), and one decision over the K N vectors
    KN = K * N
    bx, by = wk[7, :KN], wk[8, :KN]
    for k in range(K):
        for n in range(N):
            bx[k * N + n] = ht_r[k, n]
            by[k * N + n] = ht_i[k, n]
    c_k = wk[4, :KN]
    nearest_codes_block(bx, by, lc, ls, c_k, wk[5, :KN], wk[6, :KN], wk[2, :KN], wk[3, :KN])
    for k in range(K):
        for n in range(N):
            codes[n, k] = c_k[k * N + n]
    table_words_into(lc, ls, codes, fc, fs)
    a_r, a_i = np.empty((K, K), np.int64), np.empty((K, K), np.int64)
    ainv_r, ainv_i = np.empty((K, K), np.int64), np.empty((K, K), np.int64)
    z_r, z_i = np.empty((N, K), WORD), np.empty((N, K), WORD)  # words, as W_acc: one compilation of matmul_t_fx
    b_r, b_i = np.empty((M, M), np.int64), np.empty((M, M), np.int64)
    binv_r, binv_i = np.empty((M, M), np.int64), np.empty((M, M), np.int64)
    t_r, t_i = np.empty((M, K), np.int64), np.empty((M, K), np.int64)
    ft_c, ft_s = words_t(fc), words_t(fs)  # F transposed once, as H is: every product reads rows
    gram_t_fx(ht_r, ht_i, ht_r, ht_i, a_r, a_i, 2 * fH - fA, fm, cnt, S_INIT)  # A = H^H H
    cinv_fx(a_r, a_i, ainv_r, ainv_i, fm, cnt, S_INIT)
    matmul_t_fx(ht_r, ht_i, ainv_r, ainv_i, z_r, z_i, fH, fm, cnt, S_INIT)  # (H^H)^+ = H A^-1
    gram_t_fx(ft_c, ft_s, ft_c, ft_s, b_r, b_i, 2 * fL - fA, fm, cnt, S_INIT)  # F^H F
    gram_t_fx(ft_c, ft_s, words_t(z_r), words_t(z_i), t_r, t_i, fL, fm, cnt, S_INIT)  # F^H (H^H)^+
    cinv_fx(b_r, b_i, binv_r, binv_i, fm, cnt, S_INIT)
    # W_acc = (F^H F)^-1 F^H (H^H)^+
    matmul_t_fx(words_t(binv_r), words_t(binv_i), t_r, t_i, ar, ai, fA, fm, cnt, S_INIT)
    normalize_fx(ft_c, ft_s, ar, ai, wr, wi, fm, cnt, wk)
