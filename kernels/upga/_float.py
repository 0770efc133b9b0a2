"""Private Numba kernels of the unfolded PGA forward in real arithmetic (float32 | float64).

Mirrors :mod:`hbf_edge.families.upga.model` operation for operation (paper ``upga_multiuser_hbf.txt``,
Algorithm 1).  Per channel everything is O(NMK): with ``G = H^H F`` and ``E = G W``,

* eq. (10): ``grad_F = H (C W^H)``,  eq. (11): ``grad_W = G^H C``,
* ``C_kl = E_kl (1/a_k - [l != k]/b_k)``, ``a_k = sum_l |E_kl|^2 + s2``, ``b_k = a_k - |E_kk|^2``.

Working layout: each channel is copied into transposed buffers ``Ht [K, N]`` and
``Ft [M, N]``, so every O(N) loop (the dot products of G, the axpys of ``H D``, the columns of
``F W``, the projection) runs over a contiguous length-N row and vectorises; the public layout
stays ``[N, M]``.  The batch is split into a few chunks per thread; all buffers are allocated
once per chunk (allocation per channel cost as much as the arithmetic at N=32), never per layer.  ``zero`` is a
scalar of the working dtype: accumulators start from it so a float32 kernel stays float32.
Reductions may be reassociated and contracted (``fastmath`` reassoc and FMA, ``FM`` in
:mod:`kernels.upga._float_products`, with the products over the antennas), which
changes results only at the rounding level.  Deterministic for one compiled binary, but not
between binaries: the first process after the Numba cache is (re)built compiles code that rounds
differently from the code later processes load from the cache (max difference 6.8e-16 over the
outputs of 64 channels of a 4-layer N=16 network, 2026-12-06).  Kept here, unlike the MSER
kernels (:mod:`kernels.mser._float`, where GD-500 amplified such differences): the UPGA forward
is not chaotic, and strict order cost 32 % at batch 1 and 41 % at batch 1024 (`hbf-edge bench
kernels --sizes 64 --backends numba_float64`: 31.1 -> 41.1 us and 11.5 -> 16.2 us per channel).

The per-channel functions are inlined at Numba IR level (``inline="always"``) into their callers,
which carry the same ``FM`` flags (an inlined body compiles under its caller's flags): as calls,
every array argument was reference-counted at each of the ~40 calls of a forward, and the float64
forward at batch 1 took 23.8-24.6 us against 20.0-21.1 inlined (float32 19.0-20.0 against 16.0;
compiled loops of 20,000 calls, alternating, 2026-12-04).  The sized session's forward
(:mod:`kernels.upga._float_sized`) inlines :func:`init_one` and :func:`run_layers` for its own M
and K; the batch drivers' channel loop (:mod:`kernels.upga._float_lanes`) inlines
:func:`init_one`, the products over the antennas and :func:`project_step`, and runs the small
algebra of a layer across channels instead.  Until 2026-12-08 that loop inlined this module's
layers for one channel at a time (twice: the general copy and, for M = K = 4, a copy with the
sizes as constants); the README's "Kernels" has the measurements of the change.  A reduction
inlined into two functions may be rounded differently by each, so results that come through
different ones (the session, the single steps, the channel loop) agree to the rounding level,
not bit for bit.  The batch drivers are in :mod:`kernels.upga._float_batch`.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import gram_inv, matmul, mm_bh
from hbf_edge.kernels.upga._float_products import FM, combine_t, gram_t, herm_gram_t, small_mm, small_mm_sized

__all__ = ["FM", "f_step_one", "project_step", "run_layers", "init_one", "w_step_one", "transpose",
           "rate_weights_from_e", "channel_workspace", "init_workspace", "layer_workspace"]


@njit(cache=True, fastmath=FM, inline="always")
def weighted_e(ht_r, ht_i, ft_r, ft_i, wr, wi, s2, gr, gi, cr, ci, zero, g_fresh, sized, M, K):  # pragma: no cover
    """``G = H^H F`` into (gr, gi) [K, M] and the weights ``C`` of eq. (10)-(11) into (cr, ci).

    ``g_fresh``: (gr, gi) already hold ``H^H F`` for this F (the previous W-step formed it and
    the F has not moved since), so the O(NMK) product is skipped; the bits are the same."""
    if not g_fresh:
        gram_t(ht_r, ht_i, ft_r, ft_i, gr, gi, zero)
    if sized:  # M and K are the caller's constants (see run_layers)
        small_mm_sized(gr, gi, wr, wi, cr, ci, False, K, M, K)  # E = G W
    else:
        small_mm(gr, gi, wr, wi, cr, ci, False)
    rate_weights_from_e(cr, ci, s2)


@njit(cache=True, fastmath=FM)
def rate_weights_from_e(cr, ci, s2):  # pragma: no cover - compiled
    """In place ``E -> C``: ``C_kl = E_kl (1/a_k - [l != k]/b_k)`` (eq. 10-11 weights); shared
    with the UPGANet kernel.  ``b_k`` (interference plus noise) is summed directly and
    ``a_k = b_k + |E_kk|^2``, so no cancellation at high SNR (see ``FM``)."""
    K = cr.shape[0]
    one = cr.dtype.type(1)  # a literal 1 would make the reciprocals float64 in a float32 kernel
    for k in range(K):
        b = s2
        for l in range(K):
            if l != k:
                b += cr[k, l] * cr[k, l] + ci[k, l] * ci[k, l]
        a = b + (cr[k, k] * cr[k, k] + ci[k, k] * ci[k, k])
        inv_a = one / a
        off = inv_a - one / b
        for l in range(K):
            coef = inv_a if l == k else off
            cr[k, l] *= coef
            ci[k, l] *= coef


@njit(cache=True, fastmath=FM, inline="always")
def f_step_one(ht_r, ht_i, ft_r, ft_i, wr, wi, s2, mu, gr, gi, cr, ci, dr, di, xr, xi, zero, g_fresh, sized, Mc,
               Kc):  # pragma: no cover - compiled
    """One projected F-step, eq. (6)-(7), in place on (ft_r, ft_i) [M, N] (``g_fresh``: see
    :func:`weighted_e`; ``sized``: ``Mc``, ``Kc`` are M and K as the caller's constants)."""
    weighted_e(ht_r, ht_i, ft_r, ft_i, wr, wi, s2, gr, gi, cr, ci, zero, g_fresh, sized, Mc, Kc)
    mm_bh(cr, ci, wr, wi, dr, di, zero)  # D = C W^H  [K, M], each sum in locals
    combine_t(ht_r, ht_i, dr, di, xr, xi)  # grad_F^T = (H D)^T  [M, N]
    project_step(ft_r, ft_i, xr, xi, mu)


@njit(cache=True, fastmath=FM, inline="always")
def project_step(ft_r, ft_i, xr, xi, mu):  # pragma: no cover - compiled
    """Eq. (6)-(7) in place on (ft_r, ft_i) [M, N]: ``F <- P_unit(F + mu grad_F)`` with
    ``grad_F^T`` in the first M rows of (xr, xi)."""
    M, N = ft_r.shape
    one = ft_r.dtype.type(1)  # keeps the projection in the working dtype (see rate_weights_from_e)
    for m in range(M):
        for n in range(N):
            yr = ft_r[m, n] + mu * xr[m, n]
            yi = ft_i[m, n] + mu * xi[m, n]
            mag2 = yr * yr + yi * yi
            if mag2 > 0:
                inv = one / math.sqrt(mag2)
                ft_r[m, n] = yr * inv
                ft_i[m, n] = yi * inv
            else:  # eq. (7) is undefined at 0: phase 0, as hbf_edge.families.upga.model does
                ft_r[m, n] = 1
                ft_i[m, n] = 0


@njit(cache=True, fastmath=FM, inline="always")
def normalize_one(ft_r, ft_i, wr, wi, pt, pr, pi, zero, p_fresh=False):  # pragma: no cover - compiled
    """Eq. (9) with sqrt(P_t): ``W <- sqrt(P_t) W / ||F W||_F`` in place.

    ``||F W||_F^2 = sum_l w_l^H (F^H F) w_l`` from the Gram matrix ``P = F^H F`` [M, M] in
    (pr, pi) (``p_fresh``: it already holds this F's): M(M+1)/2 dots over N instead of the
    M K of ``F W`` (about 3 % off the float64 forward at batch 1, README "Kernels")."""
    if not p_fresh:
        herm_gram_t(ft_r, ft_i, pr, pi, zero)
    M, K = wr.shape
    two = wr.dtype.type(2)  # an int literal 2 would promote a float32 sum to float64
    total = zero
    for l in range(K):
        for m in range(M):
            total += pr[m, m] * (wr[m, l] * wr[m, l] + wi[m, l] * wi[m, l])
            for q in range(m + 1, M):  # 2 Re(conj(w_m) P_mq w_q)
                xr = pr[m, q] * wr[q, l] - pi[m, q] * wi[q, l]
                xi = pr[m, q] * wi[q, l] + pi[m, q] * wr[q, l]
                total += two * (wr[m, l] * xr + wi[m, l] * xi)
    scale = math.sqrt(pt) / math.sqrt(total)
    for m in range(M):
        for l in range(K):
            wr[m, l] *= scale
            wi[m, l] *= scale


@njit(cache=True, fastmath=FM, inline="always")
def w_step_one(ht_r, ht_i, ft_r, ft_i, wr, wi, pt, s2, lam, gr, gi, cr, ci, vr, vi, pr, pi, zero, sized, Mc,
               Kc):  # pragma: no cover
    """One W-step, eq. (8)-(9), in place on (wr, wi) (``vr, vi``: [M, K] work, ``pr, pi``: the
    [M, M] Gram matrix of F; ``sized``, ``Mc``, ``Kc`` as in :func:`f_step_one`)."""
    K = ht_r.shape[0]
    M = ft_r.shape[0]
    weighted_e(ht_r, ht_i, ft_r, ft_i, wr, wi, s2, gr, gi, cr, ci, zero, False, sized, Mc, Kc)
    if sized:  # grad_W = G^H C  [M, K], eq. (11)
        small_mm_sized(gr, gi, cr, ci, vr, vi, True, Mc, Kc, Kc)
    else:
        small_mm(gr, gi, cr, ci, vr, vi, True)
    for m in range(M):  # W <- W + lam grad_W
        for l in range(K):
            wr[m, l] += lam * vr[m, l]
            wi[m, l] += lam * vi[m, l]
    normalize_one(ft_r, ft_i, wr, wi, pt, pr, pi, zero)


@njit(cache=True, inline="always")
def init_workspace(N, M, K, dt):  # pragma: no cover - compiled
    """Temporaries of :func:`init_one`, allocated once per chunk of channels."""
    return (np.empty((K, K), dt), np.empty((K, K), dt), np.empty((K, K), dt), np.empty((K, K), dt),
            np.empty((2 * K, 2 * K), dt), np.empty((2 * K, 2 * K), dt), np.empty((K, N), dt), np.empty((K, N), dt),
            np.empty((M, M), dt), np.empty((M, M), dt), np.empty((M, M), dt), np.empty((M, M), dt),
            np.empty((2 * M, 2 * M), dt), np.empty((2 * M, 2 * M), dt), np.empty((M, K), dt), np.empty((M, K), dt))


@njit(cache=True, fastmath=FM, inline="always")
def init_one(ht_r, ht_i, pt, ft_r, ft_i, wr, wi, ws, zero):  # pragma: no cover - compiled
    """Eq. (12)-(13): ``F_0 = exp(j angle H)`` (+ DFT beams if M > K), ``W_0 = F_0^+ (H^H)^+``."""
    K, N = ht_r.shape
    M = ft_r.shape[0]
    ar, ai, air, aii, big_k, big_k_inv, zr, zi, br, bi, bir, bii, big_m, big_m_inv, tr, ti = ws
    for k in range(K):
        for n in range(N):
            mag = math.sqrt(ht_r[k, n] * ht_r[k, n] + ht_i[k, n] * ht_i[k, n])
            if mag > 0:
                ft_r[k, n] = ht_r[k, n] / mag
                ft_i[k, n] = ht_i[k, n] / mag
            else:
                ft_r[k, n] = 1
                ft_i[k, n] = 0
    for m in range(K, M):
        for n in range(N):
            ang = -2.0 * math.pi * n * (m - K) / N
            ft_r[m, n] = math.cos(ang)
            ft_i[m, n] = math.sin(ang)
    herm_gram_t(ht_r, ht_i, ar, ai, zero)
    gram_inv(ar, ai, air, aii, big_k, big_k_inv)  # Cholesky (Gauss-Jordan if H^H H is singular)
    combine_t(ht_r, ht_i, air, aii, zr, zi)  # ((H^H)^+)^T = (H (H^H H)^-1)^T
    herm_gram_t(ft_r, ft_i, br, bi, zero)
    gram_inv(br, bi, bir, bii, big_m, big_m_inv)
    gram_t(ft_r, ft_i, zr, zi, tr, ti, zero)  # F^H (H^H)^+
    matmul(bir, bii, tr, ti, wr, wi)  # (F^H F)^-1 F^H (H^H)^+
    normalize_one(ft_r, ft_i, wr, wi, pt, br, bi, zero, True)  # (br, bi) still hold F^H F


@njit(cache=True)
def transpose(src_re, src_im, dst_re, dst_im):  # pragma: no cover - compiled
    """``dst = src^T`` for a re/im pair: a channel's [N, P] arrays into the working [P, N]
    buffers, and back."""
    A, B = src_re.shape
    for a in range(A):
        for b in range(B):
            dst_re[b, a] = src_re[a, b]
            dst_im[b, a] = src_im[a, b]


@njit(cache=True, inline="always")
def layer_workspace(M, K, dt):  # pragma: no cover - compiled
    """G (K x M), C (K x K), D (K x M), grad_W (M x K) and F^H F (M x M) buffers of the layers."""
    return (np.empty((K, M), dt), np.empty((K, M), dt), np.empty((K, K), dt), np.empty((K, K), dt),
            np.empty((K, M), dt), np.empty((K, M), dt), np.empty((M, K), dt), np.empty((M, K), dt),
            np.empty((M, M), dt), np.empty((M, M), dt))


@njit(cache=True, fastmath=FM, inline="always")
def run_layers(ht_r, ht_i, ft_r, ft_i, wr, wi, pt, s2, mu, lam, xr, xi, ws, zero, lo, hi, have_g, sized, Mc,
               Kc):  # pragma: no cover - compiled
    """Layers ``lo .. hi - 1`` of ``mu [I, J]``, ``lam [I]`` on one channel's (F^T, W), in place
    (``sized``: ``Mc``, ``Kc`` are M and K as constants, :func:`small_mm_sized`); returns whether
    ``ws`` holds the G of the current F.  A layer's first F-step reuses the ``G = H^H F`` of the
    W-step before it: the W-step moves only W, so that product is the one the F-step would form
    (one of the four O(NMK) products per layer, at J = 1); the first layer takes it from ``ws``
    if ``have_g``.  The sized session (:mod:`kernels.upga._float_sized`) runs it with its
    compiled-in M and K."""
    J = mu.shape[1]
    gr, gi, cr, ci, dr, di, vr, vi, pr, pi = ws
    for i in range(lo, hi):
        for j in range(J):  # a later F-step of the layer forms G again: the one before moved F
            f_step_one(ht_r, ht_i, ft_r, ft_i, wr, wi, s2, mu[i, j], gr, gi, cr, ci, dr, di, xr, xi, zero,
                       have_g and j == 0, sized, Mc, Kc)
        w_step_one(ht_r, ht_i, ft_r, ft_i, wr, wi, pt, s2, lam[i], gr, gi, cr, ci, vr, vi, pr, pi, zero, sized, Mc, Kc)
        have_g = True
    return have_g


@njit(cache=True, inline="always")
def channel_workspace(N, M, K, dt):  # pragma: no cover - compiled
    """Transposed channel buffers Ht, Ft and the [max(M, K), N] work rows x."""
    rows = max(M, K)
    return (np.empty((K, N), dt), np.empty((K, N), dt), np.empty((M, N), dt), np.empty((M, N), dt),
            np.empty((rows, N), dt), np.empty((rows, N), dt))
