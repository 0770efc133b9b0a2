"""Private Numba kernel of the bit-accurate UPGA forward (integer arithmetic only).

The datapath (the contract the integer reference ``tests/naive_fixed.py`` implements too):

* Precision may differ per layer (phase bits and the precoder format, hls4ml style): layer i
  reads its own table and formats, the initialisation uses layer 0's, and W is re-rounded into
  the next layer's precoder format when it changes.
* F is held as Q-bit phase codes; its entries are read from the (cos, sin) table ``L`` (format
  ``lut``, fraction bits fL).  W is held power-normalised, ``||F W_hw||_F^2 = N`` (format
  ``precoder``, fW); the true precoder is ``W = sqrt(P_t / N) W_hw``.  In these units the
  sum rate and both gradient steps are those of Algorithm 1 with the noise ``s2 N / P_t`` and
  the W step ``lambda N / P_t`` (E scales by rho = sqrt(P_t/N), a_k and b_k by rho^2, grad_F is
  unchanged and grad_W scales by 1/rho), so P_t enters only through these two per-channel
  inputs, and W's range does not depend on the SNR.
* Sums of products accumulate exactly in int64; each stored value is rounded once by its
  destination format's rule (``requant``) and saturated (or wrapped), every overflow counted per
  site.  Formats: H ``channel`` (fH); G, E, powers, norms, W before normalisation and the
  eq. (13) algebra ``accumulator`` (fA); reciprocals, C, D, gradients, the F update and the scale
  ``gradient`` (fG); step sizes ``step`` (fS).
* Eq. (6)-(7): ``x = L[c] + mu grad_F`` in the gradient format, new code
  ``argmax_c Re(x conj L[c])`` (:func:`kernels._core.codes.nearest_code`).
* Eq. (8)-(9): ``W_acc = W + lambda' grad_W`` in the accumulator format, then
  ``s = isqrt(N 2^(fA+2fG) // ||F W_acc||^2)`` and ``W = W_acc s``.
* ``1/a_k``, ``1/b_k``: one integer division each.  Eq. (13): ``(H^H H)^-1`` and
  ``(F^H F)^-1`` by Gauss-Jordan with partial pivoting on the real embedding, in the
  accumulator format (:mod:`kernels.upga._init_fixed`).
* Output stage (optional, after the last layer, in its formats; counter site ``output``): W
  becomes the transmit Wiener filter on the effective channel of the final codes (the
  regularised zero forcing of the PTQ refit baseline), see :func:`kernels.upga._output.output_fx`.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.fixed import (
    ACC,
    CH,
    GRD,
    LUT,
    PRE,
    STP,
    div_round,
    fit,
    int64_range,
    isqrt,
    requant,
    rshift,
    shift_by,
    shift_plan,
    word_of,
)
from hbf_edge.families.upga.config import COUNTER_SITES
from hbf_edge.kernels._core.codes import nearest_codes_block
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import mac_column
# saturation counter sites: the family's one tuple (its first site, "input", is the wrapper's)
SITES = COUNTER_SITES[1:]
S_INIT, S_G, S_E, S_POW, S_REC, S_C, S_D, S_GF, S_X, S_GW, S_WACC, S_NORM, S_W, S_OUT = int64_range(len(SITES))
NO_OUTPUT_STAGE = -1  # the xi word that switches the output stage off
WORK_ROWS = 9  # rows of work_rows: the F update's sums, x, the code decision's three, x of every column


@njit(cache=True)
def work_rows(N, M=1):  # pragma: no cover - compiled
    """The work rows of :func:`f_update_fx` (``N M`` long: the code decision takes every column
    of F at once) and :func:`normalize_fx` (the first ``N`` entries): one array per channel, not
    seven per F-step (the allocations were ~70 per forward)."""
    return np.empty((WORK_ROWS, N * M), np.int64)


@njit(cache=True)
def gain_fx(ht_r, ht_i, ft_c, ft_s, fm, cnt, gr, gi):  # pragma: no cover - compiled
    """``G = H^H F`` (accumulator) into gr/gi; ``ht_r, ht_i [K, N]`` hold H transposed,
    ``ft_c, ft_s [M, N]`` the table words of the codes, transposed.

    Each entry is one dot product over the antennas of rows (contiguous, so the exact int64
    sums vectorise), rounded once."""
    K, N = ht_r.shape
    M = ft_c.shape[0]
    fH, fL, fA = fm[CH, 0], fm[LUT, 0], fm[ACC, 0]
    for k in range(K):
        for m in range(M):
            sr = 0
            si = 0
            for n in range(N):
                sr += ht_r[k, n] * ft_c[m, n] + ht_i[k, n] * ft_s[m, n]
                si += ht_r[k, n] * ft_s[m, n] - ht_i[k, n] * ft_c[m, n]
            gr[k, m] = requant(sr, fH + fL - fA, fm[ACC], cnt, S_G)
            gi[k, m] = requant(si, fH + fL - fA, fm[ACC], cnt, S_G)


@njit(cache=True)
def received_fx(gr, gi, wr, wi, fm, cnt, er, ei):  # pragma: no cover - compiled
    """``E = G W`` (accumulator) into er/ei: ``E[k, l]`` is user k's gain on stream l."""
    K, M = gr.shape
    fW = fm[PRE, 0]
    for k in range(K):
        for l in range(K):
            sr = 0
            si = 0
            for m in range(M):
                sr += gr[k, m] * wr[m, l] - gi[k, m] * wi[m, l]
                si += gr[k, m] * wi[m, l] + gi[k, m] * wr[m, l]
            er[k, l] = requant(sr, fW, fm[ACC], cnt, S_E)
            ei[k, l] = requant(si, fW, fm[ACC], cnt, S_E)


@njit(cache=True)
def user_powers_fx(er, ei, k, noise, fm, cnt):  # pragma: no cover - compiled
    """User k's received power plus noise ``a_k`` and interference plus noise ``b_k``
    (accumulator; eq. 4: ``SINR_k = a_k / b_k - 1``)."""
    K = er.shape[0]
    fA = fm[ACC, 0]
    a = noise
    pkk = 0
    for l in range(K):
        p = requant(er[k, l] * er[k, l] + ei[k, l] * ei[k, l], fA, fm[ACC], cnt, S_POW)
        a += p
        if l == k:
            pkk = p
    a = fit(a, fm[ACC], cnt, S_POW)
    b = fit(a - pkk, fm[ACC], cnt, S_POW)
    return a, b


@njit(cache=True)
def weighted_e_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, fm, cnt, gr, gi, cr, ci, g_over=-1):  # pragma: no cover
    """``G = H^H F`` (acc) into gr/gi and ``C`` of eq. (10)-(11) (gradient) into cr/ci;
    returns the number of overflows G had.  ``ht_r, ht_i [K, N]``: H transposed.

    ``ft_c, ft_s [M, N]`` hold the table words of the current codes, transposed.
    ``g_over >= 0`` says gr/gi already hold G of these codes, with that many overflows (the
    previous W-step formed it and does not move F): G is not formed again, its overflows are
    counted again, so the counters are those of a datapath that forms G in every step.
    """
    K = ht_r.shape[0]
    fA, fG = fm[ACC, 0], fm[GRD, 0]
    if g_over < 0:
        before = cnt[S_G]
        gain_fx(ht_r, ht_i, ft_c, ft_s, fm, cnt, gr, gi)
        g_over = cnt[S_G] - before
    else:
        cnt[S_G] += g_over
    received_fx(gr, gi, wr, wi, fm, cnt, cr, ci)
    for k in range(K):
        a, b = user_powers_fx(cr, ci, k, noise, fm, cnt)
        one = 1 << (fA + fG)
        ra = fit(div_round(one, max(a, 1), fm[GRD, 3]), fm[GRD], cnt, S_REC)
        rb = fit(div_round(one, max(b, 1), fm[GRD, 3]), fm[GRD], cnt, S_REC)
        off = fit(ra - rb, fm[GRD], cnt, S_REC)
        for l in range(K):
            coef = ra if l == k else off
            cr[k, l] = requant(cr[k, l] * coef, fA, fm[GRD], cnt, S_C)
            ci[k, l] = requant(ci[k, l] * coef, fA, fm[GRD], cnt, S_C)
    return g_over


@njit(cache=True)
def d_fx(cr, ci, wr, wi, dr, di, fm, cnt):  # pragma: no cover - compiled
    """``D = C W^H`` (gradient format), the factor of eq. (10) left of H."""
    K, M = dr.shape
    fW = fm[PRE, 0]
    for k in range(K):
        for m in range(M):
            sr = 0
            si = 0
            for l in range(K):
                sr += cr[k, l] * wr[m, l] + ci[k, l] * wi[m, l]
                si += ci[k, l] * wr[m, l] - cr[k, l] * wi[m, l]
            dr[k, m] = requant(sr, fW, fm[GRD], cnt, S_D)
            di[k, m] = requant(si, fW, fm[GRD], cnt, S_D)


@njit(cache=True)
def f_update_fx(ht_r, ht_i, codes, fc, fs, ft_c, ft_s, lc, ls, dr, di, tt_r, tt_i, mu, to_code, fm,
                cnt, wk, keep_nm=True):  # pragma: no cover
    """``x = F + mu (H D - T)`` (gradient format) and projection (7), in place on the words
    of F, ``fc, fs [N, M]`` and their transpose ``ft_c, ft_s [M, N]`` (both kept): onto the
    code book (codes and their table words) if ``to_code``, else onto the unit circle,
    ``x / isqrt(|x|^2)`` in the lut format (``(1, 0)`` for ``x = 0``).  ``keep_nm`` False: on
    the code book, ``fc, fs`` are left as they are (UPGA's layers read only the transpose and
    write ``fc, fs`` once at their end, :func:`kernels.upga._batch.layers_fx_one`: the strided stores were 0.26 of a
    layer's 5.5 us at N = 64, M = K = 4, 2026-12-06, ``scratch/s66/fup_parts.py``).

    ``ht_r, ht_i [K, N]`` hold H transposed.  ``tt_r, tt_i [M, N]`` hold, transposed, a term
    already in the gradient format's units that is subtracted from the rate gradient before it
    is fitted (UPGANet's sensing term; zeros for UPGA).  ``wk``: :func:`work_rows`.

    Column by column of F, over the N antennas at once: H, F and T are read transposed, the rounding
    rules are constants (:func:`shift_plan`), the words are fitted without a branch
    (:func:`word_of`) and the overflows counted as sums, so the loops vectorise; the code
    decision is :func:`nearest_codes_block`.  Same words and counters as fitting one value at
    a time."""
    N, M = codes.shape
    fH, fL, fG, fS = fm[CH, 0], fm[LUT, 0], fm[GRD, 0], fm[STP, 0]
    lo, top, sat = fm[GRD, 1], fm[GRD, 2], fm[GRD, 4] != 0
    l1, r1, a1, o1 = shift_plan(fH, fm[GRD, 3])
    l2, r2, a2, o2 = shift_plan(fS, fm[GRD, 3])
    up = fG - fL
    # transposed operands: a column of F (or T) read with a stride of M words cost about as
    # much as the arithmetic (2.0 of 3.5 us in this loop without the code decision, 2026-12-04,
    # scratch/hw/fup_ab.py); the caller keeps F's transpose, so nothing is copied here
    # x column by column into xr, xi (the first N entries: this loop vectorises there), copied
    # into bx, by; then one code decision over all N M vectors (each column's x reads only its
    # own column of F): the table is checked once, not M times, and the decision's loops run N M
    # long (256 vectors at Q = 4: 0.65 against 4 x 64 in 1.18 us; writing x at its offset in
    # bx, by directly made this function slower, 2.94 -> 3.59 us, scratch/s68/hwpieces.py)
    if wk.shape[1] < M * N:
        raise ValueError("f_update_fx needs work_rows(N, M)")
    sr, si, xr, xi, best, best_p, tied, bx, by = wk[0], wk[1], wk[2], wk[3], wk[4], wk[5], wk[6], wk[7], wk[8]
    n_gf = 0
    n_x = 0
    for m in range(M):
        mac_column(ht_r, ht_i, dr, di, m, sr, si)  # column m of H D
        for n in range(N):
            g_r = shift_by(sr[n], l1, r1, a1, o1) - tt_r[m, n]
            g_i = shift_by(si[n], l1, r1, a1, o1) - tt_i[m, n]
            n_gf += ((g_r > top) | (g_r < lo)) + ((g_i > top) | (g_i < lo))
            x_r = (ft_c[m, n] << up) + shift_by(mu * word_of(g_r, lo, top, sat), l2, r2, a2, o2)
            x_i = (ft_s[m, n] << up) + shift_by(mu * word_of(g_i, lo, top, sat), l2, r2, a2, o2)
            n_x += ((x_r > top) | (x_r < lo)) + ((x_i > top) | (x_i < lo))
            xr[n] = word_of(x_r, lo, top, sat)
            xi[n] = word_of(x_i, lo, top, sat)
        o = m * N
        for n in range(N):
            bx[o + n] = xr[n]
            by[o + n] = xi[n]
    if to_code:
        nearest_codes_block(bx, by, lc, ls, best, best_p, tied, sr, si)
        for m in range(M):
            o = m * N
            for n in range(N):
                c = best[o + n]
                codes[n, m] = c
                ft_c[m, n] = lc[c]
                ft_s[m, n] = ls[c]
            if keep_nm:
                for n in range(N):
                    fc[n, m] = ft_c[m, n]
                    fs[n, m] = ft_s[m, n]
    else:
        for m in range(M):
            o = m * N
            for n in range(N):
                r = isqrt(bx[o + n] * bx[o + n] + by[o + n] * by[o + n])
                if r == 0:
                    fc[n, m] = 1 << fL
                    fs[n, m] = 0
                else:
                    fc[n, m] = fit(div_round(bx[o + n] << fL, r, fm[LUT, 3]), fm[LUT], cnt, S_X)
                    fs[n, m] = fit(div_round(by[o + n] << fL, r, fm[LUT, 3]), fm[LUT], cnt, S_X)
                ft_c[m, n] = fc[n, m]
                ft_s[m, n] = fs[n, m]
    cnt[S_GF] += n_gf
    cnt[S_X] += n_x


@njit(cache=True)
def f_step_fx(ht_r, ht_i, codes, fc, fs, ft_c, ft_s, lc, ls, wr, wi, noise, mu, fm, cnt, gr, gi, cr, ci, dr, di,
              zr, zi, wk, g_over=-1):  # pragma: no cover
    """Eq. (6)-(7) on the codes and their table words transposed ``ft_c, ft_s`` in place;
    ``fc, fs`` are not written (:func:`f_update_fx`'s ``keep_nm``) (``ht_r, ht_i``: H transposed;
    ``zr, zi``: zeros [M, N]; ``wk``: :func:`work_rows`; ``g_over`` as in :func:`weighted_e_fx`)."""
    weighted_e_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, fm, cnt, gr, gi, cr, ci, g_over)
    d_fx(cr, ci, wr, wi, dr, di, fm, cnt)
    f_update_fx(ht_r, ht_i, codes, fc, fs, ft_c, ft_s, lc, ls, dr, di, zr, zi, mu, np.bool_(True), fm, cnt, wk,
                np.bool_(False))  # np.bool_, not literals: UPGANet's call has the same types (one compilation)


@njit(cache=True)
def normalize_fx(ft_c, ft_s, ar, ai, wr, wi, fm, cnt, wk):  # pragma: no cover - compiled
    """Eq. (9) in the normalised units: ``W = W_acc sqrt(N / ||F W_acc||^2)`` (precoder);
    ``ft_c, ft_s [M, N]``: F's table words, transposed; ``wk``: :func:`work_rows` (two rows used).

    ``F W_acc`` column by column over the antennas at once (the rounding, fitting and counting
    branch-free as in :func:`f_update_fx`)."""
    M, N = ft_c.shape
    K = ar.shape[1]
    fL, fA, fG, fW = fm[LUT, 0], fm[ACC, 0], fm[GRD, 0], fm[PRE, 0]
    lo, top, sat = fm[ACC, 1], fm[ACC, 2], fm[ACC, 4] != 0
    l1, r1, a1, o1 = shift_plan(fL, fm[ACC, 3])
    l2, r2, a2, o2 = shift_plan(fA, fm[ACC, 3])
    sr, si = wk[0], wk[1]
    norm2 = 0
    n_over = 0
    for l in range(K):
        mac_column(ft_c, ft_s, ar, ai, l, sr, si)  # column l of F W_acc
        for n in range(N):
            xr = shift_by(sr[n], l1, r1, a1, o1)
            xi = shift_by(si[n], l1, r1, a1, o1)
            n_over += ((xr > top) | (xr < lo)) + ((xi > top) | (xi < lo))
            xr = word_of(xr, lo, top, sat)
            xi = word_of(xi, lo, top, sat)
            p = shift_by(xr * xr + xi * xi, l2, r2, a2, o2)
            n_over += (p > top) | (p < lo)
            norm2 += word_of(p, lo, top, sat)
    cnt[S_NORM] += n_over
    norm2 = max(fit(norm2, fm[ACC], cnt, S_NORM), 1)
    s = fit(isqrt((N << (fA + 2 * fG)) // norm2), fm[GRD], cnt, S_NORM)
    for m in range(M):
        for l in range(K):
            wr[m, l] = requant(ar[m, l] * s, fA + fG - fW, fm[PRE], cnt, S_W)
            wi[m, l] = requant(ai[m, l] * s, fA + fG - fW, fm[PRE], cnt, S_W)


@njit(cache=True)
def w_update_fx(gr, gi, cr, ci, wr, wi, vr, vi, lam, ar, ai, fm, cnt):  # pragma: no cover - compiled
    """``W_acc = W + lambda' (G^H C - V)`` (accumulator) before the normalisation of eq. (9);
    ``V [M, K]`` is a term in the gradient format's units subtracted before fitting (zeros for
    UPGA)."""
    M, K = wr.shape
    fA, fG, fS, fW = fm[ACC, 0], fm[GRD, 0], fm[STP, 0], fm[PRE, 0]
    gmode = fm[GRD, 3]
    for m in range(M):
        for l in range(K):
            sr = 0
            si = 0
            for k in range(K):  # eq. (8): G^H C
                sr += gr[k, m] * cr[k, l] + gi[k, m] * ci[k, l]
                si += gr[k, m] * ci[k, l] - gi[k, m] * cr[k, l]
            gw_r = fit(rshift(sr, fA, gmode) - vr[m, l], fm[GRD], cnt, S_GW)
            gw_i = fit(rshift(si, fA, gmode) - vi[m, l], fm[GRD], cnt, S_GW)
            ar[m, l] = fit((wr[m, l] << (fA - fW)) + rshift(lam * gw_r, fS + fG - fA, fm[ACC, 3]),
                           fm[ACC], cnt, S_WACC)
            ai[m, l] = fit((wi[m, l] << (fA - fW)) + rshift(lam * gw_i, fS + fG - fA, fm[ACC, 3]),
                           fm[ACC], cnt, S_WACC)


@njit(cache=True)
def w_step_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, lam, fm, cnt, gr, gi, cr, ci, ar, ai, zr,
              zi, wk):  # pragma: no cover
    """Eq. (8)-(9) on W, in place (``ht_r, ht_i``: H transposed, ``ft_c, ft_s``: F's words
    transposed; ``ar``/``ai`` hold W before normalisation; ``zr, zi`` zeros [M, K]); returns
    the overflows of G, which gr/gi still hold."""
    g_over = weighted_e_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, fm, cnt, gr, gi, cr, ci, np.int64(-1))
    w_update_fx(gr, gi, cr, ci, wr, wi, zr, zi, lam, ar, ai, fm, cnt)
    normalize_fx(ft_c, ft_s, ar, ai, wr, wi, fm, cnt, wk)
    return g_over


@njit(cache=True)
def convert_w(wr, wi, f_from, fm, cnt):  # pragma: no cover - compiled
    """Re-round W from ``f_from`` fraction bits into this layer's precoder format."""
    M, K = wr.shape
    for m in range(M):
        for l in range(K):
            wr[m, l] = requant(wr[m, l], f_from - fm[PRE, 0], fm[PRE], cnt, S_W)
            wi[m, l] = requant(wi[m, l], f_from - fm[PRE, 0], fm[PRE], cnt, S_W)


@njit(cache=True)
def table_words(lc, ls, codes):  # pragma: no cover - compiled
    """The (cos, sin) table words ``fc, fs [N, M]`` of ``codes`` in the table ``lc, ls``."""
    fc = np.empty(codes.shape, np.int64)
    fs = np.empty(codes.shape, np.int64)
    table_words_into(lc, ls, codes, fc, fs)
    return fc, fs


@njit(cache=True)
def table_words_into(lc, ls, codes, fc, fs):  # pragma: no cover - compiled
    """:func:`table_words` into the caller's ``fc, fs``."""
    N, M = codes.shape
    for n in range(N):
        for m in range(M):
            fc[n, m] = lc[codes[n, m]]
            fs[n, m] = ls[codes[n, m]]
