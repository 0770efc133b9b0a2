"""Private Numba kernels of the DeepFP forward in real arithmetic (paper ``deepfp.txt``, eq. 48-52).

Mirrors :class:`hbf_edge.families.deepfp.model.DeepFP` operation for operation, per network (one multi-cell
channel realisation ``H [L, K, L, N_r, N_t]``, beamformers ``V [L, K, N_t, d]``):

* the FP state at ``Z = V`` (48): ``A_lk``, ``D_lk`` (10), ``Y`` (27), ``Gamma`` (28),
  ``Lambda_lk`` (26) and ``L_l`` (30), then the direction ``G_lk = Lambda_lk - L_l Z_lk`` (38)
  and Remark 9's ``||L_l||_F``;
* the step DNN of each user (51): complex linear layers with the complex ReLU (47), the step
  ``exp(clamp(Re out, +-10))`` times the model's base step (Remark 9's ``1 / ||L_l||_F``, or
  the surrogate's exact line search, :func:`base_steps`);
* the update ``V = Z + s G`` (38) and the per-cell power scaling (37), unit budgets.

``L_l`` is the dominant cost (``L K`` rank-``N_r`` updates of an ``N_t x N_t`` matrix per cell);
only its upper triangle is accumulated and then mirrored, since it is Hermitian by (30).
The DNN weights of all layers are packed by the wrapper (:mod:`kernels.deepfp.forward`):
``w0 [I, h, n_in]``, ``b0 [I, h]``, ``wh [I, n_hidden - 1, h, h]``, ``bh [I, n_hidden - 1, h]``,
``wo [I, h]`` (real and imaginary parts apart) and ``bo [I]`` (the output has no imaginary
bias).  The batch is split into chunks, one workspace per chunk.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.batching import parallel_chunks
from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import cinv, matmul


STEP_LOG_RANGE = 10.0  # the DNN's output is clamped to +-10 before exp (hbf_edge.families.deepfp.model)


@njit(cache=True)
def state_workspace(L, K, Nr, Nt, d):  # pragma: no cover - compiled
    """Buffers of :func:`fp_state_one`, allocated once per chunk."""
    f8 = np.float64
    return (np.empty((2, L, K, Nr, d), f8),  # HV of one user: H_{lk,i} V_ij
            np.empty((2, L, K, Nr, Nr), f8),  # M_lk = Y (I + Gamma) Y^H of every user
            np.empty((12, max(Nr, d), max(Nr, d)), f8),  # small per-user matrices
            np.empty((2 * Nr, 2 * Nr), f8), np.empty((2 * Nr, 2 * Nr), f8),  # the real embedding of cinv
            np.empty((2, Nr, Nt), f8))  # M H of one (user, cell) pair


@njit(cache=True, fastmath={"reassoc", "nsz"})
def fp_state_one(h_r, h_i, z_r, z_i, lam_r, lam_i, lm_r, lm_i, fro, ws):  # pragma: no cover - compiled
    """Eq. (10), (26)-(28), (30) at ``Z``: ``Lambda [L, K, N_t, d]``, ``L_l [L, N_t, N_t]`` and
    ``||L_l||_F [L]`` (unit weights and noise)."""
    L, K, _, Nr, Nt = h_r.shape
    d = z_r.shape[3]
    hv, mm, sm, big, big_inv, mh = ws
    for l in range(L):
        for k in range(K):
            # HV_{ij} = H_{lk,i} V_ij for every BS i and its user j
            for i in range(L):
                for j in range(K):
                    for r in range(Nr):
                        for s in range(d):
                            ar = 0.0
                            ai = 0.0
                            for n in range(Nt):
                                ar += h_r[l, k, i, r, n] * z_r[i, j, n, s] - h_i[l, k, i, r, n] * z_i[i, j, n, s]
                                ai += h_r[l, k, i, r, n] * z_i[i, j, n, s] + h_i[l, k, i, r, n] * z_r[i, j, n, s]
                            hv[0, i, j, r, s] = ar
                            hv[1, i, j, r, s] = ai
            # D = I + sum_ij HV HV^H (eq. 10, unit noise), F = D - A A^H with A = HV_{lk}
            Dr, Di, Fr, Fi = sm[0, :Nr, :Nr], sm[1, :Nr, :Nr], sm[2, :Nr, :Nr], sm[3, :Nr, :Nr]
            for r in range(Nr):
                for q in range(Nr):
                    sr = 1.0 if r == q else 0.0
                    si = 0.0
                    for i in range(L):
                        for j in range(K):
                            for s in range(d):
                                sr += hv[0, i, j, r, s] * hv[0, i, j, q, s] + hv[1, i, j, r, s] * hv[1, i, j, q, s]
                                si += hv[1, i, j, r, s] * hv[0, i, j, q, s] - hv[0, i, j, r, s] * hv[1, i, j, q, s]
                    ar = 0.0
                    ai = 0.0
                    for s in range(d):
                        ar += hv[0, l, k, r, s] * hv[0, l, k, q, s] + hv[1, l, k, r, s] * hv[1, l, k, q, s]
                        ai += hv[1, l, k, r, s] * hv[0, l, k, q, s] - hv[0, l, k, r, s] * hv[1, l, k, q, s]
                    Dr[r, q] = sr
                    Di[r, q] = si
                    Fr[r, q] = sr - ar
                    Fi[r, q] = si - ai
            Ar, Ai = hv[0, l, k], hv[1, l, k]
            Xr, Xi = sm[4, :Nr, :Nr], sm[5, :Nr, :Nr]
            Yr, Yi = sm[6, :Nr, :d], sm[7, :Nr, :d]
            cinv(Dr, Di, Xr, Xi, big, big_inv)
            matmul(Xr, Xi, Ar, Ai, Yr, Yi)  # Y = D^-1 A (27)
            cinv(Fr, Fi, Xr, Xi, big, big_inv)
            Pr, Pi = sm[8, :Nr, :d], sm[9, :Nr, :d]
            matmul(Xr, Xi, Ar, Ai, Pr, Pi)  # F^-1 A
            Gr, Gi = sm[10, :d, :d], sm[11, :d, :d]
            for s in range(d):
                for t in range(d):
                    gr = 0.0
                    gi = 0.0
                    for r in range(Nr):
                        gr += Ar[r, s] * Pr[r, t] + Ai[r, s] * Pi[r, t]
                        gi += Ar[r, s] * Pi[r, t] - Ai[r, s] * Pr[r, t]
                    Gr[s, t] = gr
                    Gi[s, t] = gi
            # Gamma = A^H F^-1 A (28), made Hermitian, plus I: the factor (I + Gamma) of (26)
            for s in range(d):
                for t in range(s, d):
                    gr = 0.5 * (Gr[s, t] + Gr[t, s])
                    gi = 0.5 * (Gi[s, t] - Gi[t, s])
                    Gr[s, t] = gr
                    Gi[s, t] = gi
                    Gr[t, s] = gr
                    Gi[t, s] = -gi
                Gr[s, s] += 1.0
            YGr, YGi = sm[8, :Nr, :d], sm[9, :Nr, :d]
            matmul(Yr, Yi, Gr, Gi, YGr, YGi)  # Y (I + Gamma)
            for r in range(Nr):  # M = Y (I + Gamma) Y^H, the weight of user lk in (30)
                for q in range(Nr):
                    sr = 0.0
                    si = 0.0
                    for s in range(d):
                        sr += YGr[r, s] * Yr[q, s] + YGi[r, s] * Yi[q, s]
                        si += YGi[r, s] * Yr[q, s] - YGr[r, s] * Yi[q, s]
                    mm[0, l, k, r, q] = sr
                    mm[1, l, k, r, q] = si
            for n in range(Nt):  # Lambda = H_{lk,l}^H Y (I + Gamma) (26)
                for s in range(d):
                    sr = 0.0
                    si = 0.0
                    for r in range(Nr):
                        sr += h_r[l, k, l, r, n] * YGr[r, s] + h_i[l, k, l, r, n] * YGi[r, s]
                        si += h_r[l, k, l, r, n] * YGi[r, s] - h_i[l, k, l, r, n] * YGr[r, s]
                    lam_r[l, k, n, s] = sr
                    lam_i[l, k, n, s] = si
    weighted_gram(h_r, h_i, mm, lm_r, lm_i, fro, mh)


@njit(cache=True, fastmath={"reassoc", "nsz"})
def weighted_gram(h_r, h_i, mm, lm_r, lm_i, fro, mh):  # pragma: no cover - compiled
    """Eq. (30): ``L_i = sum_lk H_{lk,i}^H M_lk H_{lk,i}`` for every BS ``i`` (upper triangle
    accumulated, then mirrored), and ``||L_i||_F``."""
    L, K, _, Nr, Nt = h_r.shape
    for i in range(L):
        for n in range(Nt):
            for m in range(Nt):
                lm_r[i, n, m] = 0.0
                lm_i[i, n, m] = 0.0
        for l in range(L):
            for k in range(K):
                for r in range(Nr):  # T = M H (rows r, length N_t)
                    for m in range(Nt):
                        sr = 0.0
                        si = 0.0
                        for q in range(Nr):
                            sr += mm[0, l, k, r, q] * h_r[l, k, i, q, m] - mm[1, l, k, r, q] * h_i[l, k, i, q, m]
                            si += mm[0, l, k, r, q] * h_i[l, k, i, q, m] + mm[1, l, k, r, q] * h_r[l, k, i, q, m]
                        mh[0, r, m] = sr
                        mh[1, r, m] = si
                for n in range(Nt):  # L[n, m] += sum_r conj(H[r, n]) T[r, m], m >= n
                    for r in range(Nr):
                        cr = h_r[l, k, i, r, n]
                        ci = h_i[l, k, i, r, n]
                        for m in range(n, Nt):
                            lm_r[i, n, m] += cr * mh[0, r, m] + ci * mh[1, r, m]
                            lm_i[i, n, m] += cr * mh[1, r, m] - ci * mh[0, r, m]
        f = 0.0
        for n in range(Nt):
            lm_i[i, n, n] = 0.0
            f += lm_r[i, n, n] * lm_r[i, n, n]
            for m in range(n + 1, Nt):
                lm_r[i, m, n] = lm_r[i, n, m]
                lm_i[i, m, n] = -lm_i[i, n, m]
                f += 2.0 * (lm_r[i, n, m] * lm_r[i, n, m] + lm_i[i, n, m] * lm_i[i, n, m])
        fro[i] = math.sqrt(f)


@njit(cache=True)
def state_and_direction(h_r, h_i, z_r, z_i, lam, lm, fro, g, ws):  # pragma: no cover - compiled
    """The FP state at ``Z`` (:func:`fp_state_one`) and the direction ``G`` (:func:`direction_one`)."""
    fp_state_one(h_r, h_i, z_r, z_i, lam[0], lam[1], lm[0], lm[1], fro, ws)
    direction_one(z_r, z_i, lam[0], lam[1], lm[0], lm[1], g[0], g[1])


@njit(cache=True, fastmath={"reassoc", "nsz"})
def direction_one(z_r, z_i, lam_r, lam_i, lm_r, lm_i, g_r, g_i):  # pragma: no cover - compiled
    """``G_lk = Lambda_lk - L_l Z_lk``, the ascent direction of eq. (38)."""
    L, K, Nt, d = z_r.shape
    for l in range(L):
        for k in range(K):
            for n in range(Nt):
                for s in range(d):
                    sr = lam_r[l, k, n, s]
                    si = lam_i[l, k, n, s]
                    for m in range(Nt):
                        sr -= lm_r[l, n, m] * z_r[l, k, m, s] - lm_i[l, n, m] * z_i[l, k, m, s]
                        si -= lm_r[l, n, m] * z_i[l, k, m, s] + lm_i[l, n, m] * z_r[l, k, m, s]
                    g_r[l, k, n, s] = sr
                    g_i[l, k, n, s] = si


@njit(cache=True, fastmath={"reassoc", "nsz"})
def base_steps(g_r, g_i, lm_r, lm_i, fro, exact, num, den):  # pragma: no cover - compiled
    """The step the DNN's ``exp(out)`` scales, as ``num / den`` per user ``[L, K]``: Remark 9's
    ``1 / ||L_l||_F``, or with ``exact`` the surrogate's line search ``||G||^2 / Re tr(G^H L G)``."""
    L, K, Nt, d = g_r.shape
    for l in range(L):
        for k in range(K):
            if not exact:
                num[l, k] = 1.0
                den[l, k] = fro[l]
                continue
            nn = 0.0
            curv = 0.0
            for t in range(d):
                for n in range(Nt):
                    sr = 0.0  # (L G)[n, t]
                    si = 0.0
                    for m in range(Nt):
                        sr += lm_r[l, n, m] * g_r[l, k, m, t] - lm_i[l, n, m] * g_i[l, k, m, t]
                        si += lm_r[l, n, m] * g_i[l, k, m, t] + lm_i[l, n, m] * g_r[l, k, m, t]
                    curv += g_r[l, k, n, t] * sr + g_i[l, k, n, t] * si
                    nn += g_r[l, k, n, t] * g_r[l, k, n, t] + g_i[l, k, n, t] * g_i[l, k, n, t]
            num[l, k] = nn
            den[l, k] = max(curv, 1e-300)


@njit(cache=True)
def dnn_inputs_one(z_r, z_i, g_r, g_i, fro, l, k, x):  # pragma: no cover - compiled
    """The DNN input of user ``lk`` (51): ``(Z, G / ||L_l||_F)`` flattened row-major, ``x [2, 2 N_t d]``
    (a division, as the torch model forms it, so the hardware mode quantizes the same numbers)."""
    Nt, d = z_r.shape[2], z_r.shape[3]
    half = Nt * d
    for n in range(Nt):
        for s in range(d):
            x[0, n * d + s] = z_r[l, k, n, s]
            x[1, n * d + s] = z_i[l, k, n, s]
            x[0, half + n * d + s] = g_r[l, k, n, s] / fro[l]
            x[1, half + n * d + s] = g_i[l, k, n, s] / fro[l]


@njit(cache=True, fastmath={"reassoc", "nsz"})
def complex_dense(w_r, w_i, b_r, b_i, x, y):  # pragma: no cover - compiled
    """``y = relu(W x + b)`` on real and imaginary parts (eq. 47); ``x [2, n_in]``, ``y [2, n_out]``."""
    n_out, n_in = w_r.shape
    for o in range(n_out):
        sr = b_r[o]
        si = b_i[o]
        for t in range(n_in):
            sr += w_r[o, t] * x[0, t] - w_i[o, t] * x[1, t]
            si += w_r[o, t] * x[1, t] + w_i[o, t] * x[0, t]
        y[0, o] = sr if sr > 0.0 else 0.0
        y[1, o] = si if si > 0.0 else 0.0


@njit(cache=True, fastmath={"reassoc", "nsz"})
def dnn_float(layer, w0r, w0i, b0r, b0i, whr, whi, bhr, bhi, wor, woi, bo, x, h1, h2):  # pragma: no cover
    """Layer ``layer``'s step DNN on ``x``; returns ``Re(out)`` (before the clamp and exp)."""
    complex_dense(w0r[layer], w0i[layer], b0r[layer], b0i[layer], x, h1)
    for j in range(whr.shape[1]):
        complex_dense(whr[layer, j], whi[layer, j], bhr[layer, j], bhi[layer, j], h1, h2)
        copy_into(h1, h2)
    s = bo[layer]
    for t in range(wor.shape[1]):
        s += wor[layer, t] * h1[0, t] - woi[layer, t] * h1[1, t]
    return s


@njit(cache=True)
def update_one(z_r, z_i, g_r, g_i, step, v_r, v_i):  # pragma: no cover - compiled
    """Eq. (38) then (37): ``V = Z + s G`` per user, each cell scaled onto its unit budget."""
    L, K, Nt, d = z_r.shape
    for l in range(L):
        p = 0.0
        for k in range(K):
            s = step[l, k]
            for n in range(Nt):
                for t in range(d):
                    vr = z_r[l, k, n, t] + s * g_r[l, k, n, t]
                    vi = z_i[l, k, n, t] + s * g_i[l, k, n, t]
                    v_r[l, k, n, t] = vr
                    v_i[l, k, n, t] = vi
                    p += vr * vr + vi * vi
        c = min(1.0, math.sqrt(1.0 / max(p, 1e-300)))
        for k in range(K):
            for n in range(Nt):
                for t in range(d):
                    v_r[l, k, n, t] *= c
                    v_i[l, k, n, t] *= c


@njit(cache=True)
def layer_workspace(L, K, Nr, Nt, d, n_in, hidden):  # pragma: no cover - compiled
    f8 = np.float64
    return (np.empty((2, L, K, Nt, d), f8), np.empty((2, L, Nt, Nt), f8), np.empty(L, f8),
            np.empty((2, L, K, Nt, d), f8), np.empty((3, L, K), f8),  # step, base numerator, denominator
            np.empty((2, n_in), f8), np.empty((2, hidden), f8), np.empty((2, hidden), f8))


@njit(cache=True)
def forward_range(h_r, h_i, v_r, v_i, first, last, exact, w0r, w0i, b0r, b0i, whr, whi, bhr, bhi, wor, woi, bo,
                  steps, b0, b1):  # pragma: no cover - compiled
    """Layers ``first .. last - 1`` in place on ``V [B, L, K, N_t, d]``; the steps of every
    user into ``steps [B, I, L, K]``; channels ``b0 .. b1 - 1``, one workspace for all."""
    B, L, K, _, Nr, Nt = h_r.shape
    d = v_r.shape[4]
    if b1 > b0:
        ws = state_workspace(L, K, Nr, Nt, d)
        lam, lm, fro, g, sb, x, h1, h2 = layer_workspace(L, K, Nr, Nt, d, w0r.shape[2], w0r.shape[1])
        for b in range(b0, b1):
            for layer in range(first, last):
                state_and_direction(h_r[b], h_i[b], v_r[b], v_i[b], lam, lm, fro, g, ws)
                base_steps(g[0], g[1], lm[0], lm[1], fro, exact, sb[1], sb[2])
                for l in range(L):
                    for k in range(K):
                        dnn_inputs_one(v_r[b], v_i[b], g[0], g[1], fro, l, k, x)
                        out = dnn_float(layer, w0r, w0i, b0r, b0i, whr, whi, bhr, bhi, wor, woi, bo, x, h1, h2)
                        out = min(STEP_LOG_RANGE, max(-STEP_LOG_RANGE, out))
                        sb[0, l, k] = math.exp(out) * sb[1, l, k] / sb[2, l, k]
                        steps[b, layer, l, k] = sb[0, l, k]
                # V is both Z (read) and the output: update_one reads Z before it writes V
                update_one(v_r[b], v_i[b], g[0], g[1], sb[0], v_r[b], v_i[b])


def forward_batch(*args):
    """:func:`forward_range` on every channel, ``prange`` over chunks of the batch
    (:func:`kernels._core.batching.parallel_chunks`); ``args``: its own without the channel range."""
    parallel_chunks(forward_range, *args)
