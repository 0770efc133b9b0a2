"""Private Numba kernel of MSER's integer datapath, its sample side: the Gaussian-weight matrices
``M`` of QPSK and of 16-QAM (eq. 47-48) from the outputs ``Y = E S``, as the contract of
:mod:`kernels.mser._fixed` states them (its "Gaussian weights" and "16-QAM's weights" items)."""

from __future__ import annotations

from hbf_edge.kernels._core.fixed import div_round, isqrt
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.mser._prims import ACC, I_MAX, KER, S_WGT, STP, TB, _fit, _rq, _rs

__all__ = ["gauss", "weights"]


@njit(cache=True)
def gauss(y, s, ktab, fm):  # pragma: no cover - compiled
    """The Gaussian weight ``e^{-y^2 / (2 r^2)}`` of an A word ``y`` (kernel word; contract)."""
    fA = fm[ACC, 0]
    z = _rs(y * s, fm[STP, 0], fm[ACC, 3])
    if z >= (1 << 31) or z <= -(1 << 31):
        return 0
    u = _rs(z * z, fA, fm[ACC, 3])
    sh = fA - TB
    i = u >> sh
    if i >= I_MAX:
        return 0
    return ktab[i] + _rs((ktab[i + 1] - ktab[i]) * (u - (i << sh)), sh, fm[KER, 3])


@njit(cache=True)
def _beta_sh(tr, ti, sr, si, i, d):  # pragma: no cover - compiled
    """Entry ``(i, d)`` of ``t S^H`` (``t`` [D_k, J] weights, ``S`` [D, J] symbols): exact sums."""
    pr = 0
    pi = 0
    for j in range(tr.shape[1]):
        pr += tr[i, j] * sr[d, j] + ti[i, j] * si[d, j]
        pi += ti[i, j] * sr[d, j] - tr[i, j] * si[d, j]
    return pr, pi


@njit(cache=True)
def _weights_qam(yr, yi, er, ei, sr, si, k, s, c, lo, hi, ktab, mr, mi, tr, ti, fm, cnt):  # pragma: no cover
    """Columns ``lo .. hi - 1`` of 16-QAM's ``M`` [D_k, D] (contract), from the outputs ``Y`` and
    ``E_k`` [D_k, D]; ``t`` scratch [D_k, J]."""
    dk, J = yr.shape
    fA, mode = fm[ACC, 0], fm[ACC, 3]
    sh = fm[STP, 0] + fm[KER, 0] - fA + 1
    for i in range(dk):
        g = k * dk + i
        cr, ci = er[i, g], ei[i, g]
        mag = isqrt(_rq(cr * cr + ci * ci, fA, fm, ACC, cnt, S_WGT) << fA)
        if mag == 0:
            for d in range(lo, hi):
                mr[i, d] = 0
                mi[i, d] = 0
            continue
        qr = _fit(div_round(cr << fA, mag, mode), fm[ACC], cnt, S_WGT)
        qi = _fit(div_round(ci << fA, mag, mode), fm[ACC], cnt, S_WGT)
        own_r = 0
        num_i = 0
        for j in range(J):
            ur = _rs(yr[i, j] * qr + yi[i, j] * qi, fA, mode)
            ui = _rs(yi[i, j] * qr - yr[i, j] * qi, fA, mode)
            br = sr[g, j] - 1
            bi = si[g, j] - 1
            a = gauss(ur - mag * br, s, ktab, fm)
            b = gauss(ui - mag * bi, s, ktab, fm)
            tr[i, j] = a
            ti[i, j] = b
            own_r -= a * br + b * bi
            num_i += a * ui - b * ur
        own_i = div_round(num_i, mag, mode)
        for d in range(lo, hi):
            pr, pi = _beta_sh(tr, ti, sr, si, i, d)
            if d == g:
                pr += own_r
                pi += own_i
            xr = _rs(qr * pr - qi * pi, fA, mode)
            xi = _rs(qr * pi + qi * pr, fA, mode)
            mr[i, d] = _rq(3 * c * xr, sh, fm, ACC, cnt, S_WGT)
            mi[i, d] = _rq(3 * c * xi, sh, fm, ACC, cnt, S_WGT)


@njit(cache=True)
def weights(yr, yi, er, ei, sr, si, k, s, c, lo, hi, ktab, mr, mi, tr, ti, fm, cnt, qam):  # pragma: no cover
    """Columns ``lo .. hi - 1`` of ``M = c Beta S^H`` [D_k, D] (contract); ``t`` scratch [D_k, J];
    ``qam``: 16-QAM's form (:func:`_weights_qam`, which reads ``E_k``)."""
    if qam:
        _weights_qam(yr, yi, er, ei, sr, si, k, s, c, lo, hi, ktab, mr, mi, tr, ti, fm, cnt)
        return
    dk, J = yr.shape
    for i in range(dk):
        for j in range(J):
            tr[i, j] = gauss(yr[i, j], s, ktab, fm) * sr[k * dk + i, j]
            ti[i, j] = gauss(yi[i, j], s, ktab, fm) * si[k * dk + i, j]
    sh = fm[STP, 0] + fm[KER, 0] - fm[ACC, 0]
    for i in range(dk):
        for d in range(lo, hi):
            pr, pi = _beta_sh(tr, ti, sr, si, i, d)
            mr[i, d] = _rq(c * pr, sh, fm, ACC, cnt, S_WGT)
            mi[i, d] = _rq(c * pi, sh, fm, ACC, cnt, S_WGT)
