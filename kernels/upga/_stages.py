"""Private Numba loops that time the UPGA hardware forward stage by stage, as the forward runs them.

Why: timed one call per stage, a batch-1 stage carried what the forward pays once per channel
(the call's dispatch, the workspace allocation, the layout changes) and, alone, formed the
``G = H^H F`` that a layer of the forward takes from the W-step before it; the stages of the
default model added up to 2.2x the whole float64 forward and 1.3x the hardware one
(``hbf-edge profile``, 2026-12-04).  Here each loop prepares a channel once (the initialisation
and the layers before the stage, G kept) and then runs the stage ``reps`` times in place on the
state it leaves (the same work each time), so a stage's time is its share of the forward.  The
preparation is inside the timed call: at most one whole forward per channel against ``reps``
stages (about 1 % at the profiler's reps = 1000: a forward is about ten stages).

``stage`` is -1 for the initialisation, ``i >= 0`` for layer ``i`` and I (one past the last
layer) for the output stage; :func:`fx_forward_loop` repeats the whole forward of the serial
driver the same way.  Used by :mod:`hbf_edge._profile_timers`.

Larger batches: :func:`fx_stage_range` takes the state the forward leaves before the stage (the
caller prepares it, untimed, :func:`fx_prepare`) and runs the stage ``reps`` times per channel
of a chunk; the caller spreads the chunks over Python threads
(:func:`~hbf_edge.kernels._core.batching.run_chunks`; the loop releases the GIL) instead of a
``prange``, whose compilation cost 25-32 s per loop on a first run (the demo's profile stage).
Per channel and call it adds one ``G`` (the first run forms it: 2.0 us, timed in compiled loops
at N = 64) against the profiler's 10 runs of a layer (about 15 us each).

The float forward needs no loop of its own here: its channel loop,
:func:`kernels.upga._float_batch.steps_range`, takes a range of layers and a number of runs.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.upga._batch import _buffers, forward_fx_one
from hbf_edge.kernels.upga._fixed import layers_fx_one, table_words_into
from hbf_edge.kernels.upga._init_fixed import init_fx
from hbf_edge.kernels.upga._output import output_fx

__all__ = ["fx_stage_loop", "fx_forward_loop", "fx_stage_range", "fx_prepare"]


@njit(cache=True)
def _fx_runs(hr, hi, cd, fc, fs, wr, wi, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, cnt, buffers, stage,
             reps, g_over):  # pragma: no cover
    """The hardware ``stage`` ``reps`` times in place on one channel (``lam`` its row of step
    words; ``g_over`` as :func:`kernels.upga._fixed.layers_fx_one` takes it); ``stage`` I (one
    past the last layer) is the output stage, with the word ``xi``."""
    gr, gi, cr, ci, dr, di, ar, ai = buffers
    for _ in range(reps):
        if stage == lam.shape[0]:
            output_fx(hr, hi, fc, fs, noise, xi, wr, wi, fms[-1], cnt)
        elif stage < 0:
            init_fx(hr, hi, cd, fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], wr, wi, fms[0], cnt, ar, ai)
        else:
            g_over = layers_fx_one(hr, hi, cd, fc, fs, wr, wi, noise, mu[stage:stage + 1], lam[stage:stage + 1],
                                   lut_c, lut_s, n_codes, fms, cnt, stage, gr, gi, cr, ci, dr, di, ar, ai, g_over)


@njit(cache=True)
def _fx_prepare_one(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage, b,
                    buffers):  # pragma: no cover
    """Channel ``b``'s state before ``stage``: the initialisation and the layers before it
    (returns ``g_over`` as :func:`kernels.upga._fixed.layers_fx_one` does, -1 after none)."""
    gr, gi, cr, ci, dr, di, ar, ai, fc, fs = buffers
    init_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], w_r[b], w_i[b],
            fms[0], counts[b], ar, ai)
    if stage <= 0:
        return -1
    return layers_fx_one(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu[:stage], lam[b, :stage],
                         lut_c, lut_s, n_codes, fms, counts[b], np.int64(0), gr, gi, cr, ci, dr, di, ar, ai, np.int64(-1))


@njit(cache=True)
def fx_prepare(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage):  # pragma: no cover
    """Every channel's state before ``stage`` in place, serially: the untimed preparation of
    :func:`fx_stage_range`."""
    B, N, K = h_r.shape
    buffers = _buffers(N, codes.shape[2], K)
    for b in range(B):
        _fx_prepare_one(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage, b,
                        buffers)


@njit(cache=True)
def fx_stage_loop(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage,
                  reps):  # pragma: no cover
    """``stage`` of the hardware forward (the initialisation, the layers of
    :mod:`kernels.upga._fixed`, and with ``stage`` = I the output stage) ``reps`` times per
    channel, with the arguments of :func:`kernels.upga._batch.forward_fx_batch`."""
    B, N, K = h_r.shape
    M = codes.shape[2]
    gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
    for b in range(B):
        g_over = _fx_prepare_one(h_r, h_i, noise, mu, lam, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage,
                                 b, (gr, gi, cr, ci, dr, di, ar, ai, fc, fs))
        _fx_runs(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu, lam[b], xi, lut_c, lut_s, n_codes,
                 fms, counts[b], (gr, gi, cr, ci, dr, di, ar, ai), stage, reps, g_over)


@njit(cache=True)
def fx_forward_loop(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts,
                    reps):  # pragma: no cover
    """The whole hardware forward of the batch (output stage included unless ``xi`` is
    ``NO_OUTPUT_STAGE``), ``reps`` times."""
    for _ in range(reps):
        for b in range(h_r.shape[0]):
            forward_fx_one(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, b)


@njit(cache=True, nogil=True)
def fx_stage_range(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, stage, reps,
                   lo, hi):  # pragma: no cover
    """The hardware ``stage`` (as :func:`fx_stage_loop`) ``reps`` times per channel of
    ``lo .. hi - 1``, in place on every channel's codes and W (the table words of the incoming
    codes from the table of the layer that chose them, as
    :func:`kernels.upga._batch.layers_fx_batch`)."""
    B, N, K = h_r.shape
    M = codes.shape[2]
    src = stage - 1 if stage > 0 else 0
    gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
    for b in range(lo, hi):
        # the incoming codes' words (the initialisation writes its own)
        table_words_into(lut_c[src], lut_s[src], codes[b], fc, fs)
        _fx_runs(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu, lam[b], xi, lut_c, lut_s,
                 n_codes, fms, counts[b], (gr, gi, cr, ci, dr, di, ar, ai), stage, reps, np.int64(-1))
