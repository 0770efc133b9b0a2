"""Private: the UPGA float layers for up to ``LANES`` channels at once, their small algebra
across the channels (the channel loop of the batch drivers in :mod:`kernels.upga._float_batch`).

Why: a layer's work is the O(NMK) products over the antennas (``G = H^H F``, ``H D``, ``F^H F``
and the projection of eq. (7)), which vectorise along N within a channel, and the small algebra
on K x M and K x K matrices (``E = G W``, the weights ``C`` of eq. (10)-(11), ``D = C W^H``,
``grad_W = G^H C`` of eq. (11), eq. (9)'s norm), which does not: 4 x 4 complex products, scalar
divisions and short dependent sums.  Per channel, that algebra ran no faster in float32 than in
float64 (2026-12-07, Zen 3: ``small_mm_sized`` 59-72 against 58-90 ns, the weights 85-98
against 95-97), while the products over the antennas were 1.7-2.1x faster; so the float32
forward was only 1.2-1.3x faster than float64.  Here the products over the antennas stay per
channel (the very functions of :mod:`kernels.upga._float_products`, on contiguous rows), and
the algebra runs on ``[K, M, V]`` arrays with the channel index innermost: every scalar step of
it becomes a loop over the V channels, which LLVM vectorises.  ``W^H`` and ``G^H`` are kept as
lane matrices of their own (written with W and G), so the three products are one function,
:func:`lanes_mm`.

How, and what it costs:

* The lane count ``V`` is a run-time value.  With a constant V, LLVM unrolls the lane loops
  into scalar code before its loop vectoriser runs (and Numba runs no SLP vectoriser): no gain
  (prototype, 2026-12-07).
* A lane's arithmetic does not depend on the other lanes nor on V (the vector body and the
  scalar remainder of a lane loop do the same operations in the same order), so a channel's
  design is the same in a batch of 1, 3 or 1000 (``tests/kernels/upga/test_float.py``).
* With few channels the lane loops' set-up costs more than their arithmetic: a lone channel
  takes about a third longer than in the per-channel loop before (the README's "Kernels").  The
  real-time path is the sized session (:mod:`kernels.upga._float_sized`), which keeps the
  per-channel layers.  Tried and not kept: this loop compiled a second time with the lane count
  a constant 1 for a lone channel (the same bits; LLVM turns each lane loop into straight-line
  code): 42.7 -> 33.2 us at batch 1 (float64, one thread), but about 20 s more compilation per
  dtype, which a first demo's batch-1 profile paid (1 min 58 s -> 2 min 24 s from empty caches).
* The layers exist once, with M and K at run time: no second copy for M = K = 4 (the
  per-channel loop compiled both, 31.8 s for float64 against 17-19 s for one copy).
* Measured (2-core AMD EPYC of family 23 model 49, 2026-12-08, N = 64, M = K = 4, I = 10, one
  thread, 1024 channels; the per-channel loop by ``scratch/s78/lanes_ab.py``, this one by
  ``scratch/s78/v2_ab.py``, in separate processes): float64 21.9 -> 16.2 us per channel,
  float32 16.7 -> 10.0; a lone channel 29.4 -> 42.7 and 24.2 -> 36.9.  The README's "Kernels" has
  the bench's figures.

The initialisation eq. (12)-(13) stays per channel (:func:`kernels.upga._float.init_one`); its
W is then spread into the lanes.  Results agree with the per-channel code of
:mod:`kernels.upga._float` to the rounding level (the sums associate differently).
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.upga._float import FM, init_one, init_workspace, project_step, transpose
from hbf_edge.kernels.upga._float_products import combine_t, gram_t, herm_gram_t

__all__ = ["LANES", "steps_range"]

LANES = 32  # channels per group: 16 and 64 were 2-4 % slower (one thread, 1024 channels, 2026-12-08)
CHUNK = 4  # terms of a small sum per lane loop (lanes_mm)


@njit(cache=True, inline="always")
def group_workspace(N, M, K, V, dt):  # pragma: no cover - compiled
    """The group's channels, transposed (``Ht [V, K, N]``, ``Ft [V, M, N]``), and one channel's
    work: the rows ``x [max(M, K), N]`` of ``grad_F^T``, a ``[K, M]`` pair (G or D), an
    ``[M, K]`` pair (the initialisation's W) and an ``[M, M]`` pair (F^H F)."""
    rows = max(M, K)
    return (np.empty((V, K, N), dt), np.empty((V, K, N), dt), np.empty((V, M, N), dt), np.empty((V, M, N), dt),
            np.empty((rows, N), dt), np.empty((rows, N), dt), np.empty((K, M), dt), np.empty((K, M), dt),
            np.empty((M, K), dt), np.empty((M, K), dt), np.empty((M, M), dt), np.empty((M, M), dt))


@njit(cache=True, inline="always")
def lane_workspace(M, K, V, dt):  # pragma: no cover - compiled
    """The lane matrices, channel innermost: W, grad_W and G^H ``[M, K, V]``; W^H, G and D
    ``[K, M, V]``; C ``[K, K, V]``; F^H F ``[M, M, V]``; and three ``[V]`` rows."""
    mk, km = (M, K, V), (K, M, V)
    return (np.empty(mk, dt), np.empty(mk, dt), np.empty(mk, dt), np.empty(mk, dt), np.empty(mk, dt),
            np.empty(mk, dt), np.empty(km, dt), np.empty(km, dt), np.empty(km, dt), np.empty(km, dt),
            np.empty(km, dt), np.empty(km, dt), np.empty((K, K, V), dt), np.empty((K, K, V), dt),
            np.empty((M, M, V), dt), np.empty((M, M, V), dt), np.empty((3, V), dt))


@njit(cache=True, fastmath=FM, inline="always")
def lanes_mm(ar, ai, br, bi, outr, outi, V):  # pragma: no cover - compiled
    """``Out = A B`` per lane (``A [P, T, V]``, ``B [T, Q, V]``): ``E = G W``, ``D = C W^H`` and
    ``grad_W = G^H C`` of a layer, with ``W^H`` and ``G^H`` kept as lane matrices of their own.

    The sum over t four terms per pass (:data:`CHUNK`): at T = 4 one lane loop per entry
    instead of four, each entry's sum kept in registers rather than added to memory four times
    (which, at one lane, chains four stores and loads)."""
    P, T = ar.shape[0], ar.shape[1]
    Q = br.shape[1]
    for p in range(P):
        for q in range(Q):
            t = 0
            if T >= CHUNK:
                for v in range(V):
                    outr[p, q, v] = (ar[p, 0, v] * br[0, q, v] - ai[p, 0, v] * bi[0, q, v]
                                     + ar[p, 1, v] * br[1, q, v] - ai[p, 1, v] * bi[1, q, v]
                                     + ar[p, 2, v] * br[2, q, v] - ai[p, 2, v] * bi[2, q, v]
                                     + ar[p, 3, v] * br[3, q, v] - ai[p, 3, v] * bi[3, q, v])
                    outi[p, q, v] = (ar[p, 0, v] * bi[0, q, v] + ai[p, 0, v] * br[0, q, v]
                                     + ar[p, 1, v] * bi[1, q, v] + ai[p, 1, v] * br[1, q, v]
                                     + ar[p, 2, v] * bi[2, q, v] + ai[p, 2, v] * br[2, q, v]
                                     + ar[p, 3, v] * bi[3, q, v] + ai[p, 3, v] * br[3, q, v])
                t = CHUNK
            else:
                for v in range(V):
                    outr[p, q, v] = 0
                    outi[p, q, v] = 0
            while t < T:
                for v in range(V):
                    outr[p, q, v] += ar[p, t, v] * br[t, q, v] - ai[p, t, v] * bi[t, q, v]
                    outi[p, q, v] += ar[p, t, v] * bi[t, q, v] + ai[p, t, v] * br[t, q, v]
                t += 1


@njit(cache=True, fastmath=FM, inline="always")
def lanes_weights(cr, ci, s2, rows, V):  # pragma: no cover - compiled
    """In place ``E -> C`` per lane, eq. (10)-(11)'s weights as
    :func:`kernels.upga._float.rate_weights_from_e` forms them: ``b_k = s2 + sum_{l != k}
    |E_kl|^2`` summed directly, ``a_k = b_k + |E_kk|^2``, ``C_kl = E_kl (1/a_k - [l != k]/b_k)``
    (``rows``: [3, V] work; :func:`lanes_normalize` uses its first two)."""
    K = cr.shape[0]
    one = cr.dtype.type(1)
    for k in range(K):
        for v in range(V):
            rows[0, v] = s2[v]
        for l in range(K):
            if l != k:
                for v in range(V):
                    rows[0, v] += cr[k, l, v] * cr[k, l, v] + ci[k, l, v] * ci[k, l, v]
        for v in range(V):
            b = rows[0, v]
            a = b + (cr[k, k, v] * cr[k, k, v] + ci[k, k, v] * ci[k, k, v])
            inv_a = one / a
            rows[1, v] = inv_a
            rows[2, v] = inv_a - one / b
        for l in range(K):
            c = 1 if l == k else 2
            for v in range(V):
                cr[k, l, v] *= rows[c, v]
                ci[k, l, v] *= rows[c, v]


@njit(cache=True, fastmath=FM, inline="always")
def lanes_normalize(pr, pi, wr, wi, whr, whi, pt, rows, V):  # pragma: no cover - compiled
    """Eq. (9) per lane, as :func:`kernels.upga._float.normalize_one`: ``W <- sqrt(P_t) W /
    ||F W||_F`` with ``||F W||_F^2 = sum_l w_l^H P w_l`` from ``P = F^H F`` in (pr, pi); and
    ``W^H`` into (whr, whi)."""
    M, K = wr.shape[0], wr.shape[1]
    two = wr.dtype.type(2)
    for v in range(V):
        rows[0, v] = 0
    for l in range(K):
        for m in range(M):
            for v in range(V):
                rows[0, v] += pr[m, m, v] * (wr[m, l, v] * wr[m, l, v] + wi[m, l, v] * wi[m, l, v])
            for q in range(m + 1, M):  # 2 Re(conj(w_m) P_mq w_q)
                for v in range(V):
                    xr = pr[m, q, v] * wr[q, l, v] - pi[m, q, v] * wi[q, l, v]
                    xi = pr[m, q, v] * wi[q, l, v] + pi[m, q, v] * wr[q, l, v]
                    rows[0, v] += two * (wr[m, l, v] * xr + wi[m, l, v] * xi)
    for v in range(V):
        rows[1, v] = math.sqrt(pt[v]) / math.sqrt(rows[0, v])
    for m in range(M):
        for l in range(K):
            for v in range(V):
                wr[m, l, v] *= rows[1, v]
                wi[m, l, v] *= rows[1, v]
                whr[l, m, v] = wr[m, l, v]
                whi[l, m, v] = -wi[m, l, v]


@njit(cache=True, inline="always")
def to_lane(src_r, src_i, dst_r, dst_i, v):  # pragma: no cover - compiled
    """One channel's matrix into lane ``v`` of a lane matrix."""
    A, B = src_r.shape
    for a in range(A):
        for b in range(B):
            dst_r[a, b, v] = src_r[a, b]
            dst_i[a, b, v] = src_i[a, b]


@njit(cache=True, inline="always")
def to_lane_h(src_r, src_i, dst_r, dst_i, v):  # pragma: no cover - compiled
    """The conjugate transpose of one channel's matrix into lane ``v`` of a lane matrix."""
    A, B = src_r.shape
    for a in range(A):
        for b in range(B):
            dst_r[b, a, v] = src_r[a, b]
            dst_i[b, a, v] = -src_i[a, b]


@njit(cache=True, inline="always")
def from_lane(src_r, src_i, dst_r, dst_i, v):  # pragma: no cover - compiled
    """Lane ``v`` of a lane matrix into one channel's matrix."""
    A, B = dst_r.shape
    for a in range(A):
        for b in range(B):
            dst_r[a, b] = src_r[a, b, v]
            dst_i[a, b] = src_i[a, b, v]


@njit(cache=True, fastmath=FM, inline="always")
def lanes_layers(group, lanes, pt, s2, mu, lam, zero, first, last, have_g, V):  # pragma: no cover - compiled
    """Layers ``first .. last - 1`` (eq. 6-9) on the V channels of ``group``
    (:func:`group_workspace`) and ``lanes`` (:func:`lane_workspace`); returns whether ``lanes``
    holds the G of the current F.  As in :func:`kernels.upga._float.run_layers`, a layer's first
    F-step reuses the G of the W-step before it (the W-step moves only W)."""
    ht_r, ht_i, ft_r, ft_i, xr, xi, gtr, gti, _, _, qr, qi = group
    wr, wi, vr, vi, ghr, ghi, whr, whi, gr, gi, dr, di, cr, ci, pr, pi, rows = lanes
    J = mu.shape[1]
    M, K = wr.shape[0], wr.shape[1]
    for i in range(first, last):
        for j in range(J):  # the F-step, eq. (6)-(7), eq. (10)'s gradient
            if not (have_g and j == 0):
                for v in range(V):
                    gram_t(ht_r[v], ht_i[v], ft_r[v], ft_i[v], gtr, gti, zero)  # G = H^H F
                    to_lane(gtr, gti, gr, gi, v)
            lanes_mm(gr, gi, wr, wi, cr, ci, V)  # E = G W
            lanes_weights(cr, ci, s2, rows, V)
            lanes_mm(cr, ci, whr, whi, dr, di, V)  # D = C W^H
            for v in range(V):
                from_lane(dr, di, gtr, gti, v)
                combine_t(ht_r[v], ht_i[v], gtr, gti, xr, xi)  # grad_F^T = (H D)^T
                project_step(ft_r[v], ft_i[v], xr, xi, mu[i, j])
        for v in range(V):  # the W-step, eq. (8)-(9), eq. (11)'s gradient
            gram_t(ht_r[v], ht_i[v], ft_r[v], ft_i[v], gtr, gti, zero)
            to_lane(gtr, gti, gr, gi, v)
            to_lane_h(gtr, gti, ghr, ghi, v)
        lanes_mm(gr, gi, wr, wi, cr, ci, V)
        lanes_weights(cr, ci, s2, rows, V)
        lanes_mm(ghr, ghi, cr, ci, vr, vi, V)  # grad_W = G^H C
        for m in range(M):  # W <- W + lam grad_W
            for l in range(K):
                for v in range(V):
                    wr[m, l, v] += lam[i] * vr[m, l, v]
                    wi[m, l, v] += lam[i] * vi[m, l, v]
        for v in range(V):
            herm_gram_t(ft_r[v], ft_i[v], qr, qi, zero)  # P = F^H F
            to_lane(qr, qi, pr, pi, v)
        lanes_normalize(pr, pi, wr, wi, whr, whi, pt, rows, V)
        have_g = True
    return have_g


@njit(cache=True, fastmath=FM, nogil=True)
def steps_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, init, first, last, reps, lo,
                hi):  # pragma: no cover
    """For channels ``lo .. hi - 1``, in groups of up to :data:`LANES`, ``reps`` times: the
    initialisation eq. (12)-(13) if ``init`` (else the F and W given are the start), then layers
    ``first .. last - 1``; in place on (F, W), one workspace for all.  The whole forward, a run
    of layers and the profiler's float stages (:mod:`hbf_edge._profile_timers`) are this loop
    (:mod:`kernels.upga._float_batch`); it releases the GIL, so that the profiler runs it in
    chunks on Python threads (:func:`kernels._core.batching.run_batch`).  Callers pass ``init``
    as ``np.bool_`` and the counts as ``np.int64``: a literal compiles it again."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    dt = h_re.dtype
    group = group_workspace(N, M, K, LANES, dt)
    lanes = lane_workspace(M, K, LANES, dt)
    ws_init = init_workspace(N, M, K, dt)
    ht_r, ht_i, ft_r, ft_i, _, _, _, _, w1r, w1i, _, _ = group
    wr, wi, _, _, _, _, whr, whi, _, _, _, _, _, _, _, _, _ = lanes
    pt = np.empty(LANES, dt)
    s2 = np.empty(LANES, dt)
    for g in range(lo, hi, LANES):
        V = min(LANES, hi - g)
        for v in range(V):
            b = g + v
            transpose(h_re[b], h_im[b], ht_r[v], ht_i[v])
            pt[v] = p_t[b]
            s2[v] = noise[b]
            if not init:
                transpose(f_re[b], f_im[b], ft_r[v], ft_i[v])
                to_lane(w_re[b], w_im[b], wr, wi, v)
                to_lane_h(w_re[b], w_im[b], whr, whi, v)
        have_g = False
        for _ in range(reps):
            if init:
                for v in range(V):
                    init_one(ht_r[v], ht_i[v], pt[v], ft_r[v], ft_i[v], w1r, w1i, ws_init, zero)
                    to_lane(w1r, w1i, wr, wi, v)
                    to_lane_h(w1r, w1i, whr, whi, v)
                have_g = False  # the initialisation leaves no G
            have_g = lanes_layers(group, lanes, pt, s2, mu, lam, zero, first, last, have_g, V)
        for v in range(V):
            b = g + v
            transpose(ft_r[v], ft_i[v], f_re[b], f_im[b])
            from_lane(wr, wi, w_re[b], w_im[b], v)
