"""Private Numba kernel of the UPGANet (JCAS) forward in real arithmetic (float32 | float64).

Mirrors :mod:`hbf_edge.families.upganet.model` operation for operation (paper ``upganet_jcas.txt``, Algorithm 1),
per channel, in the public layout ``F [N, M]``:

* rate part, natural-log convention as in :mod:`kernels.upga._float`: ``G = H^H F``,
  ``E = G W``, ``C_kl = E_kl (1/a_k - [l != k]/b_k)``; eq. (10) ``H (C W^H)``, eq. (11) ``G^H C``,
  both multiplied by ``xi = 1/ln 2``;
* sensing part: ``X = F W``, ``Y = X (X^H X) - P Psi_1 X``; eq. (12) ``2 Y W^H``,
  eq. (13) ``2 F^H Y`` (the only O(N^2 K) product is ``Psi_1 X``);
* (14b) J F-steps each followed by (7) (see :mod:`hbf_edge.families.upganet.model`), (15) and (9) with ``sqrt(P)``.

Buffers are allocated once per channel, never inside the layer loop; a batch runs through
:func:`kernels._core.batching.run_channels`.
"""

from __future__ import annotations

import math

import numpy as np
from hbf_edge.kernels._core.batching import run_channels
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import gram_inv, matmul, mm_ah, mm_bh
from hbf_edge.kernels.upga._float import rate_weights_from_e


XI = 1.0 / math.log(2.0)


@njit(cache=True)
def rate_weights(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci, zero):  # pragma: no cover - compiled
    """``G = H^H F`` and ``C`` (eq. 10-11 weights)."""
    mm_ah(hr, hi, fr, fi, gr, gi, zero)
    matmul(gr, gi, wr, wi, cr, ci)  # E = G W
    rate_weights_from_e(cr, ci, s2)


@njit(cache=True)
def tau_residual(fr, fi, wr, wi, psr, psi, pt, xr, xi, yr, yi, qr, qi, zero):  # pragma: no cover
    """``X = F W``; ``Y = X (X^H X) - P Psi_1 X``; ``q`` [K, K] scratch."""
    matmul(fr, fi, wr, wi, xr, xi)
    mm_ah(xr, xi, xr, xi, qr, qi, zero)
    matmul(xr, xi, qr, qi, yr, yi)
    N, K = xr.shape
    for n in range(N):
        for k in range(K):
            sr = zero
            si = zero
            for m in range(N):
                sr += psr[n, m] * xr[m, k] - psi[n, m] * xi[m, k]
                si += psr[n, m] * xi[m, k] + psi[n, m] * xr[m, k]
            yr[n, k] -= pt * sr
            yi[n, k] -= pt * si


@njit(cache=True)
def normalize(fr, fi, wr, wi, pt, xr, xi, zero):  # pragma: no cover - compiled
    """Eq. (9): ``W <- sqrt(P) W / ||F W||_F``."""
    matmul(fr, fi, wr, wi, xr, xi)
    s = zero
    N, K = xr.shape
    for n in range(N):
        for k in range(K):
            s += xr[n, k] * xr[n, k] + xi[n, k] * xi[n, k]
    scale = math.sqrt(pt) / math.sqrt(s)
    M = wr.shape[0]
    for m in range(M):
        for k in range(K):
            wr[m, k] *= scale
            wi[m, k] *= scale


@njit(cache=True)
def init_one(hr, hi, pt, str_, sti, fr, fi, wr, wi, zero):  # pragma: no cover - compiled
    """Eq. (17): phases of ``[h_1..h_K, a(theta_1)..]``, ``W_0 = F_0^+ H (H^H H)^{-1}``, (9)."""
    N, K = hr.shape
    M = fr.shape[1]
    dt = hr.dtype
    for n in range(N):
        for m in range(M):
            if m < K:
                re, im = hr[n, m], hi[n, m]
            else:
                re, im = str_[n, m - K], sti[n, m - K]
            mag = math.sqrt(re * re + im * im)
            if mag > 0:
                fr[n, m] = re / mag
                fi[n, m] = im / mag
            else:
                fr[n, m] = 1.0
                fi[n, m] = 0.0
    hhr, hhi = np.empty((K, K), dt), np.empty((K, K), dt)
    mm_ah(hr, hi, hr, hi, hhr, hhi, zero)
    ihr, ihi = np.empty((K, K), dt), np.empty((K, K), dt)
    gram_inv(hhr, hhi, ihr, ihi, np.empty((2 * K, 2 * K), dt), np.empty((2 * K, 2 * K), dt))
    zr, zi = np.empty((N, K), dt), np.empty((N, K), dt)
    matmul(hr, hi, ihr, ihi, zr, zi)  # X_ZF
    ffr, ffi = np.empty((M, M), dt), np.empty((M, M), dt)
    mm_ah(fr, fi, fr, fi, ffr, ffi, zero)
    ifr, ifi = np.empty((M, M), dt), np.empty((M, M), dt)
    gram_inv(ffr, ffi, ifr, ifi, np.empty((2 * M, 2 * M), dt), np.empty((2 * M, 2 * M), dt))
    tr, ti = np.empty((M, K), dt), np.empty((M, K), dt)
    mm_ah(fr, fi, zr, zi, tr, ti, zero)
    matmul(ifr, ifi, tr, ti, wr, wi)
    normalize(fr, fi, wr, wi, pt, zr, zi, zero)


@njit(cache=True)
def layers_one(hr, hi, fr, fi, wr, wi, pt, s2, psr, psi, mu, lam, omega, eta, zero):  # pragma: no cover
    """Algorithm 1 steps 2-11 for one channel, in place on ``F``, ``W``."""
    N, K = hr.shape
    M = fr.shape[1]
    dt = hr.dtype
    gr, gi = np.empty((K, M), dt), np.empty((K, M), dt)
    cr, ci = np.empty((K, K), dt), np.empty((K, K), dt)
    qr, qi = np.empty((K, K), dt), np.empty((K, K), dt)
    xr, xi = np.empty((N, K), dt), np.empty((N, K), dt)
    yr, yi = np.empty((N, K), dt), np.empty((N, K), dt)
    dr, di = np.empty((K, M), dt), np.empty((K, M), dt)
    ar, ai = np.empty((N, M), dt), np.empty((N, M), dt)
    br, bi = np.empty((N, M), dt), np.empty((N, M), dt)
    ur, ui = np.empty((M, K), dt), np.empty((M, K), dt)
    vr, vi = np.empty((M, K), dt), np.empty((M, K), dt)
    xi_ = dt.type(XI)
    for i in range(lam.shape[0]):
        for j in range(mu.shape[1]):
            rate_weights(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci, zero)
            mm_bh(cr, ci, wr, wi, dr, di, zero)  # D = C W^H [K, M]
            matmul(hr, hi, dr, di, ar, ai)  # eq. (10) (natural log): H D
            tau_residual(fr, fi, wr, wi, psr, psi, pt, xr, xi, yr, yi, qr, qi, zero)
            mm_bh(yr, yi, wr, wi, br, bi, zero)  # Y W^H, eq. (12) / 2
            step = mu[i, j]
            for n in range(N):
                for m in range(M):  # eq. (14b), then (7)
                    re = fr[n, m] + step * (xi_ * ar[n, m] - 2.0 * omega * br[n, m])
                    im = fi[n, m] + step * (xi_ * ai[n, m] - 2.0 * omega * bi[n, m])
                    mag = math.sqrt(re * re + im * im)
                    if mag > 0:
                        fr[n, m] = re / mag
                        fi[n, m] = im / mag
                    else:
                        fr[n, m] = 1.0
                        fi[n, m] = 0.0
        rate_weights(hr, hi, fr, fi, wr, wi, s2, gr, gi, cr, ci, zero)
        mm_ah(gr, gi, cr, ci, ur, ui, zero)  # eq. (11) (natural log): G^H C
        tau_residual(fr, fi, wr, wi, psr, psi, pt, xr, xi, yr, yi, qr, qi, zero)
        mm_ah(fr, fi, yr, yi, vr, vi, zero)  # F^H Y, eq. (13) / 2
        for m in range(M):
            for k in range(K):  # eq. (15)
                wr[m, k] += lam[i] * (xi_ * ur[m, k] - 2.0 * omega * eta * vr[m, k])
                wi[m, k] += lam[i] * (xi_ * ui[m, k] - 2.0 * omega * eta * vi[m, k])
        normalize(fr, fi, wr, wi, pt, xr, xi, zero)  # eq. (9)


@njit(cache=True, nogil=True)
def forward_range(h_re, h_im, p_t, noise, psr, psi, str_, sti, mu, lam, omega, eta, f_re, f_im, w_re, w_im, zero,
                  b0, b1):  # pragma: no cover - compiled
    """The initialisation and every layer of channels ``b0 .. b1 - 1``, one after the other."""
    for b in range(b0, b1):
        init_one(h_re[b], h_im[b], p_t[b], str_, sti, f_re[b], f_im[b], w_re[b], w_im[b], zero)
        layers_one(h_re[b], h_im[b], f_re[b], f_im[b], w_re[b], w_im[b], p_t[b], noise[b], psr, psi,
                   mu, lam, omega, eta, zero)


def forward_batch(*args):
    """:func:`forward_range` on every channel of the batch: in the calling thread below
    ``SERIAL_BELOW`` channels, else ``prange`` over the channels through the loop's own compiled
    code (:func:`kernels._core.batching.run_channels`); ``args``: its own without the range."""
    run_channels(forward_range, *args)
