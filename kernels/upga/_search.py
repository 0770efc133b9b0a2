"""Private Numba kernel of the code search after the last UPGA layer (integer arithmetic only).

Why: with Q <= 3 bits, rounding the last layer's phases to the code book loses several points of
sum rate at high SNR that no choice of W recovers (the loss is in the codes; measured in the
session-6 study).  A coordinate descent over the discrete phases, one shifter at a time with
the others fixed, is the standard remedy for low-resolution phase shifters (Sohrabi and Yu,
"Hybrid digital and analog beamforming design for large-scale antenna arrays", IEEE JSTSP 2016,
Section V); here each candidate is scored by the sum rate (eq. 4 of the UPGA paper) with the
output stage's W on its codes.

The contract (the integer reference ``tests/naive_fixed.py`` implements it too):

* Runs in the last layer's formats and phase table, on its codes, and needs the output stage:
  the score of codes ``c`` is the sum rate of ``(F(c), W(c))`` with ``W(c)`` from
  :func:`kernels.upga._output.output_fx`.
* Score: with the output stage's own ``G = H^H F`` (not computed again), ``E = G W`` and each user's ``a_k`` (received power plus noise) and ``b_k``
  (interference plus noise) as in eq. (10)-(11) (:func:`~kernels.upga._fixed.user_powers_fx`),
  ``sum_k log2(a_k) - log2(b_k)`` in ``LOG_FRAC_BITS`` fraction bits, each ``log2`` from the
  bit length and a ``2**LOG_INDEX_BITS``-entry table of the mantissa (:func:`log2_fx`): the
  truncated mantissa costs below ``log2(1 + 2**-10)`` = 1.41e-3 bit per term, the table's
  rounding 2**-17 more.
* Sweeps: up to ``sweeps`` passes over the entries, column by column (m outer, n inner).  For
  entry (n, m) with code ``c`` the candidates are ``c + 1, c - 1, c + 2, c - 2, ... c +- span``
  modulo ``2**Q`` (each code once, never ``c``); a candidate replaces the code only if its score
  is strictly larger than the best so far (the first of equal scores wins).  A pass that
  changes nothing ends the search.
* Overflow events of the candidates' evaluations are counted at the site ``output``; the final
  W is the output stage on the final codes, counted there as well.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from hbf_edge.kernels._core.fixed import ACC, CH, LUT, requant
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import exact_gram_t, words_t
from hbf_edge.kernels.upga._fixed import S_OUT, received_fx, table_words, user_powers_fx
from hbf_edge.kernels.upga._output import output_fx, output_tail_fx, output_workspace


LOG_INDEX_BITS = 10  # mantissa bits that index the log2 table
LOG_FRAC_BITS = 16  # fraction bits of a score


def log2_table() -> np.ndarray:
    """``round(log2(1 + i / 2**LOG_INDEX_BITS) * 2**LOG_FRAC_BITS)`` for every index, int64
    (the hardware's ROM; exported with the bundle)."""
    n = 1 << LOG_INDEX_BITS
    return np.array([round(math.log2(1 + i / n) * (1 << LOG_FRAC_BITS)) for i in range(n)], np.int64)


@njit(cache=True)
def log2_fx(x, table):  # pragma: no cover - compiled
    """``log2(x)`` of an integer ``x >= 1`` in ``LOG_FRAC_BITS`` fraction bits: the bit length
    gives the exponent, the next ``LOG_INDEX_BITS`` bits below the leading one (truncated) index
    the table."""
    e = 0
    while (x >> (e + 1)) > 0:
        e += 1
    if e >= LOG_INDEX_BITS:
        idx = (x >> (e - LOG_INDEX_BITS)) - (1 << LOG_INDEX_BITS)
    else:
        idx = (x << (LOG_INDEX_BITS - e)) - (1 << LOG_INDEX_BITS)
    return (e << LOG_FRAC_BITS) + table[idx]


@njit(cache=True)
def rate_score_fx(gr, gi, wr, wi, noise, fm, cnt, er, ei, table):  # pragma: no cover
    """Sum rate of (F, W) in ``LOG_FRAC_BITS`` fraction bits from ``G = H^H F`` (see the module
    docstring)."""
    K = gr.shape[0]
    received_fx(gr, gi, wr, wi, fm, cnt, er, ei)
    score = 0
    for k in range(K):
        a, b = user_powers_fx(er, ei, k, noise, fm, cnt)
        score += log2_fx(max(a, 1), table) - log2_fx(max(b, 1), table)
    return score


@njit(cache=True)
def set_entry(hr, hi, fc, fs, ft_c, ft_s, n, m, c1, s1, ga_r, ga_i, ba_r, ba_i):  # pragma: no cover - compiled
    """Put the word pair ``(c1, s1)`` into entry (n, m) of F (and of its transpose ``ft_c, ft_s``)
    and update the exact sums of ``G = H^H F`` (its column m) and ``F^H F`` (its row and
    column m) to match, in O(K + M).  Integer arithmetic: setting the old pair back restores
    the sums exactly."""
    K = hr.shape[1]
    M = fc.shape[1]
    dc = c1 - fc[n, m]
    ds = s1 - fs[n, m]
    for k in range(K):
        ga_r[k, m] += hr[n, k] * dc + hi[n, k] * ds
        ga_i[k, m] += hr[n, k] * ds - hi[n, k] * dc
    for i in range(M):
        if i != m:
            dr = fc[n, i] * dc + fs[n, i] * ds
            di = fc[n, i] * ds - fs[n, i] * dc
            ba_r[i, m] += dr
            ba_i[i, m] += di
            ba_r[m, i] += dr
            ba_i[m, i] -= di
    ba_r[m, m] += c1 * c1 + s1 * s1 - fc[n, m] * fc[n, m] - fs[n, m] * fs[n, m]
    fc[n, m] = c1
    fs[n, m] = s1
    ft_c[m, n] = c1
    ft_s[m, n] = s1


@njit(cache=True)
def score_sums_fx(ft_c, ft_s, ga_r, ga_i, ba_r, ba_i, noise, xi, gr, gi, tr, ti, er, ei, ws, fm, cnt,
                  table):  # pragma: no cover - compiled
    """The score of the current codes from the exact sums: G and F^H F rounded as
    :func:`~kernels._core.linalg_fixed.gram_t_fx` rounds them, then the output stage's tail and
    :func:`rate_score_fx` -- the same words and overflow events as
    :func:`~kernels.upga._output.output_fx` on them (``ft_c, ft_s``: F's words transposed)."""
    K, M = ga_r.shape
    fH, fL, fA = fm[CH, 0], fm[LUT, 0], fm[ACC, 0]
    for k in range(K):
        for m in range(M):
            gr[k, m] = requant(ga_r[k, m], fH + fL - fA, fm[ACC], cnt, S_OUT)
            gi[k, m] = requant(ga_i[k, m], fH + fL - fA, fm[ACC], cnt, S_OUT)
    b_r, b_i = ws[0], ws[1]
    for i in range(M):
        for j in range(M):
            b_r[i, j] = requant(ba_r[i, j], 2 * fL - fA, fm[ACC], cnt, S_OUT)
            b_i[i, j] = requant(ba_i[i, j], 2 * fL - fA, fm[ACC], cnt, S_OUT)
    output_tail_fx(ft_c, ft_s, gr, gi, noise, xi, tr, ti, fm, cnt, ws)
    return rate_score_fx(gr, gi, tr, ti, noise, fm, cnt, er, ei, table)


@njit(cache=True)
def code_search_fx(hr, hi, codes, fc, fs, lc, ls, noise, xi, sweeps, span, wr, wi, fm, cnt, table):  # pragma: no cover
    """The search in place on (codes, fc, fs), then W = the output stage on the final codes.

    A candidate changes one entry of F, so the exact sums of G = H^H F and F^H F are updated
    for it (:func:`set_entry`) instead of recomputed: rounding them gives the words the full
    products give, so the scores and the codes are the contract's.  What is left per candidate
    is the output stage's tail (its small inverse and eq. (9)'s norm, O(NMK)) and the score;
    every work array is allocated once per channel (the tail's in :func:`output_workspace`)."""
    N, K = hr.shape
    M = codes.shape[1]
    n_codes = lc.shape[0]
    mask = n_codes - 1
    span = min(span, n_codes // 2)
    scratch = np.zeros(cnt.shape[0], np.int64)  # every site of an evaluation counts at "output"
    gr, gi = np.empty((K, M), np.int64), np.empty((K, M), np.int64)
    er, ei = np.empty((K, K), np.int64), np.empty((K, K), np.int64)
    tr, ti = np.empty((M, K), np.int64), np.empty((M, K), np.int64)
    ga_r, ga_i = np.empty((K, M), np.int64), np.empty((K, M), np.int64)
    ba_r, ba_i = np.empty((M, M), np.int64), np.empty((M, M), np.int64)
    ws = output_workspace(N, M, K)
    ft_c, ft_s = words_t(fc), words_t(fs)  # kept beside fc, fs by set_entry (the tail reads rows)
    exact_gram_t(words_t(hr), words_t(hi), ft_c, ft_s, ga_r, ga_i)
    exact_gram_t(ft_c, ft_s, ft_c, ft_s, ba_r, ba_i)
    best = score_sums_fx(ft_c, ft_s, ga_r, ga_i, ba_r, ba_i, noise, xi, gr, gi, tr, ti, er, ei, ws, fm, scratch, table)
    for _ in range(sweeps):
        changed = False
        for m in range(M):
            for n in range(N):
                cur = codes[n, m]
                best_c = cur
                for d in range(1, span + 1):
                    for sign in range(2):
                        c = (cur + d) & mask if sign == 0 else (cur - d) & mask
                        if c == cur or (sign == 1 and c == ((cur + d) & mask)):
                            continue
                        set_entry(hr, hi, fc, fs, ft_c, ft_s, n, m, lc[c], ls[c], ga_r, ga_i, ba_r, ba_i)
                        score = score_sums_fx(ft_c, ft_s, ga_r, ga_i, ba_r, ba_i, noise, xi, gr, gi, tr, ti, er, ei, ws,
                                              fm, scratch, table)
                        set_entry(hr, hi, fc, fs, ft_c, ft_s, n, m, lc[cur], ls[cur], ga_r, ga_i, ba_r, ba_i)
                        if score > best:
                            best = score
                            best_c = c
                codes[n, m] = best_c
                set_entry(hr, hi, fc, fs, ft_c, ft_s, n, m, lc[best_c], ls[best_c], ga_r, ga_i, ba_r, ba_i)
                if best_c != cur:
                    changed = True
        if not changed:
            break
    total = 0
    for i in range(scratch.shape[0]):
        total += scratch[i]
    cnt[S_OUT] += total
    output_fx(hr, hi, fc, fs, noise, xi, wr, wi, fm, cnt)


@njit(cache=True, parallel=True)
def search_fx_batch(h_r, h_i, noise, xi, sweeps, span, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, table):  # pragma: no cover
    """The search and the output stage on the last layer's codes, in place on (codes, W),
    parallel over the batch (after ``forward_fx_batch`` without an output stage)."""
    B = h_r.shape[0]
    last = fms.shape[0] - 1
    q = n_codes[last]
    for b in prange(B):
        fc, fs = table_words(lut_c[last], lut_s[last], codes[b])
        code_search_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[last, :q], lut_s[last, :q], noise[b], xi,
                       sweeps, span, w_r[b], w_i[b], fms[last], counts[b], table)
