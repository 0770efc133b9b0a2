"""Private batch drivers of the UPGA float kernels over the channels of a batch, in the calling
thread below ``SERIAL_BELOW`` channels (:mod:`kernels._core.batching`): the whole forward, the
initialisation and a run of layers through the one channel loop :func:`steps_range` (up to 32
channels at a time, their small algebra across the channels: :mod:`kernels.upga._float_lanes`),
and single F- and W-steps through the per-channel code of :mod:`kernels.upga._float`.  Each
chunk allocates its workspaces once, never per channel or layer.

From ``SERIAL_BELOW`` channels the forward (and a run of layers, and the initialisation alone: the
forward's loop with no layer) is a ``prange`` over chunks of the batch
(:func:`kernels._core.batching.parallel_chunks`); the single steps run chunks on the
process's Python threads (:func:`~kernels._core.batching.run_batch`; their loops release the GIL).
The ``prange`` driver calls :func:`steps_range`'s compiled code through its address
(:func:`kernels._core.jit.first_class`): the serial and parallel forwards give the same bits,
and the driver compiles in about 1 s instead of 20-25 s, when it linked the whole forward in and
compiled it again inside its loop (2-core Zen 3 EPYC, 2026-12-07, ``scratch/s70/ab1.py``).  The
price, measured in one process, alternating 30 runs of each, batch 1024, N = 64, 2 threads:
1.8-2.7 % per channel (float32 median 7.49 against 7.29 us, 11.58 against 11.35; float64 9.62
against 9.45, 13.90 against 13.66).  The same forward on Python threads instead of a ``prange``
compiled in 21-27 against 44-45 s but ran slower batched: float64 8.6 / 9.7 / 10.0 against 8.0 /
8.4 / 7.9 us per channel (Zen 4, 2026-12-07, ``scratch/s69/ab.sh``).
"""

from __future__ import annotations

import numpy as np

from hbf_edge.kernels._core.batching import SERIAL_BELOW, parallel_chunks, run_batch, serial_channels
from hbf_edge.kernels._core.boundary import value_problem
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.upga._float import FM, channel_workspace, f_step_one, layer_workspace, transpose, w_step_one
from hbf_edge.kernels.upga._float_lanes import steps_range

__all__ = ["forward", "forward_checked", "steps_range", "init", "layers", "f_step_batch", "w_step_batch"]


def _steps(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, init):
    """Every layer of ``mu`` (after the initialisation if ``init``) on a batch: below ``SERIAL_BELOW``
    channels in the calling thread, else in chunks over the threads (:mod:`kernels._core.batching`)."""
    every_layer = (np.bool_(init), np.int64(0), np.int64(mu.shape[0]), np.int64(1))  # init, first, last, reps
    run = serial_channels if h_re.shape[0] < SERIAL_BELOW else parallel_chunks
    run(steps_range, h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, *every_layer)


@njit(cache=True)
def forward_checked(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):  # pragma: no cover - compiled
    """The values checked (:func:`kernels._core.boundary.value_problem`), then, if they pass, the
    forward of the batch in the calling thread: a small batch's checked run in one compiled call
    (``UpgaSession``).  Returns the problem code (0: the forward ran)."""
    problem = value_problem(h_re, h_im, p_t, noise)
    if problem == 0:
        steps_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, np.bool_(True), np.int64(0),
                    np.int64(mu.shape[0]), np.int64(1), np.int64(0), np.int64(h_re.shape[0]))
    return problem


def forward(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):
    """The whole forward of a batch (the initialisation, then every layer)."""
    _steps(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, True)


def init(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero):
    """The initialisation of a batch: the forward's channel loop (:func:`steps_range`) with an
    empty run of layers, so the same bits as the forward's initialisation and nothing of its own
    to compile (a loop of its own took 12.4 s to compile in a first demo's background process,
    2026-12-07)."""
    no_layers = np.empty((0, 1), h_re.dtype), np.empty(0, h_re.dtype)  # mu [0, J], lam [0]
    _steps(h_re, h_im, p_t, p_t, *no_layers, f_re, f_im, w_re, w_im, zero, True)  # no layer reads the noise


def layers(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):
    """Every layer of ``mu``, ``lam`` in place on a batch's (F, W)."""
    _steps(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, False)


@njit(cache=True, fastmath=FM, nogil=True)
def f_step_range(h_re, h_im, f_re, f_im, w_re, w_im, noise, mu, zero, lo, hi):  # pragma: no cover
    """One F-step, eq. (6)-(7), on channels ``lo .. hi - 1`` (:func:`f_step_batch`)."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
    gr, gi, cr, ci, dr, di, _, _, _, _ = layer_workspace(M, K, h_re.dtype)
    for b in range(lo, hi):
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        transpose(f_re[b], f_im[b], ft_r, ft_i)
        f_step_one(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], noise[b], mu, gr, gi, cr, ci, dr, di, xr, xi, zero,
                   False, False, M, K)
        transpose(ft_r, ft_i, f_re[b], f_im[b])


@njit(cache=True, fastmath=FM, nogil=True)
def w_step_range(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam, zero, lo, hi):  # pragma: no cover
    """One W-step, eq. (8)-(9), on channels ``lo .. hi - 1`` (:func:`w_step_batch`)."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
    gr, gi, cr, ci, _, _, vr, vi, pr, pi = layer_workspace(M, K, h_re.dtype)
    for b in range(lo, hi):
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        transpose(f_re[b], f_im[b], ft_r, ft_i)
        w_step_one(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], p_t[b], noise[b], lam, gr, gi, cr, ci, vr, vi, pr, pi,
                   zero, False, M, K)


def f_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, noise, mu, zero) -> None:
    """One F-step on every channel of a batch, in place on F (``run_batch``)."""
    run_batch(f_step_range, h_re.shape[0], h_re, h_im, f_re, f_im, w_re, w_im, noise, mu, zero)


def w_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam, zero) -> None:
    """One W-step on every channel of a batch, in place on W (``run_batch``)."""
    run_batch(w_step_range, h_re.shape[0], h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam, zero)
