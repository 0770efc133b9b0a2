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
  ``argmax_c Re(x conj L[c])`` (:func:`kernels._fixed.nearest_code`).
* Eq. (8)-(9): ``W_acc = W + lambda' grad_W`` in the accumulator format, then
  ``s = isqrt(N 2^(fA+2fG) // ||F W_acc||^2)`` and ``W = W_acc s``.
* ``1/a_k``, ``1/b_k``: one integer division each.  Eq. (13): ``(H^H H)^-1`` and
  ``(F^H F)^-1`` by Gauss-Jordan with partial pivoting on the real embedding, in the
  accumulator format.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._fixed import div_round, fit, isqrt, nearest_code, requant, rshift
from ._linalg import pivot_rows

# rows of the format table (kernels.tables.FORMAT_NAMES)
CH, LUT, ACC, GRD, STP, PRE = 0, 1, 2, 3, 4, 5
# saturation counter sites
SITES = ("init", "G", "E", "power", "reciprocal", "C", "D", "grad_F", "F_update", "grad_W",
         "W_update", "norm", "W")
S_INIT, S_G, S_E, S_POW, S_REC, S_C, S_D, S_GF, S_X, S_GW, S_WACC, S_NORM, S_W = range(13)


@njit(cache=True)
def weighted_e_fx(hr, hi, fc, fs, wr, wi, noise, fm, cnt, gr, gi, cr, ci):  # pragma: no cover
    """``G = H^H F`` (acc) into gr/gi and ``C`` of eq. (10)-(11) (gradient) into cr/ci.

    ``fc, fs [N, M]`` hold the table words of the current codes (gathered once per change).
    """
    N, K = hr.shape
    M = fc.shape[1]
    fH, fL, fA, fG, fW = fm[CH, 0], fm[LUT, 0], fm[ACC, 0], fm[GRD, 0], fm[PRE, 0]
    for k in range(K):
        for m in range(M):
            gr[k, m] = 0
            gi[k, m] = 0
    for n in range(N):
        for k in range(K):
            xr = hr[n, k]
            xi = hi[n, k]
            for m in range(M):
                gr[k, m] += xr * fc[n, m] + xi * fs[n, m]
                gi[k, m] += xr * fs[n, m] - xi * fc[n, m]
    for k in range(K):
        for m in range(M):
            gr[k, m] = requant(gr[k, m], fH + fL - fA, fm[ACC], cnt, S_G)
            gi[k, m] = requant(gi[k, m], fH + fL - fA, fm[ACC], cnt, S_G)
    for k in range(K):
        for l in range(K):
            er = 0
            ei = 0
            for m in range(M):
                er += gr[k, m] * wr[m, l] - gi[k, m] * wi[m, l]
                ei += gr[k, m] * wi[m, l] + gi[k, m] * wr[m, l]
            cr[k, l] = requant(er, fW, fm[ACC], cnt, S_E)
            ci[k, l] = requant(ei, fW, fm[ACC], cnt, S_E)
    for k in range(K):
        a = noise
        pkk = 0
        for l in range(K):
            p = requant(cr[k, l] * cr[k, l] + ci[k, l] * ci[k, l], fA, fm[ACC], cnt, S_POW)
            a += p
            if l == k:
                pkk = p
        a = fit(a, fm[ACC], cnt, S_POW)
        b = fit(a - pkk, fm[ACC], cnt, S_POW)
        one = 1 << (fA + fG)
        ra = fit(div_round(one, max(a, 1), fm[GRD, 3]), fm[GRD], cnt, S_REC)
        rb = fit(div_round(one, max(b, 1), fm[GRD, 3]), fm[GRD], cnt, S_REC)
        off = fit(ra - rb, fm[GRD], cnt, S_REC)
        for l in range(K):
            coef = ra if l == k else off
            cr[k, l] = requant(cr[k, l] * coef, fA, fm[GRD], cnt, S_C)
            ci[k, l] = requant(ci[k, l] * coef, fA, fm[GRD], cnt, S_C)


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
def f_update_fx(hr, hi, codes, fc, fs, lc, ls, dr, di, tr, ti, mu, to_code, fm, cnt):  # pragma: no cover
    """``x = F + mu (H D - T)`` (gradient format) and projection (7), in place on the words
    fc, fs of F: onto the code book (codes and their table words) if ``to_code``, else onto
    the unit circle, ``x / isqrt(|x|^2)`` in the lut format (``(1, 0)`` for ``x = 0``).

    ``T [N, M]`` is a term already in the gradient format's units that is subtracted from the
    rate gradient before it is fitted (UPGANet's sensing term; zeros for UPGA)."""
    N, K = hr.shape
    M = codes.shape[1]
    fH, fL, fG, fS = fm[CH, 0], fm[LUT, 0], fm[GRD, 0], fm[STP, 0]
    gmode = fm[GRD, 3]
    up = fG - fL
    for n in range(N):
        for m in range(M):
            sr = 0
            si = 0
            for k in range(K):
                sr += hr[n, k] * dr[k, m] - hi[n, k] * di[k, m]
                si += hr[n, k] * di[k, m] + hi[n, k] * dr[k, m]
            g_r = fit(rshift(sr, fH, gmode) - tr[n, m], fm[GRD], cnt, S_GF)
            g_i = fit(rshift(si, fH, gmode) - ti[n, m], fm[GRD], cnt, S_GF)
            x_r = fit((fc[n, m] << up) + rshift(mu * g_r, fS, gmode), fm[GRD], cnt, S_X)
            x_i = fit((fs[n, m] << up) + rshift(mu * g_i, fS, gmode), fm[GRD], cnt, S_X)
            if to_code:
                c = nearest_code(x_r, x_i, lc, ls)
                codes[n, m] = c
                fc[n, m] = lc[c]
                fs[n, m] = ls[c]
            else:
                r = isqrt(x_r * x_r + x_i * x_i)
                if r == 0:
                    fc[n, m] = 1 << fL
                    fs[n, m] = 0
                else:
                    fc[n, m] = fit(div_round(x_r << fL, r, fm[LUT, 3]), fm[LUT], cnt, S_X)
                    fs[n, m] = fit(div_round(x_i << fL, r, fm[LUT, 3]), fm[LUT], cnt, S_X)


@njit(cache=True)
def f_step_fx(hr, hi, codes, fc, fs, lc, ls, wr, wi, noise, mu, fm, cnt, gr, gi, cr, ci, dr, di, zr, zi):  # pragma: no cover
    """Eq. (6)-(7) on the codes (and their table words fc, fs), in place (``zr, zi``: zeros [N, M])."""
    weighted_e_fx(hr, hi, fc, fs, wr, wi, noise, fm, cnt, gr, gi, cr, ci)
    d_fx(cr, ci, wr, wi, dr, di, fm, cnt)
    f_update_fx(hr, hi, codes, fc, fs, lc, ls, dr, di, zr, zi, mu, True, fm, cnt)


@njit(cache=True)
def normalize_fx(fc, fs, ar, ai, wr, wi, fm, cnt):  # pragma: no cover - compiled
    """Eq. (9) in the normalised units: ``W = W_acc sqrt(N / ||F W_acc||^2)`` (precoder)."""
    N, M = fc.shape
    K = ar.shape[1]
    fL, fA, fG, fW = fm[LUT, 0], fm[ACC, 0], fm[GRD, 0], fm[PRE, 0]
    norm2 = 0
    for n in range(N):
        for l in range(K):
            sr = 0
            si = 0
            for m in range(M):
                sr += fc[n, m] * ar[m, l] - fs[n, m] * ai[m, l]
                si += fc[n, m] * ai[m, l] + fs[n, m] * ar[m, l]
            xr = requant(sr, fL, fm[ACC], cnt, S_NORM)
            xi = requant(si, fL, fm[ACC], cnt, S_NORM)
            norm2 += requant(xr * xr + xi * xi, fA, fm[ACC], cnt, S_NORM)
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
def w_step_fx(hr, hi, fc, fs, wr, wi, noise, lam, fm, cnt, gr, gi, cr, ci, ar, ai, zr, zi):  # pragma: no cover
    """Eq. (8)-(9) on W, in place (``ar``/``ai`` hold W before normalisation; ``zr, zi``
    zeros [M, K])."""
    weighted_e_fx(hr, hi, fc, fs, wr, wi, noise, fm, cnt, gr, gi, cr, ci)
    w_update_fx(gr, gi, cr, ci, wr, wi, zr, zi, lam, ar, ai, fm, cnt)
    normalize_fx(fc, fs, ar, ai, wr, wi, fm, cnt)


@njit(cache=True)
def inv_fx(a, out, fm, cnt):  # pragma: no cover - compiled
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
            cnt[S_INIT] += 1
            continue
        r = fit(div_round(1 << (2 * fA), p, mode), fm[ACC], cnt, S_INIT)
        for j in range(n):
            a[col, j] = requant(a[col, j] * r, fA, fm[ACC], cnt, S_INIT)
            out[col, j] = requant(out[col, j] * r, fA, fm[ACC], cnt, S_INIT)
        for row in range(n):
            if row != col:
                f = a[row, col]
                if f != 0:
                    for j in range(n):
                        a[row, j] = fit(a[row, j] - rshift(f * a[col, j], fA, mode), fm[ACC], cnt, S_INIT)
                        out[row, j] = fit(out[row, j] - rshift(f * out[col, j], fA, mode), fm[ACC], cnt, S_INIT)


@njit(cache=True)
def cinv_fx(xr, xi, outr, outi, fm, cnt):  # pragma: no cover - compiled
    """Complex inverse through the real embedding ``[[Xr, -Xi], [Xi, Xr]]``."""
    n = xr.shape[0]
    big = np.empty((2 * n, 2 * n), np.int64)
    inv = np.empty((2 * n, 2 * n), np.int64)
    for i in range(n):
        for j in range(n):
            big[i, j] = xr[i, j]
            big[i, j + n] = -xi[i, j]
            big[i + n, j] = xi[i, j]
            big[i + n, j + n] = xr[i, j]
    inv_fx(big, inv, fm, cnt)
    for i in range(n):
        for j in range(n):
            outr[i, j] = inv[i, j]
            outi[i, j] = inv[i + n, j]


@njit(cache=True)
def gram_fx(ar, ai, br, bi, outr, outi, shift, fm, cnt):  # pragma: no cover - compiled
    """``out = A^H B`` (A [N, P], B [N, Q]) rounded down by ``shift`` bits into the accumulator."""
    N, P = ar.shape
    Q = br.shape[1]
    for i in range(P):
        for j in range(Q):
            sr = 0
            si = 0
            for n in range(N):
                sr += ar[n, i] * br[n, j] + ai[n, i] * bi[n, j]
                si += ar[n, i] * bi[n, j] - ai[n, i] * br[n, j]
            outr[i, j] = requant(sr, shift, fm[ACC], cnt, S_INIT)
            outi[i, j] = requant(si, shift, fm[ACC], cnt, S_INIT)


@njit(cache=True)
def matmul_fx(ar, ai, br, bi, outr, outi, shift, fm, cnt):  # pragma: no cover - compiled
    """``out = A B`` (A [P, R], B [R, Q]) rounded down by ``shift`` bits into the accumulator."""
    P, R = ar.shape
    Q = br.shape[1]
    for i in range(P):
        for j in range(Q):
            sr = 0
            si = 0
            for r in range(R):
                sr += ar[i, r] * br[r, j] - ai[i, r] * bi[r, j]
                si += ar[i, r] * bi[r, j] + ai[i, r] * br[r, j]
            outr[i, j] = requant(sr, shift, fm[ACC], cnt, S_INIT)
            outi[i, j] = requant(si, shift, fm[ACC], cnt, S_INIT)


@njit(cache=True)
def init_fx(hr, hi, codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai):  # pragma: no cover - compiled
    """Eq. (12)-(13) in fixed point: codes of the channel phases plus DFT codes, then W."""
    N, K = hr.shape
    M = codes.shape[1]
    n_codes = lc.shape[0]
    for n in range(N):
        for m in range(K, M):  # nearest code of -2 pi n (m-K) / N: floor(x + 1/2) in integers
            codes[n, m] = ((-2 * n * (m - K) * n_codes + N) // (2 * N)) % n_codes
    init_w_fx(hr, hi, codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai)


@njit(cache=True)
def init_w_fx(hr, hi, codes, fc, fs, lc, ls, wr, wi, fm, cnt, ar, ai):  # pragma: no cover - compiled
    """Codes ``[:, :K]`` of the channel phases (``codes[:, K:]`` are given), their table words,
    then ``W_acc = (F^H F)^-1 F^H H (H^H H)^-1`` and the normalisation (eq. 13 of the UPGA
    paper, eq. 17 of the UPGANet paper)."""
    N, K = hr.shape
    M = codes.shape[1]
    fH, fL, fA = fm[CH, 0], fm[LUT, 0], fm[ACC, 0]
    for n in range(N):
        for k in range(K):
            codes[n, k] = nearest_code(hr[n, k], hi[n, k], lc, ls)
        for m in range(M):
            fc[n, m] = lc[codes[n, m]]
            fs[n, m] = ls[codes[n, m]]
    a_r, a_i = np.empty((K, K), np.int64), np.empty((K, K), np.int64)
    ainv_r, ainv_i = np.empty((K, K), np.int64), np.empty((K, K), np.int64)
    z_r, z_i = np.empty((N, K), np.int64), np.empty((N, K), np.int64)
    b_r, b_i = np.empty((M, M), np.int64), np.empty((M, M), np.int64)
    binv_r, binv_i = np.empty((M, M), np.int64), np.empty((M, M), np.int64)
    t_r, t_i = np.empty((M, K), np.int64), np.empty((M, K), np.int64)
    gram_fx(hr, hi, hr, hi, a_r, a_i, 2 * fH - fA, fm, cnt)  # A = H^H H
    cinv_fx(a_r, a_i, ainv_r, ainv_i, fm, cnt)
    matmul_fx(hr, hi, ainv_r, ainv_i, z_r, z_i, fH, fm, cnt)  # (H^H)^+ = H A^-1
    gram_fx(fc, fs, fc, fs, b_r, b_i, 2 * fL - fA, fm, cnt)  # F^H F
    gram_fx(fc, fs, z_r, z_i, t_r, t_i, fL, fm, cnt)  # F^H (H^H)^+
    cinv_fx(b_r, b_i, binv_r, binv_i, fm, cnt)
    matmul_fx(binv_r, binv_i, t_r, t_i, ar, ai, fA, fm, cnt)  # W_acc = (F^H F)^-1 F^H (H^H)^+
    normalize_fx(fc, fs, ar, ai, wr, wi, fm, cnt)


@njit(cache=True)
def convert_w(wr, wi, f_from, fm, cnt):  # pragma: no cover - compiled
    """Re-round W from ``f_from`` fraction bits into this layer's precoder format."""
    M, K = wr.shape
    for m in range(M):
        for l in range(K):
            wr[m, l] = requant(wr[m, l], f_from - fm[PRE, 0], fm[PRE], cnt, S_W)
            wi[m, l] = requant(wi[m, l], f_from - fm[PRE, 0], fm[PRE], cnt, S_W)


@njit(cache=True)
def layers_fx_one(hr, hi, cd, fc, fs, wr, wi, noise, mu, lam, lut_c, lut_s, n_codes, fms, cnt, first,
                  gr, gi, cr, ci, dr, di, ar, ai):  # pragma: no cover - compiled
    """Layers ``first .. first + len(lam) - 1`` on one channel (``mu`` and ``lam`` hold their
    rows); layer ``i`` reads its own table and formats."""
    N, M = fc.shape
    K = hr.shape[1]
    zf = np.zeros((N, M), np.int64)  # UPGA has no sensing term (see f_update_fx, w_update_fx)
    zw = np.zeros((M, K), np.int64)
    for t in range(lam.shape[0]):
        i = first + t
        lc = lut_c[i, :n_codes[i]]
        ls = lut_s[i, :n_codes[i]]
        fm = fms[i]
        if i > 0 and (fms[i - 1, PRE, 0] != fm[PRE, 0] or fms[i - 1, PRE, 2] != fm[PRE, 2]):
            convert_w(wr, wi, fms[i - 1, PRE, 0], fm, cnt)
        for j in range(mu.shape[1]):
            f_step_fx(hr, hi, cd, fc, fs, lc, ls, wr, wi, noise, mu[t, j], fm, cnt, gr, gi, cr, ci, dr, di, zf, zf)
        w_step_fx(hr, hi, fc, fs, wr, wi, noise, lam[t], fm, cnt, gr, gi, cr, ci, ar, ai, zw, zw)


@njit(cache=True)
def _buffers(N, M, K):  # pragma: no cover - compiled
    return (np.empty((K, M), np.int64), np.empty((K, M), np.int64), np.empty((K, K), np.int64),
            np.empty((K, K), np.int64), np.empty((K, M), np.int64), np.empty((K, M), np.int64),
            np.empty((M, K), np.int64), np.empty((M, K), np.int64), np.empty((N, M), np.int64),
            np.empty((N, M), np.int64))


@njit(cache=True, parallel=True)
def forward_fx_batch(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts):  # pragma: no cover
    """Initialisation and ``I`` layers for every channel, parallel over the batch.

    ``noise [B]`` (accumulator) and ``lam [B, I]`` (step) are the per-channel normalised
    inputs; ``mu [I, J]`` (step).  Layer ``i`` computes with its own phase table
    ``lut_c[i, :n_codes[i]]`` and formats ``fms[i]``; the initialisation uses layer 0's.  The
    model-wide formats (all but the precoder's) are the same in every ``fms[i]``.
    """
    B, N, K = h_r.shape
    M = codes.shape[2]
    for b in prange(B):
        gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
        init_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], w_r[b], w_i[b],
                fms[0], counts[b], ar, ai)
        layers_fx_one(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu, lam[b], lut_c, lut_s, n_codes,
                      fms, counts[b], 0, gr, gi, cr, ci, dr, di, ar, ai)


@njit(cache=True, parallel=True)
def init_fx_batch(h_r, h_i, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts):  # pragma: no cover
    """The initialisation alone (layer 0's precision), for per-stage profiling."""
    B, N, K = h_r.shape
    M = codes.shape[2]
    for b in prange(B):
        gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
        init_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], w_r[b], w_i[b],
                fms[0], counts[b], ar, ai)


@njit(cache=True, parallel=True)
def layers_fx_batch(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, first):  # pragma: no cover
    """Layers ``first ..`` (rows of ``mu [I', J]``, ``lam [B, I']``) in place on (codes, W); the
    table words of the incoming codes come from the table of the layer that chose them."""
    B, N, K = h_r.shape
    M = codes.shape[2]
    src = first - 1 if first > 0 else 0
    for b in prange(B):
        gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
        for n in range(N):
            for m in range(M):
                fc[n, m] = lut_c[src, codes[b, n, m]]
                fs[n, m] = lut_s[src, codes[b, n, m]]
        layers_fx_one(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu, lam[b], lut_c, lut_s, n_codes,
                      fms, counts[b], first, gr, gi, cr, ci, dr, di, ar, ai)
