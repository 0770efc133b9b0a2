"""Private Numba kernel of the MSER network (eq. 27-30 and 26) in real arithmetic, float64.

Mirrors :class:`hbf_edge.families.mser.model.MserNet` operation for operation, per channel, in
the layout ``H [K, N_r, N_t]``, ``F [N_t, R_t]``, ``V [R_t, D]``, ``U [K, R_r, N_r]``,
``W [K, R_r, D_k]``.  For a width ``rho`` and user k (spec 2.1, ``A = F V``)::

    E_k = W_k^H (U_k H_k) A        [D_k, D]      Y_k = E_k S      [D_k, J]
    Beta_k = e^{-(Re Y)^2 / 2 rho^2} o Re S_k + j e^{-(Im Y)^2 / 2 rho^2} o Im S_k
    M_k = c Beta_k S^H             [D_k, D]      c = 1 / (J sqrt(2 pi) rho)

    grad_V (user k's columns, width rho_Pk for every user's samples) = -F^H sum_k' B_k' M_k'
    grad_W_k = -(U_k H_k A) M_k^H,  grad_U_k = -W_k M_k A^H H_k^H,  grad_F = -(sum_k B_k M_k) V^H
    with B_k = (U_k H_k)^H W_k  [N_t, D_k];  d/dtheta = Im(conj(X) o grad_X)

The steps arrive premultiplied (``mu o a``, expanded to full matrices), the offsets as
``mu o O`` (zero without offsets), the widths relative to the noise; the step factor ``g`` of
each channel is ``sigma / sigma_ref`` (:class:`hbf_edge.families.mser.gd.GdSteps`).  The last
layer's theta_F row holds the plain step (25) and the width ``kappa / sqrt 2``.  A layer is
:func:`v_gradient`, :func:`v_step` and :func:`after_v` (the candidate layers of
:mod:`kernels.mser._cand` share the first across their candidates).  Workspaces
(:func:`channel_work`) are allocated once per channel, never inside the layer loop; a batch
runs in chunks on the threads (:func:`kernels._core.batching.threaded_channels`).
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.batching import serial_channels, threaded_channels
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels._core.linalg import matmul, matmul_wide, mm_ah, mm_bh
from hbf_edge.kernels._core.simd import LANES, block_conj_sums, block_sums, padded_copy, padded_transpose
from hbf_edge.kernels.mser._float_kde import _outputs, _weights
from hbf_edge.kernels.mser._float_products import add_bm_t, bh_w_t, mm_bh_t, zvh_t

# No fast-math (reassociation once let the sums over the symbol samples vectorise): with it, the
# code Numba compiled fresh and the code it loaded from its cache rounded differently (5e-16 after
# one GD iteration, 1.3e-13 after 50), and GD-500 at its tuned steps amplifies that to ~3 % of the
# SER, so the first `evaluate` after an install tuned mu_thetaF to 0.768 and later ones to 3.07.
# Strict IEEE order gives the same bits from both (tests/kernels/mser/test_cache.py) and cost
# ~7 % (GD-100 on 20 paper-preset channels, one thread: 0.258 s against 0.241 s, 2026-12-06).


@njit(cache=True)
def _uh(ur, ui, hr, hi, k, out_r, out_i):  # pragma: no cover - compiled
    """``U_k H_k`` [R_r, N_t]."""
    matmul_wide(ur[k], ui[k], hr[k], hi[k], out_r, out_i)


@njit(cache=True)
def _effective(uhr, uhi, work, wr, wi, k, gr, gi, er, ei):  # pragma: no cover - compiled
    """``G_k = (U_k H_k) A`` [R_r, D] and ``E_k = W_k^H G_k`` [D_k, D], from ``work``'s A [N_t, W]
    (:func:`_precode`), each entry of G summed as :func:`matmul` sums it (the same bits), four
    columns at a time (:func:`kernels._core.simd.block_sums`) into ``work``'s [R_r, W] scratch."""
    ap_r, ap_i, gp_r, gp_i = work[38], work[39], work[40], work[41]
    Rr = uhr.shape[1]
    D = gr.shape[2]
    block_sums(uhr[k], uhi[k], ap_r, ap_i, np.int64(0), Rr, np.int64(0), D, gp_r, gp_i)
    for r in range(Rr):
        for d in range(D):
            gr[k, r, d] = gp_r[r, d]
            gi[k, r, d] = gp_i[r, d]
    mm_ah(wr[k], wi[k], gr[k], gi[k], er[k], ei[k], 0.0)


@njit(cache=True)
def stream_gain2(ur, ui, wr, wi, k, i):  # pragma: no cover - compiled
    """``||U_k^H w_ik||^2``, the noise gain of user k's stream i (the combiner normalisation's
    and the candidate score's)."""
    Rr, Nr = ur.shape[1], ur.shape[2]
    s = 0.0
    for n in range(Nr):
        pr = 0.0
        pi = 0.0
        for r in range(Rr):
            pr += ur[k, r, n] * wr[k, r, i] + ui[k, r, n] * wi[k, r, i]
            pi += ur[k, r, n] * wi[k, r, i] - ui[k, r, n] * wr[k, r, i]
        s += pr * pr + pi * pi
    return s


@njit(cache=True)
def _normalise(ur, ui, wr, wi, k):  # pragma: no cover - compiled
    """``w_ik <- w_ik / ||U_k^H w_ik||``."""
    Rr = ur.shape[1]
    Dk = wr.shape[2]
    for i in range(Dk):
        inv = 1.0 / math.sqrt(stream_gain2(ur, ui, wr, wi, k, i))
        for r in range(Rr):
            wr[k, r, i] *= inv
            wi[k, r, i] *= inv


@njit(cache=True)
def _phase_step(xr, xi, grad_r, grad_i, off):  # pragma: no cover - compiled
    """``theta <- angle(X) - Im(conj(X) o grad) + off``; ``X <- e^{j theta}`` (2-D; ``grad``
    arrives multiplied by its real step)."""
    P, Q = xr.shape
    for p in range(P):
        for q in range(Q):
            d = xr[p, q] * grad_i[p, q] - xi[p, q] * grad_r[p, q]
            theta = math.atan2(xi[p, q], xr[p, q]) - d + off[p, q]
            xr[p, q] = math.cos(theta)
            xi[p, q] = math.sin(theta)


# where ``channel_work``'s tuple holds U_k H_k and V's gradient (re, im; constants, as Numba
# indexes a tuple of arrays of different ranks only by a constant)
UH_R, UH_I, GV_R, GV_I = 2, 3, 18, 19


@njit(cache=True)
def _precode(F_r, F_i, V_r, V_i, work):  # pragma: no cover - compiled
    """``A = F V`` into ``work``'s [N_t, W] (zero past D; :func:`_effective` reads it) and ``A^T``
    [D, N_t] into its first two arrays (the theta_U step and the scaling read it), each entry
    summed as :func:`matmul` sums ``F V`` (the same bits): the rows of F times V four columns at
    a time (:func:`kernels._core.simd.block_sums`, V in ``work``'s [R_t, W]).  Before: V^T F^T
    by :func:`matmul_wide` with F^T formed at every call; this form and the G_k it serves took a
    paper-size layer from ~71 to ~62 us (2026-12-06, ``scratch/s66/lay.py``); forming A^T that
    way and A by a transpose was slower (2.1 against 1.3 us, ``scratch/s67/prec2.py``)."""
    atr, ati, vp_r, vp_i, ap_r, ap_i = work[0], work[1], work[32], work[33], work[38], work[39]
    Nt = F_r.shape[0]
    D = V_r.shape[1]
    padded_copy(V_r, V_i, vp_r, vp_i)
    block_sums(F_r, F_i, vp_r, vp_i, np.int64(0), Nt, np.int64(0), D, ap_r, ap_i)  # A's pad: sums of zeros
    for n in range(Nt):
        for d in range(D):
            atr[d, n] = ap_r[n, d]
            ati[d, n] = ap_i[n, d]


@njit(cache=True)
def h_t(H_r, H_i, work):  # pragma: no cover - compiled
    """``H_k^T`` [K, N_t, W_r] (zero past N_r) into ``work[42], work[43]``, once per channel, for
    the theta_U step's ``T H_k^H``."""
    for k in range(H_r.shape[0]):
        padded_transpose(H_r[k], H_i[k], work[42][k], work[43][k])


@njit(cache=True)
def channel_work(K, Nt, Rt, D, Rr, Dk, Nr, J):  # pragma: no cover - compiled
    """The work arrays of one channel's layers (:func:`_channel`; the candidate layers share them;
    uninitialised: the functions that fill the padded ones write their zeros too),
    in the order :func:`v_gradient` and :func:`after_v` unpack them.  The products over the N_t
    antennas keep N_t last, so their rows vectorise: ``A^T`` [D, N_t], ``B_k^T`` [K, D_k, N_t],
    ``z^T`` [D, N_t], theta_F's gradient transposed [R_t, N_t] (:mod:`kernels.mser._float_products`).
    The products by :mod:`kernels._core.simd`'s vector sums read and write rows padded with zeros
    to a multiple of its LANES (W for D, W_t for R_t, W_r for N_r): V [R_t, W], A [N_t, W] and
    G_k [R_r, W] (:func:`_precode`, :func:`_effective`); the layer's symbols ``S^T`` [J, W] and
    ``Beta S^H`` [D_k, W] (:func:`kernels.mser._float_kde._weights`); F [N_t, W_t] and
    ``(F^H z)^T`` [D, W_t] (:func:`v_gradient`); ``H_k^T`` [K, N_t, W_r] and ``T H_k^H`` [D_k, W_r]
    (:func:`after_v`'s theta_U step)."""
    W = -(-D // LANES) * LANES
    Wt = -(-Rt // LANES) * LANES
    Wr = -(-Nr // LANES) * LANES
    # one allocation per re/im pair, its two halves the arrays (23 allocations instead of 46:
    # 1.5 -> 0.96 us a call, which the profile's one-layer calls pay; the layers as fast)
    p0 = np.empty((2, D, Nt))
    p1 = np.empty((2, K, Rr, Nt))
    p2 = np.empty((2, K, Rr, D))
    p3 = np.empty((2, K, Dk, D))
    p4 = np.empty((2, K, Dk, Nt))
    p5 = np.empty((2, Dk, D))
    p6 = np.empty((2, K, Dk, J))
    p7 = np.empty((2, Dk, J))
    p8 = np.empty((2, D, Nt))
    p9 = np.empty((2, Rt, D))
    p10 = np.empty((2, Rr, Dk))
    p11 = np.empty((2, Dk, Nt))
    p12 = np.empty((2, Dk, Wr))
    p13 = np.empty((2, Rr, Nr))
    p14 = np.empty((2, Rt, Nt))
    p15 = np.empty((2, Nt, Wt))
    p16 = np.empty((2, Rt, W))
    p17 = np.empty((2, J, W))
    p18 = np.empty((2, Dk, W))
    p19 = np.empty((2, Nt, W))
    p20 = np.empty((2, Rr, W))
    p21 = np.empty((2, K, Nt, Wr))
    p22 = np.empty((2, D, Wt))
    return (p0[0], p0[1], p1[0], p1[1], p2[0], p2[1], p3[0], p3[1], p4[0], p4[1], p5[0], p5[1], p6[0], p6[1], p7[0],
            p7[1], p8[0], p8[1], p9[0], p9[1], p10[0], p10[1], p11[0], p11[1], p12[0], p12[1], p13[0], p13[1], p14[0],
            p14[1], p15[0], p15[1], p16[0], p16[1], p17[0], p17[1], p18[0], p18[1], p19[0], p19[1], p20[0], p20[1],
            p21[0], p21[1], p22[0], p22[1])


@njit(cache=True)
def v_gradient(H_r, H_i, F_r, F_i, V_r, V_i, W_r, W_i, s, widths, S_r, S_i, qam, layer, work):  # pragma: no cover
    """Layer ``layer``'s gradient of V (27) into ``work``'s ``gv`` (the step not yet applied),
    from ``work``'s ``U_k H_k`` of the current U, user k's columns with user k's width over every
    user's samples ``S``.  A candidate layer forms it once for all its candidates: their steps
    differ, their V gradient does not."""
    (atr, ati, uhr, uhi, gr, gi, er, ei, br, bi, mr, mi, yr, yi, tbr, tbi, zr, zi, gvr, gvi, gwr, gwi, tr, ti, t2r, t2i,
     gur, gui, gfr, gfi) = work[:30]
    K, Nt = H_r.shape[0], H_r.shape[2]
    Rt, D = V_r.shape
    Dk = W_r.shape[2]
    st_r, st_i, bsr, bsi = work[34:38]
    padded_transpose(S_r, S_i, st_r, st_i)  # S^T [J, W], for this layer's after_v too
    _precode(F_r, F_i, V_r, V_i, work)
    padded_copy(F_r, F_i, work[30], work[31])  # F [N_t, W_t], for F^H z
    for k in range(K):
        _effective(uhr, uhi, work, W_r, W_i, k, gr, gi, er, ei)
        bh_w_t(uhr[k], uhi[k], W_r[k], W_i[k], br[k], bi[k])
        _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k])
    for k in range(K):
        for d in range(k * Dk, (k + 1) * Dk):
            for n in range(Nt):
                zr[d, n] = 0.0
                zi[d, n] = 0.0
        for kk in range(K):  # only user k's columns of M are needed
            _weights(yr[kk], yi[kk], S_r, S_i, st_r, st_i, kk, widths[layer, 0, k] * s, k * Dk, (k + 1) * Dk, mr,
                     mi, tbr, tbi, bsr, bsi, er[kk], ei[kk], qam)
            add_bm_t(br[kk], bi[kk], mr, mi, k * Dk, (k + 1) * Dk, zr, zi)
        # gv = -F^H z: (F^H z)^T = z^T conj(F), each entry summed over the antennas in order
        fz_r, fz_i = work[44], work[45]
        block_conj_sums(zr, zi, work[30], work[31], k * Dk, (k + 1) * Dk, np.int64(0), Rt, fz_r, fz_i)
        for r in range(Rt):
            for d in range(k * Dk, (k + 1) * Dk):
                gvr[r, d] = -fz_r[d, r]
                gvi[r, d] = -fz_i[d, r]


@njit(cache=True)
def v_step(V_r, V_i, gvr, gvi, ap_r, ap_i, op_r, op_i, gb, layer):  # pragma: no cover - compiled
    """V's update (27) from its gradient ``gv``, with layer ``layer``'s steps and offsets."""
    Rt, D = V_r.shape
    for r in range(Rt):
        for d in range(D):
            pr = ap_r[layer, r, d] * gvr[r, d] - ap_i[layer, r, d] * gvi[r, d]
            pi = ap_r[layer, r, d] * gvi[r, d] + ap_i[layer, r, d] * gvr[r, d]
            V_r[r, d] = V_r[r, d] - gb * pr + op_r[layer, r, d]
            V_i[r, d] = V_i[r, d] - gb * pi + op_i[layer, r, d]


@njit(cache=True)
def after_v(H_r, H_i, F_r, F_i, V_r, V_i, U_r, U_i, W_r, W_i, s, gb, aw_r, aw_i, au, af, ow_r, ow_i, ou, of_, widths,
            widths_f, S_r, S_i, power, qam, layer, work):  # pragma: no cover - compiled
    """The rest of layer ``layer`` after V's update: W (28), theta_U (29), theta_F (30) and the
    scaling (26), in place; ``work``'s ``U_k H_k`` follows U."""
    (atr, ati, uhr, uhi, gr, gi, er, ei, br, bi, mr, mi, yr, yi, tbr, tbi, zr, zi, gvr, gvi, gwr, gwi, tr, ti, t2r, t2i,
     gur, gui, gfr, gfi) = work[:30]
    K, Nt = H_r.shape[0], H_r.shape[2]
    Rt, D = V_r.shape
    Rr, Dk = W_r.shape[1], W_r.shape[2]
    Nr = U_r.shape[2]
    st_r, st_i, bsr, bsi = work[34:38]  # S^T as v_gradient wrote it for this layer
    # (28): W_k with width rho_Wk, then the combiner normalisation
    _precode(F_r, F_i, V_r, V_i, work)
    for k in range(K):
        _effective(uhr, uhi, work, W_r, W_i, k, gr, gi, er, ei)
        _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k])
        _weights(yr[k], yi[k], S_r, S_i, st_r, st_i, k, widths[layer, 1, k] * s, np.int64(0), D, mr, mi, tbr, tbi, bsr,
                 bsi, er[k], ei[k], qam)
        mm_bh(gr[k], gi[k], mr, mi, gwr, gwi, 0.0)
        for r in range(Rr):
            for i in range(Dk):
                # grad_W = -G M^H, so W - g (a o grad) = W + g (a o G M^H)
                pr = aw_r[layer, k, r, i] * gwr[r, i] - aw_i[layer, k, r, i] * gwi[r, i]
                pi = aw_r[layer, k, r, i] * gwi[r, i] + aw_i[layer, k, r, i] * gwr[r, i]
                W_r[k, r, i] = W_r[k, r, i] + gb * pr + ow_r[layer, k, r, i]
                W_i[k, r, i] = W_i[k, r, i] + gb * pi + ow_i[layer, k, r, i]
        _normalise(U_r, U_i, W_r, W_i, k)
    # (29): theta_Uk with width rho_thetaUk, then U_k H_k and the normalisation again
    for k in range(K):
        mm_ah(W_r[k], W_i[k], gr[k], gi[k], er[k], ei[k], 0.0)
        _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k])
        _weights(yr[k], yi[k], S_r, S_i, st_r, st_i, k, widths[layer, 2, k] * s, np.int64(0), D, mr, mi, tbr, tbi, bsr,
                 bsi, er[k], ei[k], qam)
        mm_bh_t(mr, mi, atr, ati, tr, ti)
        block_conj_sums(tr, ti, work[42][k], work[43][k], np.int64(0), Dk, np.int64(0), Nr, t2r, t2i)  # T H_k^H
        matmul(W_r[k], W_i[k], t2r[:, :Nr], t2i[:, :Nr], gur, gui)
        for r in range(Rr):
            for n in range(Nr):
                gur[r, n] = -gur[r, n]
                gui[r, n] = -gui[r, n]
                t = gb * au[layer, k, r, n]
                gur[r, n] *= t
                gui[r, n] *= t
        _phase_step(U_r[k], U_i[k], gur, gui, ou[layer, k])
        _normalise(U_r, U_i, W_r, W_i, k)
        _uh(U_r, U_i, H_r, H_i, k, uhr[k], uhi[k])
    # (30) (or the plain step (25) in the last layer): theta_F with one width for all users
    for d in range(D):
        for n in range(Nt):
            zr[d, n] = 0.0
            zi[d, n] = 0.0
    for k in range(K):
        _effective(uhr, uhi, work, W_r, W_i, k, gr, gi, er, ei)
        bh_w_t(uhr[k], uhi[k], W_r[k], W_i[k], br[k], bi[k])
        _outputs(er[k], ei[k], S_r, S_i, yr[k], yi[k])
        _weights(yr[k], yi[k], S_r, S_i, st_r, st_i, k, widths_f[layer] * s, np.int64(0), D, mr, mi, tbr, tbi, bsr,
                 bsi, er[k], ei[k], qam)
        add_bm_t(br[k], bi[k], mr, mi, np.int64(0), D, zr, zi)
    zvh_t(zr, zi, V_r, V_i, gfr, gfi)  # (z V^H)^T
    for r in range(Rt):
        for n in range(Nt):
            t = -gb * af[layer, n, r]
            gfr[r, n] *= t
            gfi[r, n] *= t
    _phase_step(F_r, F_i, gfr.T, gfi.T, of_[layer])  # the gradient was formed transposed
    # (26): V <- sqrt(P) V / ||F V||_F
    _precode(F_r, F_i, V_r, V_i, work)
    nrm = 0.0
    for n in range(Nt):
        for d in range(D):
            nrm += atr[d, n] * atr[d, n] + ati[d, n] * ati[d, n]
    scale = math.sqrt(power / nrm)
    for r in range(Rt):
        for d in range(D):
            V_r[r, d] *= scale
            V_i[r, d] *= scale



@njit(cache=True)
def _channel(H_r, H_i, F_r, F_i, V_r, V_i, U_r, U_i, W_r, W_i, s, gb, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i,
             ow_r, ow_i, ou, of_, widths, widths_f, sym_r, sym_i, power, qam, lo, hi_layer):  # pragma: no cover
    """Layers ``lo .. hi_layer - 1`` of one channel, in place on ``F, V, U, W``."""
    K, Nr, Nt = H_r.shape
    Rt, D = V_r.shape
    Rr, Dk = W_r.shape[1], W_r.shape[2]
    work = channel_work(K, Nt, Rt, D, Rr, Dk, Nr, sym_r.shape[2])
    h_t(H_r, H_i, work)
    for k in range(K):
        _uh(U_r, U_i, H_r, H_i, k, work[UH_R][k], work[UH_I][k])
    for layer in range(lo, hi_layer):
        S_r, S_i = sym_r[layer], sym_i[layer]
        v_gradient(H_r, H_i, F_r, F_i, V_r, V_i, W_r, W_i, s, widths, S_r, S_i, qam, layer, work)
        v_step(V_r, V_i, work[GV_R], work[GV_I], ap_r, ap_i, op_r, op_i, gb, layer)
        after_v(H_r, H_i, F_r, F_i, V_r, V_i, U_r, U_i, W_r, W_i, s, gb, aw_r, aw_i, au, af, ow_r, ow_i, ou, of_,
                widths, widths_f, S_r, S_i, power, qam, layer, work)


@njit(cache=True, nogil=True)
def layers_range(hr, hi, fr, fi, vr, vi, ur, ui, wr, wi, sigma, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r,
                 ow_i, ou, of_, widths, widths_f, sym_r, sym_i, power, qam, lo, hi_layer, b0, b1):  # pragma: no cover
    """Layers ``lo .. hi_layer - 1`` of channels ``b0 .. b1 - 1``, one after the other."""
    for b in range(b0, b1):
        _channel(hr[b], hi[b], fr[b], fi[b], vr[b], vi[b], ur[b], ui[b], wr[b], wi[b], sigma[b], g[b], ap_r, ap_i,
                 aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_, widths, widths_f, sym_r, sym_i, power, qam, lo,
                 hi_layer)


def layers_serial(*args):
    """:func:`layers_range` on every channel in the calling thread (small batches); ``args``:
    its own without the channel range."""
    serial_channels(layers_range, *args)


def layers_parallel(*args):
    """The same in chunks on the threads (:func:`kernels._core.batching.threaded_channels`)."""
    threaded_channels(layers_range, *args)
