"""Private Numba kernels of the unfolded PGA forward in real arithmetic (float32 | float64).

Mirrors :mod:`hbf_edge.upga` operation for operation (paper ``upga_multiuser_hbf.txt``,
Algorithm 1).  Per channel everything is O(NMK): with ``G = H^H F`` and ``E = G W``,

* eq. (10): ``grad_F = H (C W^H)``,  eq. (11): ``grad_W = G^H C``,
* ``C_kl = E_kl (1/a_k - [l != k]/b_k)``, ``a_k = sum_l |E_kl|^2 + s2``, ``b_k = a_k - |E_kk|^2``.

Layouts: ``H [N, K]``, ``F [N, M]``, ``W [M, K]`` row-major per channel, so every O(N) loop
walks rows of H and F contiguously.  Each channel gets its work buffers once, before the layer
loop; nothing is allocated per layer.  ``zero`` is a scalar of the working dtype: accumulators
start from it so a float32 kernel computes in float32.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._linalg import cinv, gram_ah_b, matmul


@njit(cache=True)
def weighted_e(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci):  # pragma: no cover - compiled
    """``G = H^H F`` into (gr, gi) and the weights ``C`` of eq. (10)-(11) into (cr, ci)."""
    gram_ah_b(hr, hi, fr, fi, gr, gi)
    matmul(gr, gi, wr, wi, cr, ci)  # E = G W
    K = cr.shape[0]
    for k in range(K):
        a = s2
        for l in range(K):
            a += cr[k, l] * cr[k, l] + ci[k, l] * ci[k, l]
        b = a - (cr[k, k] * cr[k, k] + ci[k, k] * ci[k, k])
        inv_a = 1 / a
        off = inv_a - 1 / b
        for l in range(K):
            coef = inv_a if l == k else off
            cr[k, l] *= coef
            ci[k, l] *= coef


@njit(cache=True)
def f_step_one(hr, hi, fr, fi, wr, wi, s2, mu, gr, gi, cr, ci, dr, di, zero):  # pragma: no cover
    """One projected F-step, eq. (6)-(7), in place on (fr, fi)."""
    N, K = hr.shape
    M = fr.shape[1]
    weighted_e(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci)
    for k in range(K):  # D = C W^H  [K, M]
        for m in range(M):
            sr = zero
            si = zero
            for l in range(K):
                sr += cr[k, l] * wr[m, l] + ci[k, l] * wi[m, l]
                si += ci[k, l] * wr[m, l] - cr[k, l] * wi[m, l]
            dr[k, m] = sr
            di[k, m] = si
    for n in range(N):  # F <- P_unit(F + mu H D), entry by entry (D holds the old F's gradient)
        for m in range(M):
            gre = zero
            gim = zero
            for k in range(K):
                gre += hr[n, k] * dr[k, m] - hi[n, k] * di[k, m]
                gim += hr[n, k] * di[k, m] + hi[n, k] * dr[k, m]
            xr = fr[n, m] + mu * gre
            xi = fi[n, m] + mu * gim
            mag = math.sqrt(xr * xr + xi * xi)
            if mag > 0:
                fr[n, m] = xr / mag
                fi[n, m] = xi / mag
            else:  # eq. (7) is undefined at 0: phase 0, as hbf_edge.upga does
                fr[n, m] = 1
                fi[n, m] = 0


@njit(cache=True)
def normalize_one(fr, fi, wr, wi, pt, zero):  # pragma: no cover - compiled
    """Eq. (9) with sqrt(P_t): ``W <- sqrt(P_t) W / ||F W||_F`` in place."""
    N, M = fr.shape
    K = wr.shape[1]
    total = zero
    for n in range(N):
        for l in range(K):
            xr = zero
            xi = zero
            for m in range(M):
                xr += fr[n, m] * wr[m, l] - fi[n, m] * wi[m, l]
                xi += fr[n, m] * wi[m, l] + fi[n, m] * wr[m, l]
            total += xr * xr + xi * xi
    scale = math.sqrt(pt) / math.sqrt(total)
    for m in range(M):
        for l in range(K):
            wr[m, l] *= scale
            wi[m, l] *= scale


@njit(cache=True)
def w_step_one(hr, hi, fr, fi, wr, wi, pt, s2, lam, gr, gi, cr, ci, zero):  # pragma: no cover
    """One W-step, eq. (8)-(9), in place on (wr, wi)."""
    K = hr.shape[1]
    M = fr.shape[1]
    weighted_e(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci)
    for m in range(M):  # W <- W + lam G^H C
        for l in range(K):
            sr = zero
            si = zero
            for k in range(K):
                sr += gr[k, m] * cr[k, l] + gi[k, m] * ci[k, l]
                si += gr[k, m] * ci[k, l] - gi[k, m] * cr[k, l]
            wr[m, l] += lam * sr
            wi[m, l] += lam * si
    normalize_one(fr, fi, wr, wi, pt, zero)


@njit(cache=True)
def init_one(hr, hi, pt, fr, fi, wr, wi, zero):  # pragma: no cover - compiled
    """Eq. (12)-(13): ``F_0 = exp(j angle H)`` (+ DFT beams if M > K), ``W_0 = F_0^+ (H^H)^+``."""
    N, K = hr.shape
    M = fr.shape[1]
    dt = hr.dtype
    for n in range(N):
        for k in range(K):
            mag = math.sqrt(hr[n, k] * hr[n, k] + hi[n, k] * hi[n, k])
            if mag > 0:
                fr[n, k] = hr[n, k] / mag
                fi[n, k] = hi[n, k] / mag
            else:
                fr[n, k] = 1
                fi[n, k] = 0
        for m in range(K, M):
            ang = -2.0 * math.pi * n * (m - K) / N
            fr[n, m] = math.cos(ang)
            fi[n, m] = math.sin(ang)
    ar = np.empty((K, K), dt)
    ai = np.empty((K, K), dt)
    air = np.empty((K, K), dt)
    aii = np.empty((K, K), dt)
    gram_ah_b(hr, hi, hr, hi, ar, ai)
    cinv(ar, ai, air, aii, np.empty((2 * K, 2 * K), dt), np.empty((2 * K, 2 * K), dt))
    zr = np.empty((N, K), dt)
    zi = np.empty((N, K), dt)
    matmul(hr, hi, air, aii, zr, zi)  # (H^H)^+ = H (H^H H)^-1
    br = np.empty((M, M), dt)
    bi = np.empty((M, M), dt)
    bir = np.empty((M, M), dt)
    bii = np.empty((M, M), dt)
    gram_ah_b(fr, fi, fr, fi, br, bi)
    cinv(br, bi, bir, bii, np.empty((2 * M, 2 * M), dt), np.empty((2 * M, 2 * M), dt))
    tr = np.empty((M, K), dt)
    ti = np.empty((M, K), dt)
    gram_ah_b(fr, fi, zr, zi, tr, ti)  # F^H (H^H)^+
    matmul(bir, bii, tr, ti, wr, wi)  # (F^H F)^-1 F^H (H^H)^+
    normalize_one(fr, fi, wr, wi, pt, zero)


@njit(cache=True)
def layers_one(hr, hi, fr, fi, wr, wi, pt, s2, mu, lam, zero):  # pragma: no cover - compiled
    """Layers ``mu [I, J]``, ``lam [I]`` in place on one channel's (F, W); buffers once."""
    K = hr.shape[1]
    M = fr.shape[1]
    I, J = mu.shape
    gr = np.empty((K, M), hr.dtype)
    gi = np.empty((K, M), hr.dtype)
    cr = np.empty((K, K), hr.dtype)
    ci = np.empty((K, K), hr.dtype)
    dr = np.empty((K, M), hr.dtype)
    di = np.empty((K, M), hr.dtype)
    for i in range(I):
        for j in range(J):
            f_step_one(hr, hi, fr, fi, wr, wi, s2, mu[i, j], gr, gi, cr, ci, dr, di, zero)
        w_step_one(hr, hi, fr, fi, wr, wi, pt, s2, lam[i], gr, gi, cr, ci, zero)


@njit(cache=True, parallel=True)
def forward_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):  # pragma: no cover
    """Initialisation and ``I`` layers for every channel; parallel over the batch."""
    for b in prange(h_re.shape[0]):
        init_one(h_re[b], h_im[b], p_t[b], f_re[b], f_im[b], w_re[b], w_im[b], zero)
        layers_one(h_re[b], h_im[b], f_re[b], f_im[b], w_re[b], w_im[b], p_t[b], noise[b], mu, lam, zero)


@njit(cache=True, parallel=True)
def init_batch(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero):  # pragma: no cover - compiled
    for b in prange(h_re.shape[0]):
        init_one(h_re[b], h_im[b], p_t[b], f_re[b], f_im[b], w_re[b], w_im[b], zero)


@njit(cache=True, parallel=True)
def layers_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):  # pragma: no cover
    """A run of layers (one layer for per-layer profiling) in place on every channel's (F, W)."""
    for b in prange(h_re.shape[0]):
        layers_one(h_re[b], h_im[b], f_re[b], f_im[b], w_re[b], w_im[b], p_t[b], noise[b], mu, lam, zero)


@njit(cache=True, parallel=True)
def f_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, noise, mu, zero):  # pragma: no cover
    B, N, K = h_re.shape
    M = f_re.shape[2]
    for b in prange(B):
        gr = np.empty((K, M), h_re.dtype)
        gi = np.empty((K, M), h_re.dtype)
        cr = np.empty((K, K), h_re.dtype)
        ci = np.empty((K, K), h_re.dtype)
        dr = np.empty((K, M), h_re.dtype)
        di = np.empty((K, M), h_re.dtype)
        f_step_one(h_re[b], h_im[b], f_re[b], f_im[b], w_re[b], w_im[b], noise[b], mu, gr, gi, cr, ci, dr, di, zero)


@njit(cache=True, parallel=True)
def w_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam, zero):  # pragma: no cover
    B, N, K = h_re.shape
    M = f_re.shape[2]
    for b in prange(B):
        gr = np.empty((K, M), h_re.dtype)
        gi = np.empty((K, M), h_re.dtype)
        cr = np.empty((K, K), h_re.dtype)
        ci = np.empty((K, K), h_re.dtype)
        w_step_one(h_re[b], h_im[b], f_re[b], f_im[b], w_re[b], w_im[b], p_t[b], noise[b], lam, gr, gi, cr, ci, zero)
