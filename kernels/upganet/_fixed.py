"""Private Numba kernel of the bit-accurate UPGANet (JCAS) forward (integer arithmetic only).

The datapath extends the UPGA one (:mod:`kernels.upga._fixed`, whose units, formats, rounding
and counters it keeps) by the sensing term of paper ``upganet_jcas.txt``.  In the normalised
units ``W = rho W_hw`` with ``rho = sqrt(P_t / N)`` and ``||F W_hw||_F^2 = N``:

* ``X = F W_hw`` (accumulator), ``Y = X (X^H X) - Psi_n X`` (accumulator, two rounded terms)
  with ``Psi_n = N Psi_1`` (eq. 4, unit power) in the ``channel`` format: its entries are at
  most 1 in magnitude because Psi_1 is PSD with diagonal 1/N.  Then the true residual of
  eq. (12)-(13) is ``(X X^H - Psi) X = rho^3 Y``.
* Eq. (14b) and (15), scaled: ``F + mu xi (grad_F R - kappa_F Y W_hw^H)`` and
  ``W_hw + lambda xi N / P_t (grad_W R - kappa_W F^H Y)`` with the natural-log rate gradients
  of the UPGA datapath, ``kappa_F = 2 omega ln2 rho^4`` and ``kappa_W = eta kappa_F``.  The
  wrapper folds ``xi = 1 / ln 2`` into the step words (``mu xi``, ``lambda xi N / P_t``) and
  passes ``kappa_F``, ``kappa_W`` per channel in the step format.
* ``T = Y W_hw^H`` and ``V = F^H Y`` are stored in the accumulator format (``F^H Y`` sums N
  terms and outgrows the gradient format); each weighted sensing term is rounded into the
  gradient format's units (``rshift(kappa T, fS + fA - fG)``) and subtracted from the rate
  gradient, and the difference is fitted into the gradient format (sites ``grad_F``,
  ``grad_W``).
* Initialisation (17): codes of the channel phases for RF chains ``0..K-1`` and the given
  codes of the targets' steering phases for ``K..M-1`` (computed by the wrapper with the spec's
  code rule, as model constants), then W as in UPGA eq. (13).
* Projection (7), as in the QAT network (:class:`quant.upganet.qat.QuantUPGANet`): after each of the
  first J-1 inner F-steps onto the unit circle, ``F = x / isqrt(|x|^2)`` by integer division into
  the ``lut`` format (``(1, 0)`` for ``x = 0``; site ``F_update``); after the J-th onto the code
  book (nearest code).  The F and W updates are the UPGA datapath's
  (:func:`kernels.upga._fixed.f_update_fx`, :func:`~kernels.upga._fixed.w_update_fx`) with the
  sensing terms subtracted.  Projecting onto the 4-bit code book after every inner step instead
  leaves the small steps of the sensing term below half a code spacing: measured on 1000
  held-out channels at 12 dB with the 4-bit QAT model of the README, beampattern MSE 31.7 dB
  against the QAT network's 26.4 dB.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.families.upganet.config import COUNTER_SITES
from hbf_edge.kernels._core.batching import run_channels
from hbf_edge.kernels._core.fixed import fit, int64_range, requant, rshift
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import WORD, words_t
from hbf_edge.kernels.upga._fixed import (
    ACC,
    CH,
    GRD,
    LUT,
    PRE,
    SITES as UPGA_SITES,
    STP,
    convert_w,
    d_fx,
    f_update_fx,
    normalize_fx,
    w_update_fx,
    weighted_e_fx,
    work_rows,
)
from hbf_edge.kernels.upga._init_fixed import init_w_fx

# Numba caches these indices into the compiled code of this file: when UPGA_SITES changes,
# this file must change too (or its cache be cleared), else the counters land one site off
SITES = COUNTER_SITES[1:]  # the family's one tuple: UPGA's sites, then the sensing gradient's
assert SITES[:len(UPGA_SITES)] == UPGA_SITES
S_XX, S_Y, S_TF, S_TW = int64_range(len(SITES))[len(UPGA_SITES):]


@njit(cache=True)
def residual_fx(fc, fs, wr, wi, pr, pi, fm, cnt, xr, xi, xt_r, xt_i, qr, qi, yr, yi):  # pragma: no cover
    """``X = F W_hw`` and ``Y = X (X^H X) - Psi_n X`` into yr/yi (accumulator).

    X is also kept transposed in ``xt_r, xt_i [K, N]`` (:data:`~kernels._core.linalg_fixed.WORD`,
    as the Psi words are): ``X^H X`` and the O(N^2 K) ``Psi_n X`` then read contiguous rows of
    32-bit words.  UPGANet's hardware forward (N = 64, Q = 4, I = 10, J = 1, 256 channels on one
    Zen 1 core, best of 5; 2026-12-05, scratch/hw/upganet.py): 1302.8 -> 858.1 us per channel
    (1446.3 before the int32 words of the shared UPGA products), the same codes and words."""
    N, M = fc.shape
    K = wr.shape[1]
    fH, fL, fA, fW = fm[CH, 0], fm[LUT, 0], fm[ACC, 0], fm[PRE, 0]
    for n in range(N):
        for k in range(K):
            sr = 0
            si = 0
            for m in range(M):
                sr += fc[n, m] * wr[m, k] - fs[n, m] * wi[m, k]
                si += fc[n, m] * wi[m, k] + fs[n, m] * wr[m, k]
            xr[n, k] = requant(sr, fL + fW - fA, fm[ACC], cnt, S_XX)
            xi[n, k] = requant(si, fL + fW - fA, fm[ACC], cnt, S_XX)
            xt_r[k, n] = xr[n, k]
            xt_i[k, n] = xi[n, k]
    for k in range(K):  # Q = X^H X
        for l in range(K):
            sr = 0
            si = 0
            for n in range(N):
                sr += xt_r[k, n] * xt_r[l, n] + xt_i[k, n] * xt_i[l, n]
                si += xt_r[k, n] * xt_i[l, n] - xt_i[k, n] * xt_r[l, n]
            qr[k, l] = requant(sr, fA, fm[ACC], cnt, S_Y)
            qi[k, l] = requant(si, fA, fm[ACC], cnt, S_Y)
    for n in range(N):
        for k in range(K):
            sr = 0
            si = 0
            for l in range(K):
                sr += xr[n, l] * qr[l, k] - xi[n, l] * qi[l, k]
                si += xr[n, l] * qi[l, k] + xi[n, l] * qr[l, k]
            pr_ = 0
            pi_ = 0
            for m in range(N):
                pr_ += pr[n, m] * xt_r[k, m] - pi[n, m] * xt_i[k, m]
                pi_ += pr[n, m] * xt_i[k, m] + pi[n, m] * xt_r[k, m]
            yr[n, k] = fit(rshift(sr, fA, fm[ACC, 3]) - rshift(pr_, fH, fm[ACC, 3]), fm[ACC], cnt, S_Y)
            yi[n, k] = fit(rshift(si, fA, fm[ACC, 3]) - rshift(pi_, fH, fm[ACC, 3]), fm[ACC], cnt, S_Y)


@njit(cache=True)
def sense_f_fx(yr, yi, wr, wi, kf, fm, cnt, tr, ti):  # pragma: no cover - compiled
    """The sensing term of eq. (14b) in the gradient format's units: ``kappa_F Y W_hw^H``, with
    ``T = Y W_hw^H`` stored in the accumulator format (eq. 12 / 2)."""
    N, M = tr.shape
    K = wr.shape[1]
    fA, fG, fS, fW = fm[ACC, 0], fm[GRD, 0], fm[STP, 0], fm[PRE, 0]
    for n in range(N):
        for m in range(M):
            sr = 0
            si = 0
            for l in range(K):
                sr += yr[n, l] * wr[m, l] + yi[n, l] * wi[m, l]
                si += yi[n, l] * wr[m, l] - yr[n, l] * wi[m, l]
            tr[n, m] = rshift(kf * requant(sr, fW, fm[ACC], cnt, S_TF), fS + fA - fG, fm[GRD, 3])
            ti[n, m] = rshift(kf * requant(si, fW, fm[ACC], cnt, S_TF), fS + fA - fG, fm[GRD, 3])


@njit(cache=True)
def sense_w_fx(fc, fs, yr, yi, kw, fm, cnt, vr, vi):  # pragma: no cover - compiled
    """The sensing term of eq. (15) in the gradient format's units: ``kappa_W F^H Y``, with
    ``F^H Y`` stored in the accumulator format (eq. 13 / 2)."""
    N, M = fc.shape
    K = yr.shape[1]
    fL, fA, fG, fS = fm[LUT, 0], fm[ACC, 0], fm[GRD, 0], fm[STP, 0]
    for m in range(M):
        for l in range(K):
            sr = 0
            si = 0
            for n in range(N):
                sr += fc[n, m] * yr[n, l] + fs[n, m] * yi[n, l]
                si += fc[n, m] * yi[n, l] - fs[n, m] * yr[n, l]
            vr[m, l] = rshift(kw * requant(sr, fL, fm[ACC], cnt, S_TW), fS + fA - fG, fm[GRD, 3])
            vi[m, l] = rshift(kw * requant(si, fL, fm[ACC], cnt, S_TW), fS + fA - fG, fm[GRD, 3])


@njit(cache=True)
def forward_one(hr, hi, codes, wr, wi, noise, mu, lam, kf, kw, pr, pi, steer_codes, lut_c, lut_s, n_codes,
                fms, cnt):  # pragma: no cover - compiled
    """Initialisation (17) and the I layers of Algorithm 1 for one channel."""
    N, K = hr.shape
    M = codes.shape[1]
    i64 = np.int64
    gr, gi, dr, di = np.empty((K, M), i64), np.empty((K, M), i64), np.empty((K, M), WORD), np.empty((K, M), WORD)
    cr, ci, qr, qi = np.empty((K, K), i64), np.empty((K, K), i64), np.empty((K, K), i64), np.empty((K, K), i64)
    ar, ai, vr, vi = np.empty((M, K), WORD), np.empty((M, K), WORD), np.empty((M, K), i64), np.empty((M, K), i64)
    fc, fs, tr, ti = np.empty((N, M), i64), np.empty((N, M), i64), np.empty((N, M), i64), np.empty((N, M), i64)
    xr, xi, yr, yi = np.empty((N, K), i64), np.empty((N, K), i64), np.empty((N, K), i64), np.empty((N, K), i64)
    xt_r, xt_i = np.empty((K, N), WORD), np.empty((K, N), WORD)
    for n in range(N):
        for m in range(K, M):
            codes[n, m] = steer_codes[n, m - K]
    ht_r, ht_i = words_t(hr), words_t(hi)  # H transposed once (the products over the antennas)
    init_w_fx(ht_r, ht_i, codes, fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], wr, wi, fms[0], cnt, ar, ai)
    ft_c, ft_s = words_t(fc), words_t(fs)  # F's words transposed, kept by f_update_fx
    wk = work_rows(N, M)
    for i in range(lam.shape[0]):
        lc = lut_c[i, :n_codes[i]]
        ls = lut_s[i, :n_codes[i]]
        fm = fms[i]
        if i > 0 and (fms[i - 1, PRE, 0] != fm[PRE, 0] or fms[i - 1, PRE, 2] != fm[PRE, 2]):
            convert_w(wr, wi, fms[i - 1, PRE, 0], fm, cnt)
        J = mu.shape[1]
        for j in range(J):  # eq. (14b), then (7): the unit circle, the code book after the last
            weighted_e_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, fm, cnt, gr, gi, cr, ci, np.int64(-1))
            d_fx(cr, ci, wr, wi, dr, di, fm, cnt)
            residual_fx(fc, fs, wr, wi, pr, pi, fm, cnt, xr, xi, xt_r, xt_i, qr, qi, yr, yi)
            sense_f_fx(yr, yi, wr, wi, kf, fm, cnt, tr, ti)
            f_update_fx(ht_r, ht_i, codes, fc, fs, ft_c, ft_s, lc, ls, dr, di, tr.T.copy(), ti.T.copy(), mu[i, j],
                        j == J - 1, fm, cnt, wk, np.bool_(True))  # every argument: UPGA's types (one compilation)
        # eq. (15), then (9)
        weighted_e_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, fm, cnt, gr, gi, cr, ci, np.int64(-1))
        residual_fx(fc, fs, wr, wi, pr, pi, fm, cnt, xr, xi, xt_r, xt_i, qr, qi, yr, yi)
        sense_w_fx(fc, fs, yr, yi, kw, fm, cnt, vr, vi)
        w_update_fx(gr, gi, cr, ci, wr, wi, vr, vi, lam[i], ar, ai, fm, cnt)
        normalize_fx(ft_c, ft_s, ar, ai, wr, wi, fm, cnt, wk)


@njit(cache=True)
def forward_fx_range(h_r, h_i, noise, mu, lam, kf, kw, psi_r, psi_i, steer_codes, lut_c, lut_s, n_codes, fms,
                     codes, w_r, w_i, counts, b0, b1):  # pragma: no cover - compiled
    """Channels ``b0 .. b1 - 1`` of the batch, one after the other: ``noise, kf, kw [B]``,
    ``lam [B, I]``, ``mu [I, J]``, ``psi [N, N]``, ``steer_codes [N, M - K]``; layer i reads
    ``fms[i]`` and its own phase table."""
    for b in range(b0, b1):
        forward_one(h_r[b], h_i[b], codes[b], w_r[b], w_i[b], noise[b], mu, lam[b], kf[b], kw[b], psi_r, psi_i,
                    steer_codes, lut_c, lut_s, n_codes, fms, counts[b])


def forward_fx_batch(*args):
    """Every channel of the batch (:func:`forward_fx_range`'s arguments without the channel range):
    in the calling thread below ``SERIAL_BELOW`` channels, else ``prange`` over the channels
    (:func:`kernels._core.batching.run_channels`)."""
    run_channels(forward_fx_range, *args)
