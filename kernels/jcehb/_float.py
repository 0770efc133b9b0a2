"""Private Numba kernel of the JCEHB per-slot network (CEDUN eq. 17, HBDUN eq. 31) in real
arithmetic, float64.

Mirrors :meth:`hbf_edge.families.jcehb.model.JcehbNet.estimate` and ``.digital`` operation for
operation, per channel, with complex arrays held as (re, im) pairs, in the layout
``Y [K, R, L]`` (received pilots), ``X [N, L]`` (pilots), ``H_hat [K, R, N]``,
``F [N, K S]``, ``W [K, R, S]``.  Constants arrive packed (:mod:`kernels.jcehb.forward`):
CEDUN's multipliers and offsets per layer and user, ``1 / gamma``; HBDUN's ``B``, ``D^-``
(imaginary diagonal already removed), multipliers, ``(T, q)`` pairs of lambda and t, ``mu``;
``G_F = F_RF^H F_RF`` for the power normalisation.  Workspaces are allocated once per channel;
a batch runs in chunks on the threads (:func:`kernels._core.batching.threaded_channels`).
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.batching import serial_channels, threaded_channels
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import cinv


LAMBDA_FLOOR = 1e-4  # hbf_edge.families.jcehb.model.LAMBDA_FLOOR (a test holds them equal)


@njit(cache=True)
def _cedun(yr, yi, xr, xi, ce, gam_inv, delta, hr, hi):  # pragma: no cover - compiled
    """CEDUN on one channel: ``Y [K, R, L]`` -> ``H_hat [K, R, N]``.  ``ce`` [16, L, K, N, max(N, R)]
    packs (re, im) of tg, qg, tv, qv (first column only), tp, qp (N columns), tw, qw (R columns)."""
    K, R, L = yr.shape
    N = xr.shape[0]
    pr = np.empty((N, N))
    pi = np.empty((N, N))
    wr = np.empty((N, R))
    wi = np.empty((N, R))
    gr = np.empty(N)
    gi = np.empty(N)
    vr = np.empty(N)
    vi = np.empty(N)
    er = np.empty(R)
    ei = np.empty(R)
    for k in range(K):
        for a in range(N):
            for b in range(N):
                pr[a, b] = (1.0 / delta) if a == b else 0.0
                pi[a, b] = 0.0
            for r in range(R):
                wr[a, r] = 0.0
                wi[a, r] = 0.0
        for n in range(L):
            ginv = gam_inv[n, k]
            dr = 1.0 / ginv  # gamma
            di = 0.0
            for a in range(N):  # (17a) g = T_g o (P x) + q_g
                sr = 0.0
                si = 0.0
                for b in range(N):
                    sr += pr[a, b] * xr[b, n] - pi[a, b] * xi[b, n]
                    si += pr[a, b] * xi[b, n] + pi[a, b] * xr[b, n]
                gr[a] = ce[0, n, k, a, 0] * sr - ce[1, n, k, a, 0] * si + ce[2, n, k, a, 0]
                gi[a] = ce[0, n, k, a, 0] * si + ce[1, n, k, a, 0] * sr + ce[3, n, k, a, 0]
                dr += gr[a] * xr[a, n] + gi[a] * xi[a, n]  # + conj(g) x
                di += gr[a] * xi[a, n] - gi[a] * xr[a, n]
            m = dr * dr + di * di
            ir = dr / m
            ii = -di / m
            for a in range(N):  # (17b) v = T_v o (g / den) + q_v
                sr = gr[a] * ir - gi[a] * ii
                si = gr[a] * ii + gi[a] * ir
                vr[a] = ce[4, n, k, a, 0] * sr - ce[5, n, k, a, 0] * si + ce[6, n, k, a, 0]
                vi[a] = ce[4, n, k, a, 0] * si + ce[5, n, k, a, 0] * sr + ce[7, n, k, a, 0]
            for a in range(N):  # (17c) P = T_p o ((P - v g^H) / gamma) + q_p
                for b in range(N):
                    sr = (pr[a, b] - (vr[a] * gr[b] + vi[a] * gi[b])) * ginv
                    si = (pi[a, b] - (vi[a] * gr[b] - vr[a] * gi[b])) * ginv
                    pr[a, b] = ce[8, n, k, a, b] * sr - ce[9, n, k, a, b] * si + ce[10, n, k, a, b]
                    pi[a, b] = ce[8, n, k, a, b] * si + ce[9, n, k, a, b] * sr + ce[11, n, k, a, b]
            for r in range(R):  # e = y - W^H x
                sr = yr[k, r, n]
                si = yi[k, r, n]
                for a in range(N):
                    sr -= wr[a, r] * xr[a, n] + wi[a, r] * xi[a, n]
                    si -= wr[a, r] * xi[a, n] - wi[a, r] * xr[a, n]
                er[r] = sr
                ei[r] = si
            for a in range(N):  # (17d) W = T_w o (W + v e^H) + q_w
                for r in range(R):
                    sr = wr[a, r] + vr[a] * er[r] + vi[a] * ei[r]
                    si = wi[a, r] + vi[a] * er[r] - vr[a] * ei[r]
                    wr[a, r] = ce[12, n, k, a, r] * sr - ce[13, n, k, a, r] * si + ce[14, n, k, a, r]
                    wi[a, r] = ce[12, n, k, a, r] * si + ce[13, n, k, a, r] * sr + ce[15, n, k, a, r]
        for r in range(R):
            for a in range(N):
                hr[k, r, a] = wr[a, r]
                hi[k, r, a] = -wi[a, r]


@njit(cache=True)
def _normalise(fr, fi, gfr, gfi, K, S):  # pragma: no cover - compiled
    """Every user's block to ``||F_RF F_k||_F^2 = S`` with ``G_F``."""
    N = fr.shape[0]
    for k in range(K):
        p = 0.0
        for s in range(S):
            c = k * S + s
            for a in range(N):
                tr = 0.0
                ti = 0.0
                for b in range(N):
                    tr += gfr[a, b] * fr[b, c] - gfi[a, b] * fi[b, c]
                    ti += gfr[a, b] * fi[b, c] + gfi[a, b] * fr[b, c]
                p += fr[a, c] * tr + fi[a, c] * ti
        scale = math.sqrt(S / p)
        for s in range(S):
            for a in range(N):
                fr[a, k * S + s] *= scale
                fi[a, k * S + s] *= scale


@njit(cache=True)
def _gains(hr, hi, fr, fi, k, ar, ai):  # pragma: no cover - compiled
    """``A = H_k F`` [R, K S]."""
    R, N = hr.shape[1], hr.shape[2]
    for r in range(R):
        for c in range(fr.shape[1]):
            sr = 0.0
            si = 0.0
            for a in range(N):
                sr += hr[k, r, a] * fr[a, c] - hi[k, r, a] * fi[a, c]
                si += hr[k, r, a] * fi[a, c] + hi[k, r, a] * fr[a, c]
            ar[r, c] = sr
            ai[r, c] = si


@njit(cache=True)
def _mmse(hr, hi, fr, fi, nu, S, wr, wi, ar, ai, cr, ci, cir, cii, big, bigi):  # pragma: no cover - compiled
    """Eq. (24): ``W_k = (A_k A_k^H + nu I)^-1 A_k[:, user k]`` for every user."""
    K, R = hr.shape[0], hr.shape[1]
    KS = fr.shape[1]
    for k in range(K):
        _gains(hr, hi, fr, fi, k, ar, ai)
        for p in range(R):
            for q in range(R):
                sr = nu if p == q else 0.0
                si = 0.0
                for c in range(KS):
                    sr += ar[p, c] * ar[q, c] + ai[p, c] * ai[q, c]
                    si += ai[p, c] * ar[q, c] - ar[p, c] * ai[q, c]
                cr[p, q] = sr
                ci[p, q] = si
        cinv(cr, ci, cir, cii, big, bigi)
        for p in range(R):
            for s in range(S):
                sr = 0.0
                si = 0.0
                for q in range(R):
                    sr += cir[p, q] * ar[q, k * S + s] - cii[p, q] * ai[q, k * S + s]
                    si += cir[p, q] * ai[q, k * S + s] + cii[p, q] * ar[q, k * S + s]
                wr[k, p, s] = sr
                wi[k, p, s] = si


@njit(cache=True)
def _hbdun(hr, hi, gfr, gfi, hb, hbw, hbf, hbs, nu, alpha, exact, fr, fi, wr, wi):  # pragma: no cover
    """HBDUN on one channel: ``H_hat [K, R, N]`` -> ``F [N, K S]``, ``W [K, R, S]``.  ``hb``
    [4, Lh, K, N, N]: (re, im) of B and D^-; ``hbw`` [4, Lh, K, R, S]: T_w, Q_w; ``hbf``
    [4, Lh, K, N]: T_f, q_f; ``hbs`` [5, Lh, K]: T_lam, q_lam, T_t, q_t, mu."""
    K, R, N = hr.shape
    S = wr.shape[2]
    Lh = hb.shape[1]
    KS = K * S
    ar = np.empty((R, KS))
    ai = np.empty((R, KS))
    cr = np.empty((R, R))
    ci = np.empty((R, R))
    cir = np.empty((R, R))
    cii = np.empty((R, R))
    big = np.empty((2 * R, 2 * R))
    bigi = np.empty((2 * R, 2 * R))
    Cr = np.empty((N, N))
    Ci = np.empty((N, N))
    Mr = np.empty((N, N))
    Mi = np.empty((N, N))
    bigN = np.empty((2 * N, 2 * N))
    bigNi = np.empty((2 * N, 2 * N))
    hwr = np.empty((K, N, S))
    hwi = np.empty((K, N, S))
    t = np.zeros((K, S))
    lam = np.empty((K, S))
    mr = np.empty((K, R, S))
    mi = np.empty((K, R, S))
    for k in range(K):  # the matched filter start
        for s in range(S):
            for a in range(N):
                fr[a, k * S + s] = hr[k, s, a]
                fi[a, k * S + s] = -hi[k, s, a]
    _normalise(fr, fi, gfr, gfi, K, S)
    for i in range(Lh):
        _mmse(hr, hi, fr, fi, nu, S, mr, mi, ar, ai, cr, ci, cir, cii, big, bigi)
        for k in range(K):  # (31a), (31b)
            for p in range(R):
                for s in range(S):
                    wr[k, p, s] = hbw[0, i, k, p, s] * mr[k, p, s] - hbw[1, i, k, p, s] * mi[k, p, s] \
                        + hbw[2, i, k, p, s]
                    wi[k, p, s] = hbw[0, i, k, p, s] * mi[k, p, s] + hbw[1, i, k, p, s] * mr[k, p, s] \
                        + hbw[3, i, k, p, s]
            for s in range(S):
                lam[k, s] = max(hbs[0, i, k] * hbs[4, i, k] * alpha ** t[k, s] + hbs[1, i, k], LAMBDA_FLOOR)
        tau = 0.0
        for k in range(K):  # h = H_k^H w_kl
            for s in range(S):
                w2 = 0.0
                for p in range(R):
                    w2 += wr[k, p, s] * wr[k, p, s] + wi[k, p, s] * wi[k, p, s]
                tau += lam[k, s] * w2
                for a in range(N):
                    sr = 0.0
                    si = 0.0
                    for p in range(R):
                        sr += hr[k, p, a] * wr[k, p, s] + hi[k, p, a] * wi[k, p, s]
                        si += hr[k, p, a] * wi[k, p, s] - hi[k, p, a] * wr[k, p, s]
                    hwr[k, a, s] = sr
                    hwi[k, a, s] = si
        tau *= nu / KS
        for a in range(N):  # C = sum lam h h^H + tau I
            for b in range(N):
                sr = tau if a == b else 0.0
                si = 0.0
                for k in range(K):
                    for s in range(S):
                        sr += lam[k, s] * (hwr[k, a, s] * hwr[k, b, s] + hwi[k, a, s] * hwi[k, b, s])
                        si += lam[k, s] * (hwi[k, a, s] * hwr[k, b, s] - hwr[k, a, s] * hwi[k, b, s])
                Cr[a, b] = sr
                Ci[a, b] = si
        if exact:
            cinv(Cr, Ci, Mr, Mi, bigN, bigNi)
        for k in range(K):  # (31c)
            if not exact:  # (29)-(30): diag(C)^-1 B + D^-
                for a in range(N):
                    inv_d = 1.0 / Cr[a, a]
                    for b in range(N):
                        Mr[a, b] = hb[0, i, k, a, b] * inv_d + hb[2, i, k, a, b]
                        Mi[a, b] = hb[1, i, k, a, b] * inv_d + hb[3, i, k, a, b]
            for s in range(S):
                for a in range(N):
                    sr = 0.0
                    si = 0.0
                    for b in range(N):
                        sr += Mr[a, b] * hwr[k, b, s] - Mi[a, b] * hwi[k, b, s]
                        si += Mr[a, b] * hwi[k, b, s] + Mi[a, b] * hwr[k, b, s]
                    sr *= lam[k, s]
                    si *= lam[k, s]
                    fr[a, k * S + s] = hbf[0, i, k, a] * sr - hbf[1, i, k, a] * si + hbf[2, i, k, a]
                    fi[a, k * S + s] = hbf[0, i, k, a] * si + hbf[1, i, k, a] * sr + hbf[3, i, k, a]
        _normalise(fr, fi, gfr, gfi, K, S)
        for k in range(K):  # (23), (31d)
            _gains(hr, hi, fr, fi, k, ar, ai)
            for s in range(S):
                tot = 0.0
                dr = 0.0
                di = 0.0
                w2 = 0.0
                for c in range(KS):
                    gr_ = 0.0
                    gi_ = 0.0
                    for p in range(R):
                        gr_ += wr[k, p, s] * ar[p, c] + wi[k, p, s] * ai[p, c]
                        gi_ += wr[k, p, s] * ai[p, c] - wi[k, p, s] * ar[p, c]
                    tot += gr_ * gr_ + gi_ * gi_
                    if c == k * S + s:
                        dr = gr_
                        di = gi_
                for p in range(R):
                    w2 += wr[k, p, s] * wr[k, p, s] + wi[k, p, s] * wi[k, p, s]
                eps = (1.0 - dr) ** 2 + di * di + tot - (dr * dr + di * di) + nu * w2
                at = alpha ** t[k, s]
                tn = hbs[2, i, k] * (t[k, s] + hbs[4, i, k] * (1.0 - eps * at)) + hbs[3, i, k]
                t[k, s] = min(max(tn, -4.0), 16.0)
    _mmse(hr, hi, fr, fi, nu, S, wr, wi, ar, ai, cr, ci, cir, cii, big, bigi)


@njit(cache=True)
def _slot(yr, yi, xr, xi, ce, gam_inv, delta, gfr, gfi, hb, hbw, hbf, hbs, nu, alpha, exact, stages, b,
          hr, hi, fr, fi, wr, wi):  # pragma: no cover - compiled
    """``stages``: 3 both, 1 CEDUN only, 2 HBDUN only (from the ``H_hat`` in ``hr, hi``)."""
    if stages & 1:
        _cedun(yr[b], yi[b], xr, xi, ce, gam_inv, delta, hr[b], hi[b])
    if stages & 2:
        _hbdun(hr[b], hi[b], gfr, gfi, hb, hbw, hbf, hbs, nu, alpha, exact, fr[b], fi[b], wr[b], wi[b])


@njit(cache=True, nogil=True)
def slots_range(yr, yi, xr, xi, ce, gam_inv, delta, gfr, gfi, hb, hbw, hbf, hbs, nu, alpha, exact, stages,
                hr, hi, fr, fi, wr, wi, b0, b1):  # pragma: no cover - compiled
    """Channels ``b0 .. b1 - 1`` of the batch, one after the other."""
    for b in range(b0, b1):
        _slot(yr, yi, xr, xi, ce, gam_inv, delta, gfr, gfi, hb, hbw, hbf, hbs, nu, alpha, exact, stages, b,
              hr, hi, fr, fi, wr, wi)


def slots_serial(*args):
    """Every channel of the batch in the calling thread; ``args``: :func:`slots_range`'s without
    the channel range."""
    serial_channels(slots_range, *args)


def slots_parallel(*args):
    """Every channel of the batch in chunks on the threads
    (:func:`kernels._core.batching.threaded_channels`)."""
    threaded_channels(slots_range, *args)
