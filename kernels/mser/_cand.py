"""Private Numba kernel of the MSER network's candidate layers (float64), mirroring
:meth:`hbf_edge.families.mser.model.MserNet.candidate_layer` per channel.

The steps arrive as ``L * C`` virtual layers (:func:`kernels.mser.forward.pack_mser`): virtual
layer ``l C + c`` is layer l with its steps and offsets times row c of the candidate table, so
one candidate is one layer of :func:`kernels.mser._float._channel` on a copy of the design
(its V gradient shared: :func:`_channel_candidates`).  A
row flagged ``keep`` (all zeros) is the layer's input at its known score.  The score is
:func:`hbf_edge.families.mser.model.ser_loss` on the scoring vectors ``S [D, J_s]``: per stream,
the exact-width ``Q`` of the distance to its decision boundaries (QPSK: the sign of each part;
16-QAM: both boundaries of the level after the rotation by the stream's desired gain), averaged
over streams and vectors.  Per channel the lowest score wins, the first row on ties.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.batching import serial_channels, threaded_channels
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.mser._float import (GV_I, GV_R, UH_I, UH_R, _effective, _precode, _uh, after_v, channel_work,
                                          h_t, stream_gain2, v_gradient, v_step)
from hbf_edge.kernels.mser._float_kde import _outputs


@njit(cache=True)
def _part_qam(z, level, mag, inv):  # pragma: no cover - compiled
    """16-QAM's error of one part: ``Q`` of the distance to each boundary of ``level``'s region."""
    p = 0.0
    if level > -3.0:
        p += 0.5 * math.erfc((z - mag * (level - 1.0)) * inv)
    if level < 3.0:
        p += 0.5 * math.erfc((mag * (level + 1.0) - z) * inv)
    return p


@njit(cache=True)
def score(hr, hi, fr, fi, vr, vi, ur, ui, wr, wi, sr, si, sigma, qam, work, uhr, uhi, gr, gi, er, ei, yr,
          yi):  # pragma: no cover - compiled
    """The candidate score of one channel's design (module notes); the rest are work arrays.
    ``work`` is the layers' (:func:`channel_work`): A is formed there by the layers' own
    :func:`_precode` and :func:`_effective`, which overwrite only A, A^T, V's and G's padded
    copies, arrays every layer forms again before it reads them (the V gradient the candidates
    share is left alone)."""
    K = ur.shape[0]
    Dk = wr.shape[2]
    J = sr.shape[1]
    _precode(fr, fi, vr, vi, work)
    total = 0.0
    for k in range(K):
        _uh(ur, ui, hr, hi, k, uhr[k], uhi[k])
        _effective(uhr, uhi, work, wr, wi, k, gr, gi, er, ei)
        _outputs(er[k], ei[k], sr, si, yr, yi)
        for i in range(Dk):
            # rho = sigma ||U^H w|| / sqrt 2; Q(x / rho) = erfc(x / (rho sqrt 2)) / 2
            inv = 1.0 / (sigma * math.sqrt(stream_gain2(ur, ui, wr, wi, k, i)))
            d = k * Dk + i
            if not qam:
                for j in range(J):
                    total += 0.5 * math.erfc(sr[d, j] * yr[i, j] * inv) + 0.5 * math.erfc(si[d, j] * yi[i, j] * inv)
            else:
                cr, ci = er[k, i, d], ei[k, i, d]
                mag = math.sqrt(cr * cr + ci * ci) + 1e-300
                for j in range(J):
                    zr = (yr[i, j] * cr + yi[i, j] * ci) / mag
                    zi = (yi[i, j] * cr - yr[i, j] * ci) / mag
                    total += _part_qam(zr, sr[d, j], mag, inv) + _part_qam(zi, si[d, j], mag, inv)
    return total / (K * Dk * J)


@njit(cache=True)
def _copy(a, b):  # pragma: no cover - compiled
    """Design ``a`` into ``b`` (tuples of the eight real arrays; of mixed rank, so unrolled)."""
    b[0][:] = a[0]
    b[1][:] = a[1]
    b[2][:] = a[2]
    b[3][:] = a[3]
    b[4][:] = a[4]
    b[5][:] = a[5]
    b[6][:] = a[6]
    b[7][:] = a[7]


@njit(cache=True)
def _score_of(hr, hi, d, sc_r, sc_i, s, qam, work, uhr, uhi, gr, gi, er, ei, yr, yi):  # pragma: no cover
    return score(hr, hi, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], sc_r, sc_i, s, qam, work, uhr, uhi, gr, gi,
                 er, ei, yr, yi)


@njit(cache=True)
def _channel_candidates(hr, hi, design, s, gb, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_,
                        widths, widths_f, sym_r, sym_i, power, qam, keep, sc_r, sc_i, lo, hi_layer):  # pragma: no cover
    """Candidate layers ``lo .. hi_layer - 1`` of one channel, in place on ``design`` (a tuple of
    the eight real arrays F_r, F_i, V_r, V_i, U_r, U_i, W_r, W_i).

    A layer's first update, V's (27), starts from the layer's input, so its gradient is formed
    once for all candidates (:func:`kernels.mser._float.v_gradient`; `pc5`'s candidate layer
    went from 3337 to 2754 us, README "Candidate layers");
    each candidate then takes its own step and the rest of the layer, the same arithmetic as a
    whole pass of :func:`kernels.mser._float._channel` with that candidate's virtual layer."""
    K, Nr, Nt = hr.shape
    Rt, D = design[2].shape
    Rr, Dk = design[6].shape[1], design[6].shape[2]
    J = sc_r.shape[1]
    C = keep.shape[0]
    work = channel_work(K, Nt, Rt, D, Rr, Dk, Nr, sym_r.shape[2])
    h_t(hr, hi, work)
    uh0r = np.empty((K, Rr, Nt))  # U_k H_k of the layer's input, where every candidate starts
    uh0i = np.empty((K, Rr, Nt))
    uhr = np.empty((K, Rr, Nt))
    uhi = np.empty((K, Rr, Nt))
    gr = np.empty((K, Rr, D))
    gi = np.empty((K, Rr, D))
    er = np.empty((K, Dk, D))
    ei = np.empty((K, Dk, D))
    yr = np.empty((Dk, J))
    yi = np.empty((Dk, J))
    cand = (design[0].copy(), design[1].copy(), design[2].copy(), design[3].copy(), design[4].copy(),
            design[5].copy(), design[6].copy(), design[7].copy())
    best = (design[0].copy(), design[1].copy(), design[2].copy(), design[3].copy(), design[4].copy(),
            design[5].copy(), design[6].copy(), design[7].copy())
    current = _score_of(hr, hi, design, sc_r, sc_i, s, qam, work, uhr, uhi, gr, gi, er, ei, yr, yi)
    for layer in range(lo, hi_layer):
        v0 = layer * C  # every virtual layer of this layer has its widths and symbols
        S_r, S_i = sym_r[v0], sym_i[v0]
        for k in range(K):
            _uh(design[4], design[5], hr, hi, k, uh0r[k], uh0i[k])
        work[UH_R][:] = uh0r
        work[UH_I][:] = uh0i
        v_gradient(hr, hi, design[0], design[1], design[2], design[3], design[6], design[7], s, widths, S_r, S_i, qam,
                   v0, work)
        best_score = 0.0
        for c in range(C):
            _copy(design, cand)
            if keep[c]:
                sc = current
            else:
                v = v0 + c
                work[UH_R][:] = uh0r  # the previous candidate's theta_U update moved it
                work[UH_I][:] = uh0i
                v_step(cand[2], cand[3], work[GV_R], work[GV_I], ap_r, ap_i, op_r, op_i, gb, v)
                after_v(hr, hi, cand[0], cand[1], cand[2], cand[3], cand[4], cand[5], cand[6], cand[7], s, gb, aw_r,
                        aw_i, au, af, ow_r, ow_i, ou, of_, widths, widths_f, S_r, S_i, power, qam, v, work)
                sc = _score_of(hr, hi, cand, sc_r, sc_i, s, qam, work, uhr, uhi, gr, gi, er, ei, yr, yi)
            if c == 0 or sc < best_score:
                _copy(cand, best)
                best_score = sc
        _copy(best, design)
        current = best_score


@njit(cache=True, nogil=True)
def candidates_range(hr, hi, fr, fi, vr, vi, ur, ui, wr, wi, sigma, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i,
                     ow_r, ow_i, ou, of_, widths, widths_f, sym_r, sym_i, power, qam, keep, sc_r, sc_i, lo,
                     hi_layer, b0, b1):  # pragma: no cover - compiled
    """Candidate layers ``lo .. hi_layer - 1`` of channels ``b0 .. b1 - 1``, one after the other."""
    for b in range(b0, b1):
        _channel_candidates(hr[b], hi[b], (fr[b], fi[b], vr[b], vi[b], ur[b], ui[b], wr[b], wi[b]), sigma[b], g[b],
                            ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_, widths, widths_f, sym_r,
                            sym_i, power, qam, keep, sc_r, sc_i, lo, hi_layer)


def candidates_serial(*args):
    """:func:`candidates_range` on every channel in the calling thread (small batches)."""
    serial_channels(candidates_range, *args)


def candidates_parallel(*args):
    """The same in chunks on the threads (:func:`kernels._core.batching.threaded_channels`)."""
    threaded_channels(candidates_range, *args)
