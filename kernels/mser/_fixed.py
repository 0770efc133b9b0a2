"""Private Numba kernel of MSER's hardware datapath: the unfolded layers (eq. 27-30, 26) in
integers (int64, no float operation), one channel per call.

The contract (the integer reference ``tests/naive_fixed_mser.py`` is written from it):

* Formats are the rows of ``fm`` in ``MSER_FORMATS`` order (:mod:`hbf_edge.families.mser.formats`);
  ``fX`` below is format X's fraction bits, ``A`` the accumulator.  Inputs: the channel words
  ``H / sigma_n`` (``channel``), the angle words ``theta_F [N_t, R_t]``, ``theta_U [K, R_r, N_r]``
  (``angle_bits``-bit two's complement, ``2^bits`` = 2 pi), ``V`` (``precoder``), ``W``
  (``combiner``) and the channel's step factor ``g`` (``step``).
* ``lut(theta)``: entry ``((theta + 2^(b-q-1)) >> (b-q)) mod 2^q`` of the ``q = internal_phase_bits``
  table (``lut`` words); angles wrap modulo ``2^b``: ``wrap(x)``.
* "requant(x, s) into X": ``x 2^-s`` rounded once by X's rule, then saturated (or wrapped) into
  X and counted at the stage's site.  Sums of products are exact int64 sums, rounded once.
  Products into ``A``: ``F V`` (shift ``fL + fV - fA``), ``U_k H_k`` (``fL + fC - fA``),
  ``G_k = (U_k H_k) A`` (``fA``), ``E_k = W_k^H G_k`` and ``B_k = (U_k H_k)^H W_k`` (``fW``),
  ``Y_k = E_k S`` (exact: ``S`` holds small integers), all at site ``forward``.
* Gaussian weights of an output ``y`` with the width word ``s = 1 / (sqrt 2 r)`` (``step``):
  ``z = y s 2^-fS`` (A's rule, not fitted), ``u = z^2 2^-fA`` (A's rule); ``i = u >> (fA - 5)``;
  the weight is 0 when ``|z| >= 2^31`` or ``i >= 12 * 2^5``, else
  ``t[i] + (t[i+1] - t[i]) (u mod 2^(fA-5)) 2^-(fA-5)`` (kernel's rule) from the ``e^{-i/32}``
  table ``t`` (``kernel`` words).  ``M = c Beta S^H``: the exact sums of ``+-weight x symbol``,
  times the word ``c`` (``step``), requant by ``fS + fK - fA`` into A at ``weights``.
* 16-QAM's weights (eq. 47-48 as the float kernel's ``_weights_qam``), stream i of user k, its
  desired gain ``c = E_k[i, k D_k + i]`` (A words), all at ``weights``: ``m = requant(|c|^2, fA)``,
  ``|c| = isqrt(m 2^fA)``; ``|c| = 0`` gives a zero row of ``M``.  Else ``q = c / |c|`` as
  ``fit(div(c 2^fA, |c|))`` (A's division rule); per sample ``u = Y conj(q)`` (``fA``, A's rule,
  not fitted), ``b = s - 1`` for the stream's own symbol ``s`` (small integers), Gaussian weights
  ``t = gauss(u - |c| b)`` (re and im apart), ``own_r = -sum(t_r b_r + t_i b_i)`` and
  ``own_i = div(sum(t_r u_i - t_i u_r), |c|)`` (A's division rule); ``P = t S^H`` (exact, with
  ``own`` added on the stream's own column), then ``M = requant(3 c_w requant(q P, fA), fS + fK
  - fA + 1)`` (``c_w`` the width word ``c``; ``3 / 2`` is the objective's ``phi = 1.5``).
* Gradients into A at ``gradient``: ``Z = sum_k B_k M_k`` (one rounding of the whole sum, ``fA``),
  ``grad_V = requant(-(F^H Z), fL)``, ``grad_W = requant(G M^H, fA)`` (the negative gradient, as
  the float kernel), ``grad_U = requant(-(W (requant(requant(M A^H, fA) H^H, fC))), fW)``,
  ``grad_F = requant(-(Z V^H), fV)``; angle gradients ``d = requant(Re X Im grad - Im X Re grad, fL)``.
* Steps at ``step``: ``t = requant(a x, fS)`` (complex ``a`` for V and W, real for angles), then
  ``t = requant(g t, fS)``.  Updates: ``V <- V - t 2^-(fA-fV) + O_P`` (precoder's rule, fitted at
  ``precoder``), ``W <- W + t 2^-(fA-fW) + O_W`` (``combiner``), angles
  ``theta <- wrap(theta - round(t R 2^-(fA+16)) + O_theta)`` with ``R = round(2^b / (2 pi) 2^16)``
  (A's rule; no overflow: the wrap is the circle).
* Combiner normalisation of stream i: ``p = requant(U_k^H w_i, fL + fW - fA)``,
  ``s = requant(sum |p|^2, fA)``, ``q = isqrt(s 2^fA)``, ``inv = requant(2^(2 fA) / q)`` (A's
  division rule), ``w <- w inv 2^-fA`` (combiner's rule), all at ``norm``/``combiner``; ``q = 0``
  is counted at ``norm`` and leaves ``w``.
* Scaling (26), at the end of every layer: ``A = F V``, ``n = requant(sum |A|^2, fA)``,
  ``ratio = div(P 2^fA, n)``, ``scale = isqrt(ratio 2^fA)``, ``V <- V scale 2^-fA`` (precoder's
  rule); ``n = 0`` is counted at ``norm`` and leaves ``V``.
* After the L layers the phases go to their codes, ``((theta + 2^(b-Q-1)) >> (b-Q)) mod 2^Q``
  (``Q = Q_BS`` for F, ``Q_UE`` for U), ``F`` and ``U`` become the code tables' (``oc, os``,
  ``uc, us``), ``U_k H_k`` is formed again and ``V`` rescaled (26) on the codes' ``F``; then
  ``refit`` digital layers run (27), (28) with the last layer's constants and (26), the phases
  fixed (:mod:`quant.mser.qat`: they let ``V`` and ``W`` adapt to the codes).

Layer order and the per-layer widths are the float kernel's (:mod:`kernels.mser._float`).  The
sample side (both constellations' weights) is :mod:`kernels.mser._weights`, the
format rows, counter sites and requantisation calls :mod:`kernels.mser._prims`.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.families.mser.formats import RAD_FRAC
from hbf_edge.kernels._core.fixed import div_round, isqrt
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.mser._prims import (ACC, CH, CMB, LUT, N_SITES, PRE, S_CMB, S_FWD, S_GRD, S_NORM, S_PRE,
                                          S_STP, STP, _fit, _rq, _rs)
from hbf_edge.kernels.mser._weights import weights as _weights

__all__ = ["channel_fx", "code_of", "wrap", "phases", "N_SITES"]


@njit(cache=True)
def code_of(theta, abits, q):  # pragma: no cover - compiled
    """The ``q``-bit code (or table index) of an angle word: its top bits, rounded."""
    if q == abits:
        return theta & ((1 << q) - 1)
    return ((theta + (1 << (abits - q - 1))) >> (abits - q)) & ((1 << q) - 1)


@njit(cache=True)
def wrap(x, abits):  # pragma: no cover - compiled
    """``x`` as an ``abits``-bit two's-complement word (the circle)."""
    half = 1 << (abits - 1)
    return ((x + half) & ((1 << abits) - 1)) - half


@njit(cache=True)
def phases(theta, abits, q, tc, ts, outr, outi):  # pragma: no cover - compiled
    """``e^{j theta}`` of a 2-D array of angle words from the ``q``-bit table ``(tc, ts)``."""
    P, Q = theta.shape
    for p in range(P):
        for c in range(Q):
            i = code_of(theta[p, c], abits, q)
            outr[p, c] = tc[i]
            outi[p, c] = ts[i]


@njit(cache=True)
def _mm(ar, ai, br, bi, outr, outi, shift, neg, ah, bh, fm, cnt, site):  # pragma: no cover - compiled
    """``out = (+-) op(A) op(B)`` rounded by ``shift`` into A, ``op`` the conjugate transpose
    where ``ah`` / ``bh`` (A is [P, R] or [R, P], B [R, Q] or [Q, R])."""
    P = ar.shape[1] if ah else ar.shape[0]
    R = ar.shape[0] if ah else ar.shape[1]
    Q = br.shape[0] if bh else br.shape[1]
    for i in range(P):
        for j in range(Q):
            sr = 0
            si = 0
            for r in range(R):
                if ah:
                    xr, xi = ar[r, i], -ai[r, i]
                else:
                    xr, xi = ar[i, r], ai[i, r]
                if bh:
                    yr, yi = br[j, r], -bi[j, r]
                else:
                    yr, yi = br[r, j], bi[r, j]
                sr += xr * yr - xi * yi
                si += xr * yi + xi * yr
            if neg:
                sr = -sr
                si = -si
            outr[i, j] = _rq(sr, shift, fm, ACC, cnt, site)
            outi[i, j] = _rq(si, shift, fm, ACC, cnt, site)


@njit(cache=True)
def _outputs(er, ei, sr, si, yr, yi, fm, cnt):  # pragma: no cover - compiled
    """``Y = E S`` [D_k, J]: ``_mm`` with no shift (exact: the symbols are small integers), fitted into A."""
    _mm(er, ei, sr, si, yr, yi, 0, False, False, False, fm, cnt, S_FWD)


@njit(cache=True)
def _zsum(br, bi, mr, mi, lo, hi, zr, zi, fm, cnt):  # pragma: no cover - compiled
    """Columns ``lo .. hi - 1`` of ``Z = sum_k B_k M_k`` [N_t, D]: one rounding of the whole sum."""
    K, Nt, Dk = br.shape
    fA = fm[ACC, 0]
    for n in range(Nt):
        for d in range(lo, hi):
            sr = 0
            si = 0
            for k in range(K):
                for i in range(Dk):
                    sr += br[k, n, i] * mr[k, i, d] - bi[k, n, i] * mi[k, i, d]
                    si += br[k, n, i] * mi[k, i, d] + bi[k, n, i] * mr[k, i, d]
            zr[n, d] = _rq(sr, fA, fm, ACC, cnt, S_GRD)
            zi[n, d] = _rq(si, fA, fm, ACC, cnt, S_GRD)


@njit(cache=True)
def _normalise(ur, ui, wr, wi, fm, cnt):  # pragma: no cover - compiled
    """``w_i <- w_i / ||U^H w_i||`` for one user (``U`` [R_r, N_r] lut words)."""
    Rr, Nr = ur.shape
    Dk = wr.shape[1]
    fA = fm[ACC, 0]
    sh = fm[LUT, 0] + fm[CMB, 0] - fA
    for i in range(Dk):
        s = 0
        for n in range(Nr):
            pr = 0
            pi = 0
            for r in range(Rr):
                pr += ur[r, n] * wr[r, i] + ui[r, n] * wi[r, i]
                pi += ur[r, n] * wi[r, i] - ui[r, n] * wr[r, i]
            pr = _rq(pr, sh, fm, ACC, cnt, S_NORM)
            pi = _rq(pi, sh, fm, ACC, cnt, S_NORM)
            s += pr * pr + pi * pi
        s = _rq(s, fA, fm, ACC, cnt, S_NORM)
        q = isqrt(s << fA)
        if q == 0:
            cnt[S_NORM] += 1
            continue
        inv = _fit(div_round(1 << (2 * fA), q, fm[ACC, 3]), fm[ACC], cnt, S_NORM)
        for r in range(Rr):
            wr[r, i] = _rq(wr[r, i] * inv, fA, fm, CMB, cnt, S_CMB)
            wi[r, i] = _rq(wi[r, i] * inv, fA, fm, CMB, cnt, S_CMB)


@njit(cache=True)
def _step(a, x, g, fm, cnt):  # pragma: no cover - compiled
    """``requant(g requant(a x, fS), fS)`` (real)."""
    fS = fm[STP, 0]
    t = _rq(a * x, fS, fm, ACC, cnt, S_STP)
    return _rq(g * t, fS, fm, ACC, cnt, S_STP)


@njit(cache=True)
def _cstep(ar, ai, xr, xi, g, fm, cnt):  # pragma: no cover - compiled
    """``requant(g requant(a x, fS), fS)`` (complex)."""
    fS = fm[STP, 0]
    tr = _rq(ar * xr - ai * xi, fS, fm, ACC, cnt, S_STP)
    ti = _rq(ar * xi + ai * xr, fS, fm, ACC, cnt, S_STP)
    return _rq(g * tr, fS, fm, ACC, cnt, S_STP), _rq(g * ti, fS, fm, ACC, cnt, S_STP)


@njit(cache=True)
def _phase_step(theta, xr, xi, gr, gi, a, off, g, rad, abits, fm, cnt):  # pragma: no cover - compiled
    """``theta <- wrap(theta - g a Im(conj(X) o grad) in angle units + off)`` (2-D, in place)."""
    P, Q = theta.shape
    fA = fm[ACC, 0]
    for p in range(P):
        for q in range(Q):
            d = _rq(xr[p, q] * gi[p, q] - xi[p, q] * gr[p, q], fm[LUT, 0], fm, ACC, cnt, S_GRD)
            t = _step(a[p, q], d, g, fm, cnt)
            delta = _rs(t * rad, fA + RAD_FRAC, fm[ACC, 3])
            theta[p, q] = wrap(theta[p, q] - delta + off[p, q], abits)


@njit(cache=True)
def _scale_v(fr, fi, vr, vi, ar, ai, power, fm, cnt):  # pragma: no cover - compiled
    """(26): ``V <- sqrt(P) V / ||F V||_F`` (contract); ``a`` scratch [N_t, D]."""
    fA = fm[ACC, 0]
    _mm(fr, fi, vr, vi, ar, ai, fm[LUT, 0] + fm[PRE, 0] - fA, False, False, False, fm, cnt, S_FWD)
    s = 0
    for n in range(ar.shape[0]):
        for d in range(ar.shape[1]):
            s += ar[n, d] * ar[n, d] + ai[n, d] * ai[n, d]
    s = _rq(s, fA, fm, ACC, cnt, S_NORM)
    if s == 0:
        cnt[S_NORM] += 1
        return
    ratio = _fit(div_round(power << fA, s, fm[ACC, 3]), fm[ACC], cnt, S_NORM)
    scale = isqrt(ratio << fA)
    for r in range(vr.shape[0]):
        for d in range(vr.shape[1]):
            vr[r, d] = _rq(vr[r, d] * scale, fA, fm, PRE, cnt, S_PRE)
            vi[r, d] = _rq(vi[r, d] * scale, fA, fm, PRE, cnt, S_PRE)


@njit(cache=True)
def _uh(ur, ui, hr, hi, outr, outi, fm, cnt):  # pragma: no cover - compiled
    _mm(ur, ui, hr, hi, outr, outi, fm[LUT, 0] + fm[CH, 0] - fm[ACC, 0], False, False, False, fm, cnt, S_FWD)


@njit(cache=True)
def channel_fx(hr, hi, tf, vr, vi, tu, wr, wi, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_,
               ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad, abits, qi, qbs, qus, refit,
               qam, fm, cnt, cf, cu, first, stop):  # pragma: no cover - compiled
    """Iterations ``first .. stop - 1`` of one channel -- the L layers (the rounding to codes at
    the end of the last), then ``refit`` digital layers (``qam``: with 16-QAM's weights) -- in place
    on ``tf, V, tu, W``; the codes into ``cf [N_t, R_t]`` (``Q_BS`` bits) and ``cu [K, R_r, N_r]`` (``Q_UE``).

    F, U and ``U_k H_k`` are formed on entry: from the angles before the rounding, from the
    codes ``cf, cu`` (which an earlier call wrote) after it.  A run split into several calls
    therefore gives the whole run's words and codes; its ``forward`` counter also counts the
    ``U_k H_k`` formed again at each entry."""
    K, Nr, Nt = hr.shape
    Rt, D = vr.shape
    Rr, Dk = wr.shape[1], wr.shape[2]
    L, J = sym_r.shape[0], sym_r.shape[2]
    fA, fL, fV, fW = fm[ACC, 0], fm[LUT, 0], fm[PRE, 0], fm[CMB, 0]
    e = np.empty
    fr = e((Nt, Rt), np.int64)
    fi = e((Nt, Rt), np.int64)
    ur = e((K, Rr, Nr), np.int64)
    ui = e((K, Rr, Nr), np.int64)
    ar = e((Nt, D), np.int64)
    ai = e((Nt, D), np.int64)
    uhr = e((K, Rr, Nt), np.int64)
    uhi = e((K, Rr, Nt), np.int64)
    gr = e((K, Rr, D), np.int64)
    gi = e((K, Rr, D), np.int64)
    er = e((K, Dk, D), np.int64)
    ei = e((K, Dk, D), np.int64)
    br = e((K, Nt, Dk), np.int64)
    bi = e((K, Nt, Dk), np.int64)
    mr = e((K, Dk, D), np.int64)
    mi = e((K, Dk, D), np.int64)
    yr = e((K, Dk, J), np.int64)
    yi = e((K, Dk, J), np.int64)
    tbr = e((Dk, J), np.int64)
    tbi = e((Dk, J), np.int64)
    zr = e((Nt, D), np.int64)
    zi = e((Nt, D), np.int64)
    gvr = e((Rt, D), np.int64)
    gvi = e((Rt, D), np.int64)
    gwr = e((Rr, Dk), np.int64)
    gwi = e((Rr, Dk), np.int64)
    t1r = e((Dk, Nt), np.int64)
    t1i = e((Dk, Nt), np.int64)
    t2r = e((Dk, Nr), np.int64)
    t2i = e((Dk, Nr), np.int64)
    gur = e((Rr, Nr), np.int64)
    gui = e((Rr, Nr), np.int64)
    gfr = e((Nt, Rt), np.int64)
    gfi = e((Nt, Rt), np.int64)
    fFV = fL + fV - fA
    if first < L:
        phases(tf, abits, qi, lc, ls, fr, fi)
    else:  # after the rounding: the code tables
        for n in range(Nt):
            for r in range(Rt):
                fr[n, r] = oc[cf[n, r]]
                fi[n, r] = os_[cf[n, r]]
    for k in range(K):
        if first < L:
            phases(tu[k], abits, qi, lc, ls, ur[k], ui[k])
        else:
            for r in range(Rr):
                for n in range(Nr):
                    ur[k, r, n] = uc[cu[k, r, n]]
                    ui[k, r, n] = us_[cu[k, r, n]]
        _uh(ur[k], ui[k], hr[k], hi[k], uhr[k], uhi[k], fm, cnt)
    for it in range(first, stop):
        layer = min(it, L - 1)  # a refit layer takes the last layer's digital constants
        S_r, S_i = sym_r[layer], sym_i[layer]
        # (27): V, user k's columns with user k's width over every user's samples
        _mm(fr, fi, vr, vi, ar, ai, fFV, False, False, False, fm, cnt, S_FWD)
        for k in range(K):
            _mm(uhr[k], uhi[k], ar, ai, gr[k], gi[k], fA, False, False, False, fm, cnt, S_FWD)
            _mm(wr[k], wi[k], gr[k], gi[k], er[k], ei[k], fW, False, True, False, fm, cnt, S_FWD)
            _mm(uhr[k], uhi[k], wr[k], wi[k], br[k], bi[k], fW, False, True, False, fm, cnt, S_FWD)
            _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k], fm, cnt)
        for k in range(K):
            for kk in range(K):  # only user k's columns of M_kk are needed
                _weights(yr[kk], yi[kk], er[kk], ei[kk], S_r, S_i, kk, ws[layer, 0, k], wc[layer, 0, k], k * Dk,
                         (k + 1) * Dk, ktab, mr[kk], mi[kk], tbr, tbi, fm, cnt, qam)
            _zsum(br, bi, mr, mi, k * Dk, (k + 1) * Dk, zr, zi, fm, cnt)
        _mm(fr, fi, zr, zi, gvr, gvi, fL, True, True, False, fm, cnt, S_GRD)
        for r in range(Rt):
            for d in range(D):
                tr, ti = _cstep(ap_r[layer, r, d], ap_i[layer, r, d], gvr[r, d], gvi[r, d], g, fm, cnt)
                vr[r, d] = _fit(vr[r, d] - _rs(tr, fA - fV, fm[PRE, 3]) + op_r[layer, r, d], fm[PRE], cnt, S_PRE)
                vi[r, d] = _fit(vi[r, d] - _rs(ti, fA - fV, fm[PRE, 3]) + op_i[layer, r, d], fm[PRE], cnt, S_PRE)
        # (28): W_k with width rho_Wk, then the combiner normalisation
        _mm(fr, fi, vr, vi, ar, ai, fFV, False, False, False, fm, cnt, S_FWD)
        for k in range(K):
            _mm(uhr[k], uhi[k], ar, ai, gr[k], gi[k], fA, False, False, False, fm, cnt, S_FWD)
            _mm(wr[k], wi[k], gr[k], gi[k], er[k], ei[k], fW, False, True, False, fm, cnt, S_FWD)
            _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k], fm, cnt)
            _weights(yr[k], yi[k], er[k], ei[k], S_r, S_i, k, ws[layer, 1, k], wc[layer, 1, k], np.int64(0), D, ktab,
                     mr[k], mi[k], tbr, tbi, fm, cnt, qam)
            _mm(gr[k], gi[k], mr[k], mi[k], gwr, gwi, fA, False, False, True, fm, cnt, S_GRD)
            for r in range(Rr):
                for i in range(Dk):
                    tr, ti = _cstep(aw_r[layer, k, r, i], aw_i[layer, k, r, i], gwr[r, i], gwi[r, i], g, fm, cnt)
                    wr[k, r, i] = _fit(wr[k, r, i] + _rs(tr, fA - fW, fm[CMB, 3]) + ow_r[layer, k, r, i], fm[CMB],
                                       cnt, S_CMB)
                    wi[k, r, i] = _fit(wi[k, r, i] + _rs(ti, fA - fW, fm[CMB, 3]) + ow_i[layer, k, r, i], fm[CMB],
                                       cnt, S_CMB)
            _normalise(ur[k], ui[k], wr[k], wi[k], fm, cnt)
        if it >= L:  # a refit layer: the phases stay at their codes
            _scale_v(fr, fi, vr, vi, ar, ai, power, fm, cnt)
            continue
        # (29): theta_Uk with width rho_thetaUk, then the normalisation and U_k H_k again
        for k in range(K):
            _mm(wr[k], wi[k], gr[k], gi[k], er[k], ei[k], fW, False, True, False, fm, cnt, S_FWD)
            _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k], fm, cnt)
            _weights(yr[k], yi[k], er[k], ei[k], S_r, S_i, k, ws[layer, 2, k], wc[layer, 2, k], np.int64(0), D, ktab,
                     mr[k], mi[k], tbr, tbi, fm, cnt, qam)
            _mm(mr[k], mi[k], ar, ai, t1r, t1i, fA, False, False, True, fm, cnt, S_GRD)
            _mm(t1r, t1i, hr[k], hi[k], t2r, t2i, fm[CH, 0], False, False, True, fm, cnt, S_GRD)
            _mm(wr[k], wi[k], t2r, t2i, gur, gui, fW, True, False, False, fm, cnt, S_GRD)
            _phase_step(tu[k], ur[k], ui[k], gur, gui, au[layer, k], ou[layer, k], g, rad, abits, fm, cnt)
            phases(tu[k], abits, qi, lc, ls, ur[k], ui[k])
            _normalise(ur[k], ui[k], wr[k], wi[k], fm, cnt)
            _uh(ur[k], ui[k], hr[k], hi[k], uhr[k], uhi[k], fm, cnt)
        # (30) (the plain step (25) in the last layer): theta_F with one width for all users
        for k in range(K):
            _mm(uhr[k], uhi[k], ar, ai, gr[k], gi[k], fA, False, False, False, fm, cnt, S_FWD)
            _mm(wr[k], wi[k], gr[k], gi[k], er[k], ei[k], fW, False, True, False, fm, cnt, S_FWD)
            _mm(uhr[k], uhi[k], wr[k], wi[k], br[k], bi[k], fW, False, True, False, fm, cnt, S_FWD)
            _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k], fm, cnt)
            _weights(yr[k], yi[k], er[k], ei[k], S_r, S_i, k, wsf[layer], wcf[layer], np.int64(0), D, ktab, mr[k],
                     mi[k], tbr, tbi, fm, cnt, qam)
        _zsum(br, bi, mr, mi, 0, D, zr, zi, fm, cnt)
        _mm(zr, zi, vr, vi, gfr, gfi, fV, True, False, True, fm, cnt, S_GRD)
        _phase_step(tf, fr, fi, gfr, gfi, af[layer], of_[layer], g, rad, abits, fm, cnt)
        phases(tf, abits, qi, lc, ls, fr, fi)
        _scale_v(fr, fi, vr, vi, ar, ai, power, fm, cnt)  # (26)
        if it == L - 1:  # the phases to their codes, V rescaled on the codes' F
            for n in range(Nt):
                for r in range(Rt):
                    c = code_of(tf[n, r], abits, qbs)
                    cf[n, r] = c
                    fr[n, r] = oc[c]
                    fi[n, r] = os_[c]
            for k in range(K):
                for r in range(Rr):
                    for n in range(Nr):
                        c = code_of(tu[k, r, n], abits, qus)
                        cu[k, r, n] = c
                        ur[k, r, n] = uc[c]
                        ui[k, r, n] = us_[c]
                _uh(ur[k], ui[k], hr[k], hi[k], uhr[k], uhi[k], fm, cnt)
            _scale_v(fr, fi, vr, vi, ar, ai, power, fm, cnt)
