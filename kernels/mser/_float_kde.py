"""Private Numba pieces of the MSER float kernel's KDE gradient (eq. 10-13): the outputs
``Y = E S`` and the weights ``M = c Beta(rho) S^H`` (:mod:`kernels.mser._float` names the terms),
in strict IEEE order like the rest of that kernel (its module notes say why)."""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.exp import exp_neg
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.simd import block_conj_sums

_C0 = 1.0 / math.sqrt(2.0 * math.pi)
# Gaussian weights below e^-460 (about 1e-200) are flushed to zero (:func:`_gauss`)
_FLUSH_BELOW = -460.0


@njit(cache=True)
def _gauss(x, inv2):  # pragma: no cover - compiled
    """``e^{-x^2 inv2}``, the KDE's Gaussian weight (eq. 12), or 0 below ``e^-460`` (~1e-200).

    Why: at high SNR most samples sit many widths from the decision boundary, and glibc's
    ``exp`` of an exponent below -708 (a subnormal or zero result) takes its slow underflow path
    (errno); weights of 1e-300 also make subnormal products downstream.  GD on the paper's
    sizes at noise std 0.1 (20 dB): 258 us a layer, against 122 at 0.5 and 122 with the flush
    (batch 1, one thread; ``scratch/s62/mbench.py``).  What a weight below 1e-200 can move: a
    sum it enters is dominated by larger terms, or, when all its terms are that small, it is a
    step of that size, below the ulp of any design entry but an exact zero.  Measured: GD-60 on
    the paper's sizes, both constellations, noise std 0.03-1 -- every entry the same bits, but
    for a few zero phases at 0.03 that the old code moved to ~1e-295."""
    a = -x * x * inv2
    # exp of the clamped exponent, times 0 or 1: written as a select, LLVM called exp on the
    # unclamped exponent (it is the same value wherever the select keeps it); ``exp_neg`` is
    # glibc's exp in a form the weight loops vectorise (kernels._core.exp).  A NaN exponent is
    # clamped too (``max`` would pass it on to ``exp_neg``'s table index) and returned as NaN, as
    # ``math.exp`` returned it.
    c = a if a > _FLUSH_BELOW else _FLUSH_BELOW
    w = exp_neg(c) * (a > _FLUSH_BELOW)
    return w if a == a else a


@njit(cache=True)
def _outputs(er, ei, sr, si, yr, yi):  # pragma: no cover - compiled
    """``Y = E S`` [D_k, J] (the sample loop innermost, so it vectorises)."""
    dk, D = er.shape
    J = sr.shape[1]
    for i in range(dk):
        for j in range(J):
            yr[i, j] = 0.0
            yi[i, j] = 0.0
        for d in range(D):
            a, b = er[i, d], ei[i, d]
            for j in range(J):
                yr[i, j] += a * sr[d, j] - b * si[d, j]
                yi[i, j] += a * si[d, j] + b * sr[d, j]


@njit(cache=True)
def _weights_qam(yr, yi, sr, si, st_r, st_i, k, rho, lo, hi, mr, mi, tr, ti, pr, pi, er, ei):  # pragma: no cover
    """16-QAM's ``M = -grad_E`` (:mod:`hbf_edge.families.mser.kde`, eq. 47-48 [R]): per stream
    the rotation by its desired gain ``c = E[i, (k, i)]`` (from ``E`` [D_k, D]), the distance to
    the lower boundary of the symbol's region, and the term through ``c`` on the own column."""
    dk, J = yr.shape
    inv2 = 1.0 / (2.0 * rho * rho)
    scale = 1.5 * _C0 / (J * rho)  # phi = 1.5
    for i in range(dk):
        g = k * dk + i
        cr, ci = er[i, g], ei[i, g]
        mag = math.sqrt(cr * cr + ci * ci) + 1e-300
        qr, qi = cr / mag, ci / mag  # c / |c|
        own_r = 0.0
        own_i = 0.0
        for j in range(J):
            ur = (yr[i, j] * cr + yi[i, j] * ci) / mag  # Y conj(c) / |c|
            ui = (yi[i, j] * cr - yr[i, j] * ci) / mag
            br = sr[g, j] - 1.0
            bi = si[g, j] - 1.0
            xr = ur - mag * br
            xi = ui - mag * bi
            tr[i, j] = _gauss(xr, inv2)
            ti[i, j] = _gauss(xi, inv2)
            own_r -= tr[i, j] * br + ti[i, j] * bi
            own_i += (tr[i, j] * ui - ti[i, j] * ur) / mag
        block_conj_sums(tr, ti, st_r, st_i, i, i + 1, lo, hi, pr, pi)  # Beta S^H, row i
        for d in range(lo, hi):
            xr, xi = pr[i, d], pi[i, d]
            if d == g:
                xr += own_r
                xi += own_i
            mr[i, d] = scale * (qr * xr - qi * xi)
            mi[i, d] = scale * (qr * xi + qi * xr)


@njit(cache=True)
def _weights(yr, yi, sr, si, st_r, st_i, k, rho, lo, hi, mr, mi, tr, ti, pr, pi, er, ei, qam):  # pragma: no cover
    """Columns ``lo .. hi - 1`` of ``M = c Beta(rho) S^H`` [D_k, D] from ``Y`` [D_k, J] (module
    notes); ``S`` [D, J] and ``S^T`` [J, W] (zero past D); ``t`` [D_k, J] scratch for
    Beta, ``p`` [D_k, W] for Beta S^H; ``qam``: 16-QAM's form instead (:func:`_weights_qam`,
    which reads ``E``)."""
    if qam:
        _weights_qam(yr, yi, sr, si, st_r, st_i, k, rho, lo, hi, mr, mi, tr, ti, pr, pi, er, ei)
        return
    dk, J = yr.shape
    inv2 = 1.0 / (2.0 * rho * rho)
    for i in range(dk):
        for j in range(J):
            tr[i, j] = _gauss(yr[i, j], inv2) * sr[k * dk + i, j]
            ti[i, j] = _gauss(yi[i, j], inv2) * si[k * dk + i, j]
    c = _C0 / (J * rho)
    block_conj_sums(tr, ti, st_r, st_i, np.int64(0), dk, lo, hi, pr, pi)  # Beta S^H
    for i in range(dk):
        for d in range(lo, hi):
            mr[i, d] = c * pr[i, d]
            mi[i, d] = c * pi[i, d]
