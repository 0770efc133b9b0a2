"""Private Numba kernel of the MMSE-based GD (``mser_unfolding_hbf.txt`` Fig. 10; spec 3.5):
:func:`hbf_edge.families.mser.mmse_gd.mmse_gd`'s alternating line-search descent on the sum MSE,
one channel per call, complex arithmetic in plain loops.

Per channel (shapes without the batch axis): ``H [K, N_r, N_t]``, ``F [N_t, R_t]``, ``V [R_t, D]``,
``U [K, R_r, N_r]``, ``W [K, R_r, D_k]``.  With ``A = F V``, ``UH_k = U_k H_k`` and
``R_k = W_k^H UH_k A - T_k`` (``T_k`` picks user k's own streams)::

    MSE    = sum_k ||R_k||^2 + s2 ||U_k^H W_k||^2
    grad_V = 2 F^H sum_k UH_k^H W_k R_k             grad_W_k = 2 UH_k A R_k^H + 2 s2 U_k U_k^H W_k
    grad_U_k = 2 W_k R_k (H_k A)^H + 2 s2 W_k W_k^H U_k    grad_F = 2 (sum_k UH_k^H W_k R_k) V^H

and ``d/dtheta = Im(conj(X) grad_X)``, the numpy module's formulas (checked there against
autograd).  Each of the four sub-steps evaluates only its own gradient (the numpy loop forms all
four and uses one: the same numbers up to the order of the sums).  The line search is the numpy
loop's: start at twice the last accepted step, halve up to 30 times until the MSE falls, keep
the design and the step when it never does.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.batching import threaded_channels
from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import njit


HALVINGS = 30


@njit(cache=True)
def _matmul(a, b, out):  # pragma: no cover - compiled
    """``out = a b`` (2-D complex)."""
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            s = 0j
            for r in range(a.shape[1]):
                s += a[i, r] * b[r, j]
            out[i, j] = s


@njit(cache=True)
def _uh(U, H, out):  # pragma: no cover - compiled
    """``out_k = U_k H_k`` ``[K, R_r, N_t]``."""
    for k in range(U.shape[0]):
        _matmul(U[k], H[k], out[k])


@njit(cache=True)
def _residual(UH, F, V, W, A, G, R):  # pragma: no cover - compiled
    """``A = F V``, ``G_k = UH_k A``, ``R_k = W_k^H G_k - T_k``."""
    D = V.shape[1]
    K, Rr, Dk = W.shape
    _matmul(F, V, A)
    for k in range(K):
        _matmul(UH[k], A, G[k])
        for i in range(Dk):
            for d in range(D):
                s = 0j
                for r in range(Rr):
                    s += W[k, r, i].conjugate() * G[k, r, d]
                R[k, i, d] = s - (1.0 if d == k * Dk + i else 0.0)


@njit(cache=True)
def _mse(UH, F, V, U, W, s2, A, G, R):  # pragma: no cover - compiled
    """The sum MSE of one design (module notes); fills ``A``, ``G``, ``R``."""
    _residual(UH, F, V, W, A, G, R)
    K, Rr, Nr = U.shape
    Dk = W.shape[2]
    f = 0.0
    for v in R.ravel():
        f += v.real * v.real + v.imag * v.imag
    for k in range(K):
        for n in range(Nr):
            for i in range(Dk):
                s = 0j
                for r in range(Rr):
                    s += U[k, r, n].conjugate() * W[k, r, i]
                f += s2 * (s.real * s.real + s.imag * s.imag)
    return f


@njit(cache=True)
def _back(UH, W, R, out):  # pragma: no cover - compiled
    """``out = sum_k UH_k^H W_k R_k`` ``[N_t, D]``."""
    K, Rr, Nt = UH.shape
    Dk, D = R.shape[1], R.shape[2]
    out[:] = 0
    for k in range(K):
        for r in range(Rr):
            for d in range(D):
                wr = 0j
                for i in range(Dk):
                    wr += W[k, r, i] * R[k, i, d]
                for t in range(Nt):
                    out[t, d] += UH[k, r, t].conjugate() * wr


@njit(cache=True)
def _scale_power(F, V, power, A):  # pragma: no cover - compiled
    """Eq. (26) in place: ``V <- sqrt(P) V / ||F V||_F`` (``A`` scratch [N_t, D])."""
    _matmul(F, V, A)
    n2 = 0.0
    for v in A.ravel():
        n2 += v.real * v.real + v.imag * v.imag
    c = math.sqrt(power / n2)
    for m in range(V.shape[0]):
        for d in range(V.shape[1]):
            V[m, d] *= c


@njit(cache=True)
def _gram_row(X, Y, k, r, c):  # pragma: no cover - compiled
    """``(X_k X_k^H Y_k)[r, c]`` (the noise terms of the W and U gradients)."""
    n = 0j
    for q in range(X.shape[1]):
        xx = 0j
        for a in range(X.shape[2]):
            xx += X[k, r, a] * X[k, q, a].conjugate()
        n += xx * Y[k, q, c]
    return n


@njit(cache=True)
def _gradient(mode, H, UH, F, V, U, W, s2, A, G, R, B, out):  # pragma: no cover - compiled
    """The descent direction of sub-step ``mode`` (0: V, 1: W, 2: theta_U, 3: theta_F) at the
    design whose ``A``, ``G``, ``R`` are current, into the flat ``out`` in the moved variable's
    C order (real-valued for the angles, stored in the real parts; one buffer for the four
    shapes, which Numba could not hold in one variable)."""
    Nt, Rt = F.shape
    D = V.shape[1]
    K, Rr, Dk = W.shape
    Nr = U.shape[2]
    if mode == 0 or mode == 3:
        _back(UH, W, R, B)
        if mode == 0:  # 2 F^H B
            for m in range(Rt):
                for d in range(D):
                    s = 0j
                    for t in range(Nt):
                        s += F[t, m].conjugate() * B[t, d]
                    out[m * D + d] = 2.0 * s
        else:  # Im(conj(F) o 2 B V^H)
            for t in range(Nt):
                for m in range(Rt):
                    s = 0j
                    for d in range(D):
                        s += B[t, d] * V[m, d].conjugate()
                    out[t * Rt + m] = (F[t, m].conjugate() * 2.0 * s).imag
    elif mode == 1:  # 2 G_k R_k^H + 2 s2 U_k U_k^H W_k
        for k in range(K):
            for r in range(Rr):
                for i in range(Dk):
                    s = 0j
                    for d in range(D):
                        s += G[k, r, d] * R[k, i, d].conjugate()
                    out[(k * Rr + r) * Dk + i] = 2.0 * s + 2.0 * s2 * _gram_row(U, W, k, r, i)
    else:  # Im(conj(U) o (2 W_k R_k (H_k A)^H + 2 s2 W_k W_k^H U_k))
        for k in range(K):
            for r in range(Rr):
                for a in range(Nr):
                    s = 0j
                    for d in range(D):
                        wr = 0j
                        for i in range(Dk):
                            wr += W[k, r, i] * R[k, i, d]
                        ha = 0j
                        for t in range(Nt):
                            ha += H[k, a, t] * A[t, d]
                        s += wr * ha.conjugate()
                    n = _gram_row(W, U, k, r, a)
                    out[(k * Rr + r) * Nr + a] = (U[k, r, a].conjugate() * (2.0 * s + 2.0 * s2 * n)).imag


@njit(cache=True)
def _move(mode, t, H, F, V, U, W, g, power, Fc, Vc, Uc, Wc, UHc, A):  # pragma: no cover - compiled
    """The candidate of sub-step ``mode`` at step ``t`` into ``Fc, Vc, Uc, Wc`` (and ``UHc``
    when U moves); the other variables are copied."""
    copy_into(Fc, F)
    copy_into(Vc, V)
    copy_into(Uc, U)
    copy_into(Wc, W)
    if mode == 0:
        for m in range(V.shape[0]):
            for d in range(V.shape[1]):
                Vc[m, d] = V[m, d] - t * g[m * V.shape[1] + d]
        _scale_power(Fc, Vc, power, A)
    elif mode == 1:
        for k in range(W.shape[0]):
            for r in range(W.shape[1]):
                for i in range(W.shape[2]):
                    Wc[k, r, i] = W[k, r, i] - t * g[(k * W.shape[1] + r) * W.shape[2] + i]
    elif mode == 2:
        for k in range(U.shape[0]):
            for r in range(U.shape[1]):
                for a in range(U.shape[2]):
                    step = t * g[(k * U.shape[1] + r) * U.shape[2] + a].real
                    th = math.atan2(U[k, r, a].imag, U[k, r, a].real) - step
                    Uc[k, r, a] = complex(math.cos(th), math.sin(th))
        _uh(Uc, H, UHc)
    else:
        for n in range(F.shape[0]):
            for m in range(F.shape[1]):
                th = math.atan2(F[n, m].imag, F[n, m].real) - t * g[n * F.shape[1] + m].real
                Fc[n, m] = complex(math.cos(th), math.sin(th))
        _scale_power(Fc, Vc, power, A)


@njit(cache=True)
def mmse_gd_one(H, F, V, U, W, s2, power, iterations):  # pragma: no cover - compiled
    """``iterations`` alternating line-search steps on one channel, in place (module notes)."""
    K, Rr, Nr = U.shape
    Nt, Rt = F.shape
    D = V.shape[1]
    Dk = W.shape[2]
    UH = np.empty((K, Rr, Nt), np.complex128)
    UHc = np.empty_like(UH)
    A = np.empty((Nt, D), np.complex128)
    G = np.empty((K, Rr, D), np.complex128)
    R = np.empty((K, Dk, D), np.complex128)
    B = np.empty((Nt, D), np.complex128)
    Fc, Vc, Uc, Wc = np.empty_like(F), np.empty_like(V), np.empty_like(U), np.empty_like(W)
    g = np.empty(max(V.size, W.size, U.size, F.size), np.complex128)
    steps = np.full(4, 1e-3)
    _uh(U, H, UH)
    for _ in range(iterations):
        for mode in range(4):
            f0 = _mse(UH, F, V, U, W, s2, A, G, R)
            _gradient(mode, H, UH, F, V, U, W, s2, A, G, R, B, g)
            t = 2.0 * steps[mode]
            for _h in range(HALVINGS):
                _move(mode, t, H, F, V, U, W, g, power, Fc, Vc, Uc, Wc, UHc, A)
                if _mse(UHc if mode == 2 else UH, Fc, Vc, Uc, Wc, s2, A, G, R) < f0:
                    copy_into(F, Fc)
                    copy_into(V, Vc)
                    copy_into(U, Uc)
                    copy_into(W, Wc)
                    if mode == 2:
                        copy_into(UH, UHc)
                    steps[mode] = t
                    break
                t *= 0.5


@njit(cache=True, nogil=True)
def mmse_gd_range(H, F, V, U, W, s2, power, iterations, b0, b1):  # pragma: no cover - compiled
    """:func:`mmse_gd_one` on channels ``b0 .. b1 - 1`` of the batch axis, one after the other."""
    for b in range(b0, b1):
        mmse_gd_one(H[b], F[b], V[b], U[b], W[b], s2[b], power, iterations)


def mmse_gd_batch(H, F, V, U, W, s2, power, iterations):
    """:func:`mmse_gd_range` over the batch axis in chunks on the threads
    (:func:`kernels._core.batching.threaded_channels`)."""
    threaded_channels(mmse_gd_range, H, F, V, U, W, s2, power, iterations)
