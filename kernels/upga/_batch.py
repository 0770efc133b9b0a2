"""Private Numba batch entry points of the UPGA hardware mode: the per-channel datapath of
:mod:`kernels.upga._fixed`, parallel over the channels of a batch (``prange``); the fused
forward for :func:`kernels.upga_forward_hw`, and :func:`steps_fx_range`, the channel loop that
runs a range of stages (the per-layer profiler's stages, the numerical profile's taps); both run
the layers of one channel through :func:`layers_fx_one`."""

from __future__ import annotations

import numpy as np
from numba import prange

from hbf_edge.kernels._core.boundary import BAD_SHAPE, NOISE_BELOW_LSB, quantize_word, value_problem
from hbf_edge.kernels._core.fixed import PRE
from hbf_edge.kernels._core.jit import first_class, njit
from hbf_edge.kernels._core.linalg_fixed import WORD, words_t
from hbf_edge.kernels.upga._fixed import (NO_OUTPUT_STAGE, convert_w, f_step_fx, table_words_into, w_step_fx,
                                          work_rows)
from hbf_edge.kernels.upga._init_fixed import init_fx
from hbf_edge.kernels.upga._output import output_fx


@njit(cache=True)
def _buffers(N, M, K):  # pragma: no cover - compiled
    """G, C (int64), D and W before eq. (9) (:data:`~kernels._core.linalg_fixed.WORD`: operands
    of the products over the antennas), F's table words (int64)."""
    return (np.empty((K, M), np.int64), np.empty((K, M), np.int64), np.empty((K, K), np.int64),
            np.empty((K, K), np.int64), np.empty((K, M), WORD), np.empty((K, M), WORD),
            np.empty((M, K), WORD), np.empty((M, K), WORD), np.empty((N, M), np.int64),
            np.empty((N, M), np.int64))


@njit(cache=True)
def layers_fx_one(hr, hi, cd, fc, fs, wr, wi, noise, mu, lam, lut_c, lut_s, n_codes, fms, cnt, first,
                  gr, gi, cr, ci, dr, di, ar, ai, g_over=-1):  # pragma: no cover - compiled
    """Layers ``first .. first + len(lam) - 1`` on one channel (``mu`` and ``lam`` hold their
    rows); layer ``i`` reads its own table and formats.  Returns the last W-step's ``g_over``.

    A layer's first F-step takes ``G = H^H F`` from the previous layer's W-step (F has not
    moved since, and G depends only on the model-wide channel, lut and accumulator formats):
    one of the three N x K x M products of a layer at J = 1, with the same words and counters.
    ``g_over`` -1 (default): no G formed yet; else ``gr, gi`` hold the G of the current F and
    ``g_over`` its overflow count, as a previous call returned them (the profiler's runs of a
    stage, :func:`steps_fx_range`)."""
    N, M = fc.shape
    K = hr.shape[1]
    # H and F transposed once per call: every product over the antennas reads rows (F's
    # transpose is kept beside fc, fs by the F-steps)
    # (as WORD: the products over the antennas multiply 32-bit lanes, linalg_fixed says why)
    ht_r, ht_i, ft_c, ft_s = words_t(hr), words_t(hi), words_t(fc), words_t(fs)
    zf = np.zeros((M, N), np.int64)  # UPGA has no sensing term (see f_update_fx, w_update_fx)
    zw = np.zeros((M, K), np.int64)
    wk = work_rows(N, M)
    for t in range(lam.shape[0]):
        i = first + t
        lc = lut_c[i, :n_codes[i]]
        ls = lut_s[i, :n_codes[i]]
        fm = fms[i]
        if i > 0 and (fms[i - 1, PRE, 0] != fm[PRE, 0] or fms[i - 1, PRE, 2] != fm[PRE, 2]):
            convert_w(wr, wi, fms[i - 1, PRE, 0], fm, cnt)
        for j in range(mu.shape[1]):
            f_step_fx(ht_r, ht_i, cd, fc, fs, ft_c, ft_s, lc, ls, wr, wi, noise, mu[t, j], fm, cnt, gr, gi, cr, ci, dr,
                      di, zf, zf, wk, g_over)
            g_over = -1  # the F-step moved F
        g_over = w_step_fx(ht_r, ht_i, ft_c, ft_s, wr, wi, noise, lam[t], fm, cnt, gr, gi, cr, ci, ar, ai, zw, zw, wk)
    for n in range(N):  # the F-steps kept only the transpose (f_update_fx's keep_nm)
        for m in range(M):
            fc[n, m] = ft_c[m, n]
            fs[n, m] = ft_s[m, n]
    return g_over


@njit(cache=True)
def forward_fx_one(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, b):  # pragma: no cover
    """Channel ``b`` of :func:`forward_fx_batch`."""
    N, K = h_r.shape[1], h_r.shape[2]
    M = codes.shape[2]
    gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
    init_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], w_r[b], w_i[b],
            fms[0], counts[b], ar, ai)
    layers_fx_one(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu, lam[b], lut_c, lut_s, n_codes,
                  fms, counts[b], np.int64(0), gr, gi, cr, ci, dr, di, ar, ai, np.int64(-1))
    if xi != NO_OUTPUT_STAGE:
        output_fx(h_r[b], h_i[b], fc, fs, noise[b], xi, w_r[b], w_i[b], fms[-1], counts[b])


@njit(cache=True, parallel=True)
def _forward_fx_parallel(run, h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i,
                         counts):  # pragma: no cover
    """``run`` (:func:`forward_fx_one`, first-class) on every channel, parallel over the batch."""
    for b in prange(h_r.shape[0]):  # (prange's index is unsigned: as an int64, one compilation of forward_fx_one)
        run(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, np.int64(b))


def forward_fx_batch(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts):
    """Initialisation, ``I`` layers and the output stage (unless ``xi`` is ``NO_OUTPUT_STAGE``)
    for every channel, parallel over the batch.

    ``noise [B]`` (accumulator) and ``lam [B, I]`` (step) are the per-channel normalised
    inputs; ``mu [I, J]`` and ``xi`` (step).  Layer ``i`` computes with its own phase table
    ``lut_c[i, :n_codes[i]]`` and formats ``fms[i]``; the initialisation uses layer 0's.  The
    model-wide formats (all but the precoder's) are the same in every ``fms[i]``.  The parallel
    loop calls :func:`forward_fx_one` through its address (:func:`kernels._core.jit.first_class`:
    the serial forward's compiled channel, not a second compilation of it inside the loop).
    """
    args = (h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts)
    _forward_fx_parallel(first_class(forward_fx_one, *args, np.int64(0)), *args)


@njit(cache=True)
def forward_fx_serial(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts):  # pragma: no cover
    """The same in the calling thread (small batches: no parallel region to start or wait for)."""
    for b in range(h_r.shape[0]):
        forward_fx_one(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, b)


@njit(cache=True, nogil=True)
def steps_fx_range(h_r, h_i, noise, mu, lam, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts, init, first,
                   last, output, reps, lo, hi):  # pragma: no cover
    """For channels ``lo .. hi - 1``, ``reps`` times: the initialisation if ``init`` (else the
    codes and W given are the start, the table words of the codes from the table of the layer
    that chose them), layers ``first .. last - 1`` and, if ``output``, the output stage with the
    word ``xi``; in place on codes, W and the counters, as :func:`forward_fx_one` runs them.
    The profiler's hardware stages and whole forward (:mod:`hbf_edge._profile_timers`), in the
    calling thread or in chunks on Python threads (it releases the GIL).  A layer's first run
    forms its ``G`` (a run after the initialisation, as in the forward, or on the state given;
    the same words either way).  Callers pass the flags as ``np.bool_`` and the counts as
    ``np.int64``: a literal compiles it again."""
    B, N, K = h_r.shape
    M = codes.shape[2]
    gr, gi, cr, ci, dr, di, ar, ai, fc, fs = _buffers(N, M, K)
    src = first - 1 if first > 0 else 0
    for b in range(lo, hi):
        if not init:
            table_words_into(lut_c[src], lut_s[src], codes[b], fc, fs)
        g_over = np.int64(-1)
        for _ in range(reps):
            if init:
                init_fx(h_r[b], h_i[b], codes[b], fc, fs, lut_c[0, :n_codes[0]], lut_s[0, :n_codes[0]], w_r[b],
                        w_i[b], fms[0], counts[b], ar, ai)
                g_over = np.int64(-1)
            if last > first:
                g_over = layers_fx_one(h_r[b], h_i[b], codes[b], fc, fs, w_r[b], w_i[b], noise[b], mu[first:last],
                                       lam[b, first:last], lut_c, lut_s, n_codes, fms, counts[b], first, gr, gi, cr, ci,
                                       dr, di, ar, ai, g_over)
            if output:
                output_fx(h_r[b], h_i[b], fc, fs, noise[b], xi, w_r[b], w_i[b], fms[-1], counts[b])


@njit(cache=True)
def quantize_inputs(h_re, h_im, p_t, noise, lam, ch, acc, stp, hq_r, hq_i, noise_q, lam_q, inputs):  # pragma: no cover
    """The per-channel inputs of :func:`kernels.upga.hardware.prepare_hw_inputs`, compiled: the
    channel words (format row ``ch``), ``s2 N / P_t`` (``acc``) and ``lambda_i N / P_t``
    (``stp``), each as numpy computes it, into ``hq_*``, ``noise_q``, ``lam_q`` with the
    overflows per channel added to ``inputs [B]``.  Returns 0, or the first problem found
    (:mod:`kernels._core.boundary`'s codes), leaving the outputs partly written."""
    problem = value_problem(h_re, h_im, p_t, noise)
    if problem:
        return problem
    B, N, K = h_re.shape
    s_ch, s_acc, s_stp = 2.0 ** ch[0], 2.0 ** acc[0], 2.0 ** stp[0]
    for b in range(B):
        over = 0
        for k in range(K):
            for n in range(N):
                hq_r[b, n, k], o1 = quantize_word(h_re[b, n, k], s_ch, ch)
                hq_i[b, n, k], o2 = quantize_word(h_im[b, n, k], s_ch, ch)
                over += o1 + o2
        noise_q[b], o = quantize_word(noise[b] * N / p_t[b], s_acc, acc)
        over += o
        if noise_q[b] < 1:
            return NOISE_BELOW_LSB
        r = N / p_t[b]
        for i in range(lam.shape[0]):
            lam_q[b, i], o = quantize_word(lam[i] * r, s_stp, stp)
            over += o
        inputs[b] += over
    return 0


def _session_run(h_re, h_im, p_t, noise, lam, rows, hq_r, hq_i, noise_q, lam_q, inputs, mu_over, mu, xi, lut_c, lut_s,
                 n_codes, fms, codes, w_r, w_i, counts, p_t_kept):  # pragma: no cover - compiled
    """A small batch's whole call of ``UpgaHwSession``: the shapes checked against the session's
    outputs (``BAD_SHAPE``), the counters reset (``inputs`` to ``mu_over``, the overflow sites
    to 0), :func:`quantize_inputs`, then, if nothing is wrong, :func:`forward_fx_serial` on its
    words, and the powers kept for the session's result (NaN after a problem).  The format rows ``rows [3, 5]``: channel, accumulator, step.  Returns the
    problem code.  Compiled closed to the session's types (:func:`kernels._core.jit.closed`)."""
    B, N, K = codes.shape[0], codes.shape[1], w_r.shape[2]
    if h_re.shape != (B, N, K) or h_im.shape != (B, N, K) or p_t.shape[0] != B or noise.shape[0] != B:
        return BAD_SHAPE
    inputs[:] = mu_over
    counts[:] = 0
    problem = quantize_inputs(h_re, h_im, p_t, noise, lam, rows[0], rows[1], rows[2], hq_r, hq_i, noise_q, lam_q,
                              inputs)
    if problem == 0:
        forward_fx_serial(hq_r, hq_i, noise_q, mu, lam_q, xi, lut_c, lut_s, n_codes, fms, codes, w_r, w_i, counts)
    for b in range(B):
        p_t_kept[b] = np.nan if problem else p_t[b]
    return problem

