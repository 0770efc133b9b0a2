"""Private Numba kernel of JCEHB's per-slot hardware datapath: CEDUN (eq. 17) and HBDUN (eq. 31)
in integers (int64, no float operation), one channel per call.

The contract (the integer reference ``tests/naive_fixed_jcehb.py`` is written from it):

* Every value is a word of a format of :mod:`hbf_edge.families.jcehb.formats` (rows of ``fm`` in
  ``JCEHB_FORMATS`` order): inputs ``Y`` (received), ``X`` (pilot); constants in ``coef``
  (multipliers) or ``accumulator`` (offsets, ``gamma``, ``G_F``, ``nu``); everything computed in
  the accumulator ``A`` (``fA`` fraction bits).
* A product of an ``A`` word and a word with ``f`` fraction bits, or a sum of such products, is
  brought back to ``A`` by ``requant(sum, f)``: one rounding of the whole sum by ``A``'s rule, then
  saturation (or wrap) counted at the stage's site.  A multiplier ``T`` (complex, ``coef``) and an
  offset ``q`` (``A``) make ``fit(rshift(T x, fC) + q)``.
* CEDUN's (17a)-(17c) -- ``P``, ``g`` and the gain ``v`` -- depend on the pilots and the trained
  constants only, never on the received data: they are constants of the superframe, computed
  once in float64 (:func:`kernels.jcehb.hardware.rls_gains`) and given as ``v`` words.  Per slot
  only (17d) runs: ``e = y - W^H x``, ``W = T_w o (W + v e^H) + q_w``.  (Running P per slot in a
  32-bit accumulator lost 2.8 % of the rate at the paper's sizes: P needs ~23 bits of range.)
* Divisions (``diag(C)^-1``, the power normalisation) are one ``div_round`` each; a zero
  divisor is counted at ``reciprocal`` and gives 0.  The square root
  of the normalisation is ``isqrt``.  ``2^t`` (alpha = 2): the integer part of ``t`` a shift, the
  fraction the ``2^(j/256)`` table (``exp2`` words in ``A``), its low bits dropped (floor).
* Inverses: Gauss-Jordan through the real embedding (:func:`kernels._core.linalg_fixed.cinv_fx`)
  in ``A`` (``fmu``: every row the accumulator).
* Outputs: ``H_hat`` in ``heq``, ``F_BB`` in ``precoder``, ``W_BB`` in ``combiner``;
  ``counts[site]`` per channel.

The layout of the packed constants is :func:`kernels.jcehb.hardware.pack_hw`'s.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.families.jcehb.formats import COUNTER_SITES, EXP2_TABLE_BITS, JCEHB_FORMATS, T_RANGE
from hbf_edge.kernels._core.fixed import div_round, fit, int64_range, isqrt, rshift
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg_fixed import cinv_fx, matmul_fx

RCV, PIL, COEF, ACC, HEQ, PRE, CMB = (JCEHB_FORMATS.index(n) for n in JCEHB_FORMATS)
(S_IN, S_CE, S_REC, S_HEQ, S_MMSE, S_DUAL, S_GRAM, S_INV, S_PRE, S_NORM, S_OUT) = int64_range(len(COUNTER_SITES))
N_SITES = len(COUNTER_SITES)
T_LO, T_HI = T_RANGE


@njit(cache=True)
def _fit(x, fmt, cnt, site):  # pragma: no cover - compiled
    """:func:`kernels._core.fixed.fit` as a call: inlined at Numba's level in every use, it made
    the first call of a test that compiles this kernel and the float one take 72 s, against 53 s
    with calls (NUMBA_OPT=3, empty cache)."""
    return fit(x, fmt, cnt, site)


@njit(cache=True)
def _rs(x, s, mode):  # pragma: no cover - compiled
    """:func:`kernels._core.fixed.rshift` as a call (see :func:`_fit`)."""
    return rshift(x, s, mode)


@njit(cache=True)
def _rq(x, s, fm, cnt, site):  # pragma: no cover - compiled
    """``x`` rounded down by ``s`` bits by the accumulator's rule, fitted into it."""
    return _fit(_rs(x, s, fm[ACC, 3]), fm[ACC], cnt, site)


@njit(cache=True)
def _tq(tr, ti, xr, xi, qr, qi, fm, cnt, site):  # pragma: no cover - compiled
    """``T x + q``: complex ``coef`` multiplier, ``A`` value and offset."""
    fC = fm[COEF, 0]
    mode = fm[ACC, 3]
    return (_fit(_rs(tr * xr - ti * xi, fC, mode) + qr, fm[ACC], cnt, site),
            _fit(_rs(tr * xi + ti * xr, fC, mode) + qi, fm[ACC], cnt, site))


@njit(cache=True)
def exp2_fx(t, table, fm, cnt, site):  # pragma: no cover - compiled
    """``2^t`` for an ``A`` word ``t``."""
    fA = fm[ACC, 0]
    ti = t >> fA
    j = (t - (ti << fA)) >> (fA - EXP2_TABLE_BITS)
    return _fit(_rs(table[j], -ti, fm[ACC, 3]), fm[ACC], cnt, site)


@njit(cache=True)
def cedun_fx(yr, yi, xr, xi, ce, gr, gi, fm, cnt, hr, hi):  # pragma: no cover - compiled
    """CEDUN's per-slot part on one channel: ``Y [K, R, L]`` (received) -> ``H_hat [K, R, N]``
    (heq), with the gains ``v [L, K, N]`` (A words) of (17a)-(17c), which do not depend on the
    received pilots and so are constants of the superframe (:func:`kernels.jcehb.hardware.rls_gains`)."""
    K, R, L = yr.shape
    N = xr.shape[0]
    fA = fm[ACC, 0]
    fX = fm[PIL, 0]
    mode = fm[ACC, 3]
    wr = np.empty((N, R), np.int64)
    wi = np.empty((N, R), np.int64)
    er = np.empty(R, np.int64)
    ei = np.empty(R, np.int64)
    for k in range(K):
        for a in range(N):
            for r in range(R):
                wr[a, r] = 0
                wi[a, r] = 0
        for n in range(L):
            for r in range(R):  # e = y - W^H x
                sr = 0
                si = 0
                for a in range(N):
                    sr += wr[a, r] * xr[a, n] + wi[a, r] * xi[a, n]
                    si += wr[a, r] * xi[a, n] - wi[a, r] * xr[a, n]
                er[r] = _fit(_rs(yr[k, r, n], fm[RCV, 0] - fA, mode) - _rs(sr, fX, mode), fm[ACC], cnt, S_CE)
                ei[r] = _fit(_rs(yi[k, r, n], fm[RCV, 0] - fA, mode) - _rs(si, fX, mode), fm[ACC], cnt, S_CE)
            for a in range(N):  # (17d) W = T_w o (W + v e^H) + q_w
                vr = gr[n, k, a]
                vi = gi[n, k, a]
                for r in range(R):
                    sr = _fit(wr[a, r] + _rs(vr * er[r] + vi * ei[r], fA, mode), fm[ACC], cnt, S_CE)
                    si = _fit(wi[a, r] + _rs(vi * er[r] - vr * ei[r], fA, mode), fm[ACC], cnt, S_CE)
                    wr[a, r], wi[a, r] = _tq(ce[12, n, k, a, r], ce[13, n, k, a, r], sr, si, ce[14, n, k, a, r],
                                             ce[15, n, k, a, r], fm, cnt, S_CE)
        s = fA - fm[HEQ, 0]
        for r in range(R):  # H_hat = W^H
            for a in range(N):
                hr[k, r, a] = _fit(_rs(wr[a, r], s, fm[HEQ, 3]), fm[HEQ], cnt, S_HEQ)
                hi[k, r, a] = _fit(_rs(-wi[a, r], s, fm[HEQ, 3]), fm[HEQ], cnt, S_HEQ)


@njit(cache=True)
def normalise_fx(fr, fi, gfr, gfi, K, S, fm, cnt):  # pragma: no cover - compiled
    """Every user's block to ``f^H G_F f = S``: ``scale = isqrt(S 2^(3 fA) / p)``."""
    N = fr.shape[0]
    fA = fm[ACC, 0]
    for k in range(K):
        p = 0
        for s in range(S):
            c = k * S + s
            for a in range(N):
                tr = 0
                ti = 0
                for b in range(N):
                    tr += gfr[a, b] * fr[b, c] - gfi[a, b] * fi[b, c]
                    ti += gfr[a, b] * fi[b, c] + gfi[a, b] * fr[b, c]
                tr = _rq(tr, fA, fm, cnt, S_NORM)
                ti = _rq(ti, fA, fm, cnt, S_NORM)
                p += fr[a, c] * tr + fi[a, c] * ti
        p = _rq(p, fA, fm, cnt, S_NORM)
        if p <= 0:
            cnt[S_REC] += 1
            continue
        scale = _fit(isqrt(div_round(S << (3 * fA), p, 2)), fm[ACC], cnt, S_NORM)
        for s in range(S):
            for a in range(N):
                c = k * S + s
                fr[a, c] = _rq(fr[a, c] * scale, fA, fm, cnt, S_NORM)
                fi[a, c] = _rq(fi[a, c] * scale, fA, fm, cnt, S_NORM)


@njit(cache=True)
def mmse_fx(hr, hi, fr, fi, nu, S, wr, wi, fm, fmu, cnt, ar, ai, cr, ci, vr, vi):  # pragma: no cover - compiled
    """Eq. (24): ``W_k = (A_k A_k^H + nu I)^-1 A_k[:, user k]`` for every user; workspaces
    ``ar, ai [R, K S]`` and ``cr, ci, vr, vi [R, R]`` from the caller."""
    K, R = hr.shape[0], hr.shape[1]
    KS = fr.shape[1]
    fA = fm[ACC, 0]
    for k in range(K):
        matmul_fx(hr[k], hi[k], fr, fi, ar, ai, fA, fmu, cnt, S_MMSE)  # A = H_k F
        for p in range(R):
            for q in range(R):
                sr = 0
                si = 0
                for c in range(KS):
                    sr += ar[p, c] * ar[q, c] + ai[p, c] * ai[q, c]
                    si += ai[p, c] * ar[q, c] - ar[p, c] * ai[q, c]
                cr[p, q] = _fit(_rs(sr, fA, fm[ACC, 3]) + (nu if p == q else 0), fm[ACC], cnt, S_MMSE)
                ci[p, q] = _rq(si, fA, fm, cnt, S_MMSE)
        cinv_fx(cr, ci, vr, vi, fmu, cnt, S_INV)
        for p in range(R):
            for s in range(S):
                sr = 0
                si = 0
                for q in range(R):
                    sr += vr[p, q] * ar[q, k * S + s] - vi[p, q] * ai[q, k * S + s]
                    si += vr[p, q] * ai[q, k * S + s] + vi[p, q] * ar[q, k * S + s]
                wr[k, p, s] = _rq(sr, fA, fm, cnt, S_MMSE)
                wi[k, p, s] = _rq(si, fA, fm, cnt, S_MMSE)


@njit(cache=True)
def hbdun_fx(hq, hqi, gfr, gfi, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, fm, fmu, cnt, fo, foi, wo,
             woi):  # pragma: no cover - compiled
    """HBDUN on one channel: ``H_hat [K, R, N]`` (heq) -> ``F_BB [N, K S]`` (precoder),
    ``W_BB [K, R, S]`` (combiner).  Workspaces are allocated once per channel."""
    K, R, N = hq.shape
    S = wo.shape[2]
    Lh = hb.shape[1]
    KS = K * S
    fA = fm[ACC, 0]
    fC = fm[COEF, 0]
    mode = fm[ACC, 3]
    one = 1 << fA
    hr = np.empty((K, R, N), np.int64)
    hi = np.empty((K, R, N), np.int64)
    s_h = fm[HEQ, 0] - fA
    for k in range(K):
        for r in range(R):
            for a in range(N):
                hr[k, r, a] = _rs(hq[k, r, a], s_h, mode)
                hi[k, r, a] = _rs(hqi[k, r, a], s_h, mode)
    fr = np.empty((N, KS), np.int64)
    fi = np.empty((N, KS), np.int64)
    wr = np.empty((K, R, S), np.int64)
    wi = np.empty((K, R, S), np.int64)
    mr = np.empty((K, R, S), np.int64)
    mi = np.empty((K, R, S), np.int64)
    ar = np.empty((R, KS), np.int64)
    ai = np.empty((R, KS), np.int64)
    cr = np.empty((R, R), np.int64)
    ci = np.empty((R, R), np.int64)
    vr = np.empty((R, R), np.int64)
    vi = np.empty((R, R), np.int64)
    Cr = np.empty((N, N), np.int64)
    Ci = np.empty((N, N), np.int64)
    Mr = np.empty((N, N), np.int64)
    Mi = np.empty((N, N), np.int64)
    hwr = np.empty((K, N, S), np.int64)
    hwi = np.empty((K, N, S), np.int64)
    t = np.zeros((K, S), np.int64)
    lam = np.empty((K, S), np.int64)
    for k in range(K):  # the matched filter start
        for s in range(S):
            for a in range(N):
                fr[a, k * S + s] = hr[k, s, a]
                fi[a, k * S + s] = -hi[k, s, a]
    normalise_fx(fr, fi, gfr, gfi, K, S, fm, cnt)
    for i in range(Lh):
        mmse_fx(hr, hi, fr, fi, nu, S, mr, mi, fm, fmu, cnt, ar, ai, cr, ci, vr, vi)
        for k in range(K):  # (31a), (31b)
            for p in range(R):
                for s in range(S):
                    wr[k, p, s], wi[k, p, s] = _tq(hbw[0, i, k, p, s], hbw[1, i, k, p, s], mr[k, p, s], mi[k, p, s],
                                                   hbw[2, i, k, p, s], hbw[3, i, k, p, s], fm, cnt, S_MMSE)
            for s in range(S):
                x = _fit(_rs(hbs[0, i, k] * exp2_fx(t[k, s], table, fm, cnt, S_DUAL), fC, mode) + hbs[1, i, k],
                        fm[ACC], cnt, S_DUAL)
                lam[k, s] = max(x, lam_floor)
        tau = 0
        for k in range(K):  # h = H_k^H w_kl
            for s in range(S):
                w2 = 0
                for p in range(R):
                    w2 += wr[k, p, s] * wr[k, p, s] + wi[k, p, s] * wi[k, p, s]
                tau += _rs(lam[k, s] * _rq(w2, fA, fm, cnt, S_GRAM), fA, mode)
                for a in range(N):
                    sr = 0
                    si = 0
                    for p in range(R):
                        sr += hr[k, p, a] * wr[k, p, s] + hi[k, p, a] * wi[k, p, s]
                        si += hr[k, p, a] * wi[k, p, s] - hi[k, p, a] * wr[k, p, s]
                    hwr[k, a, s] = _rq(sr, fA, fm, cnt, S_GRAM)
                    hwi[k, a, s] = _rq(si, fA, fm, cnt, S_GRAM)
        tau = _fit(div_round(_rs(_fit(tau, fm[ACC], cnt, S_GRAM) * nu, fA, mode), KS, mode), fm[ACC], cnt, S_GRAM)
        for a in range(N):  # C = sum lam h h^H + tau I
            for b in range(N):
                sr = tau if a == b else 0
                si = 0
                for k in range(K):
                    for s in range(S):
                        pr_ = _rs(hwr[k, a, s] * hwr[k, b, s] + hwi[k, a, s] * hwi[k, b, s], fA, mode)
                        pi_ = _rs(hwi[k, a, s] * hwr[k, b, s] - hwr[k, a, s] * hwi[k, b, s], fA, mode)
                        sr += _rs(lam[k, s] * pr_, fA, mode)
                        si += _rs(lam[k, s] * pi_, fA, mode)
                Cr[a, b] = _fit(sr, fm[ACC], cnt, S_GRAM)
                Ci[a, b] = _fit(si, fm[ACC], cnt, S_GRAM)
        if exact:
            cinv_fx(Cr, Ci, Mr, Mi, fmu, cnt, S_INV)
        for k in range(K):  # (31c)
            if not exact:  # (29)-(30): diag(C)^-1 B + D^-
                for a in range(N):
                    if Cr[a, a] == 0:
                        cnt[S_REC] += 1
                        inv_d = 0
                    else:
                        inv_d = _fit(div_round(one << fA, Cr[a, a], mode), fm[ACC], cnt, S_REC)
                    for b in range(N):
                        Mr[a, b] = _fit(_rs(hb[0, i, k, a, b] * inv_d, fC, mode) + hb[2, i, k, a, b], fm[ACC], cnt,
                                       S_INV)
                        Mi[a, b] = _fit(_rs(hb[1, i, k, a, b] * inv_d, fC, mode) + hb[3, i, k, a, b], fm[ACC], cnt,
                                       S_INV)
            for s in range(S):
                for a in range(N):
                    sr = 0
                    si = 0
                    for b in range(N):
                        sr += Mr[a, b] * hwr[k, b, s] - Mi[a, b] * hwi[k, b, s]
                        si += Mr[a, b] * hwi[k, b, s] + Mi[a, b] * hwr[k, b, s]
                    sr = _rq(lam[k, s] * _rq(sr, fA, fm, cnt, S_PRE), fA, fm, cnt, S_PRE)
                    si = _rq(lam[k, s] * _rq(si, fA, fm, cnt, S_PRE), fA, fm, cnt, S_PRE)
                    fr[a, k * S + s], fi[a, k * S + s] = _tq(hbf[0, i, k, a], hbf[1, i, k, a], sr, si,
                                                             hbf[2, i, k, a], hbf[3, i, k, a], fm, cnt, S_PRE)
        normalise_fx(fr, fi, gfr, gfi, K, S, fm, cnt)
        for k in range(K):  # (23), (31d)
            matmul_fx(hr[k], hi[k], fr, fi, ar, ai, fA, fmu, cnt, S_DUAL)  # A = H_k F
            for s in range(S):
                tot = 0
                dr = 0
                di = 0
                w2 = 0
                for c in range(KS):
                    gr_ = 0
                    gi_ = 0
                    for p in range(R):
                        gr_ += wr[k, p, s] * ar[p, c] + wi[k, p, s] * ai[p, c]
                        gi_ += wr[k, p, s] * ai[p, c] - wi[k, p, s] * ar[p, c]
                    gr_ = _rq(gr_, fA, fm, cnt, S_DUAL)
                    gi_ = _rq(gi_, fA, fm, cnt, S_DUAL)
                    tot += gr_ * gr_ + gi_ * gi_
                    if c == k * S + s:
                        dr = gr_
                        di = gi_
                for p in range(R):
                    w2 += wr[k, p, s] * wr[k, p, s] + wi[k, p, s] * wi[k, p, s]
                eps = _rq((one - dr) * (one - dr) + di * di + tot - (dr * dr + di * di) + nu * _rq(w2, fA, fm, cnt,
                                                                                                    S_DUAL),
                          fA, fm, cnt, S_DUAL)
                at = exp2_fx(t[k, s], table, fm, cnt, S_DUAL)
                inner = _fit(t[k, s] + _rs(hbs[4, i, k] * (one - _rq(eps * at, fA, fm, cnt, S_DUAL)), fC, mode),
                            fm[ACC], cnt, S_DUAL)
                tn = _fit(_rs(hbs[2, i, k] * inner, fC, mode) + hbs[3, i, k], fm[ACC], cnt, S_DUAL)
                t[k, s] = min(max(tn, T_LO * one), T_HI * one)
    mmse_fx(hr, hi, fr, fi, nu, S, wr, wi, fm, fmu, cnt, ar, ai, cr, ci, vr, vi)
    s_f = fA - fm[PRE, 0]
    for a in range(N):
        for c in range(KS):
            fo[a, c] = _fit(_rs(fr[a, c], s_f, fm[PRE, 3]), fm[PRE], cnt, S_OUT)
            foi[a, c] = _fit(_rs(fi[a, c], s_f, fm[PRE, 3]), fm[PRE], cnt, S_OUT)
    s_w = fA - fm[CMB, 0]
    for k in range(K):
        for p in range(R):
            for s in range(S):
                wo[k, p, s] = _fit(_rs(wr[k, p, s], s_w, fm[CMB, 3]), fm[CMB], cnt, S_OUT)
                woi[k, p, s] = _fit(_rs(wi[k, p, s], s_w, fm[CMB, 3]), fm[CMB], cnt, S_OUT)


@njit(cache=True)
def _slot_fx(b, yr, yi, xr, xi, ce, vgr, vgi, gfr, gfi, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, fm, fmu,
             stages, hr, hi, fr, fi, wr, wi, counts):  # pragma: no cover - compiled
    """``stages``: 3 both, 1 CEDUN only, 2 HBDUN only (from the ``H_hat`` words in ``hr, hi``)."""
    if stages & 1:
        cedun_fx(yr[b], yi[b], xr, xi, ce, vgr, vgi, fm, counts[b], hr[b], hi[b])
    if stages & 2:
        hbdun_fx(hr[b], hi[b], gfr, gfi, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, fm, fmu, counts[b], fr[b],
                 fi[b], wr[b], wi[b])


@njit(cache=True, nogil=True)
def slots_fx(yr, yi, xr, xi, ce, vgr, vgi, gfr, gfi, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, fm, fmu,
             stages, hr, hi, fr, fi, wr, wi, counts, lo, hi_b):  # pragma: no cover - compiled
    """Channels ``lo .. hi_b - 1`` in turn, without the GIL: the calling thread runs a small
    batch, :func:`kernels._core.batching.run_batch` a larger one in chunks on Python threads
    (:class:`kernels.jcehb.hardware.JcehbHwSession`; a ``prange`` driver would cost about 13 s
    more compilation on a first run).  Every channel writes its own rows only."""
    for b in range(lo, hi_b):
        _slot_fx(b, yr, yi, xr, xi, ce, vgr, vgi, gfr, gfi, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, fm, fmu,
                 stages, hr, hi, fr, fi, wr, wi, counts)
