"""Private batch drivers of the UPGA float kernels: the per-channel code of
:mod:`kernels.upga._float` over the channels of a batch, in the calling thread below
``SERIAL_BELOW`` channels (:mod:`kernels._core.batching`) and in chunks over the threads
(``prange``) from there; the whole forward, the initialisation, a run of layers and single
F- and W-steps.  Each chunk allocates its workspaces once, never per channel or layer.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from hbf_edge.kernels._core.batching import SERIAL_BELOW, n_chunks_for
from hbf_edge.kernels._core.boundary import value_problem
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.upga._float import (FM, channel_steps, channel_workspace, f_step_one, init_one, init_workspace,
                                          layer_workspace, transpose, w_step_one)

__all__ = ["forward", "forward_checked", "forward_range", "init", "layers", "f_step_batch", "w_step_batch",
           "n_chunks_for"]


@njit(cache=True, fastmath=FM)
def forward_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, lo, hi):  # pragma: no cover
    """Initialisation and ``I`` layers for channels ``lo .. hi - 1``, one workspace for all."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
    ws_init = init_workspace(N, M, K, h_re.dtype)
    ws = layer_workspace(M, K, h_re.dtype)
    for b in range(lo, hi):
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        channel_steps(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], p_t[b], noise[b], mu, lam, xr, xi, ws_init, ws, zero,
                      np.bool_(True), np.int64(0), np.int64(mu.shape[0]), np.bool_(False), np.int64(1))
        transpose(ft_r, ft_i, f_re[b], f_im[b])


@njit(cache=True, parallel=True)
def forward_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, n_chunks):  # pragma: no cover
    """Initialisation and ``I`` layers for every channel; parallel over chunks of the batch."""
    B = h_re.shape[0]
    for c in prange(n_chunks):
        forward_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, c * B // n_chunks,
                      (c + 1) * B // n_chunks)


@njit(cache=True)
def forward_checked(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):  # pragma: no cover - compiled
    """The values checked (:func:`kernels._core.boundary.value_problem`), then, if they pass, the
    forward of the batch in the calling thread: a small batch's checked run in one compiled call
    (``UpgaSession``).  Returns the problem code (0: the forward ran)."""
    problem = value_problem(h_re, h_im, p_t, noise)
    if problem == 0:  # an int64 0, not a literal one: a single compilation of forward_range
        forward_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, np.int64(0), h_re.shape[0])
    return problem


def forward(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):
    """The whole forward of a batch: below ``SERIAL_BELOW`` channels in the calling thread,
    else in chunks over the threads (:mod:`kernels._core.batching`)."""
    B = h_re.shape[0]
    if B < SERIAL_BELOW:
        forward_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, 0, B)
    else:
        forward_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, n_chunks_for(B))


@njit(cache=True, fastmath=FM)
def init_range(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero, lo, hi):  # pragma: no cover - compiled
    """Initialisation eq. (12)-(13) for channels ``lo .. hi - 1``, one workspace for all."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
    ws_init = init_workspace(N, M, K, h_re.dtype)
    for b in range(lo, hi):  # init_one inlined, not channel_steps: a fifth of the compilation (5 s)
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        init_one(ht_r, ht_i, p_t[b], ft_r, ft_i, w_re[b], w_im[b], ws_init, zero)
        transpose(ft_r, ft_i, f_re[b], f_im[b])


@njit(cache=True, parallel=True)
def init_batch(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero, n_chunks):  # pragma: no cover - compiled
    B = h_re.shape[0]
    for c in prange(n_chunks):
        init_range(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero, c * B // n_chunks, (c + 1) * B // n_chunks)


def init(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero):
    """The initialisation of a batch, serial below ``SERIAL_BELOW`` channels (as :func:`forward`)."""
    B = h_re.shape[0]
    if B < SERIAL_BELOW:
        init_range(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero, 0, B)
    else:
        init_batch(h_re, h_im, p_t, f_re, f_im, w_re, w_im, zero, n_chunks_for(B))


@njit(cache=True, fastmath=FM)
def layers_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, lo, hi):  # pragma: no cover
    """A run of layers in place on the (F, W) of channels ``lo .. hi - 1``."""
    N, K = h_re.shape[1], h_re.shape[2]
    M = f_re.shape[2]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
    ws_init = init_workspace(N, M, K, h_re.dtype)
    ws = layer_workspace(M, K, h_re.dtype)
    for b in range(lo, hi):
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        transpose(f_re[b], f_im[b], ft_r, ft_i)
        channel_steps(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], p_t[b], noise[b], mu, lam, xr, xi, ws_init, ws, zero,
                      np.bool_(False), np.int64(0), np.int64(mu.shape[0]), np.bool_(False), np.int64(1))
        transpose(ft_r, ft_i, f_re[b], f_im[b])


@njit(cache=True, parallel=True)
def layers_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, n_chunks):  # pragma: no cover
    """A run of layers (one layer for per-layer profiling) in place on every channel's (F, W)."""
    B = h_re.shape[0]
    for c in prange(n_chunks):
        layers_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, c * B // n_chunks,
                     (c + 1) * B // n_chunks)


def layers(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero):
    """A run of layers on a batch, serial below ``SERIAL_BELOW`` channels (as :func:`forward`)."""
    B = h_re.shape[0]
    if B < SERIAL_BELOW:
        layers_range(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, 0, B)
    else:
        layers_batch(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, zero, n_chunks_for(B))


@njit(cache=True, parallel=True, fastmath=FM)
def f_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, noise, mu, zero, n_chunks):  # pragma: no cover
    B, N, K = h_re.shape
    M = f_re.shape[2]
    for c in prange(n_chunks):
        ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
        gr, gi, cr, ci, dr, di, _, _, _, _ = layer_workspace(M, K, h_re.dtype)
        for b in range(c * B // n_chunks, (c + 1) * B // n_chunks):
            transpose(h_re[b], h_im[b], ht_r, ht_i)
            transpose(f_re[b], f_im[b], ft_r, ft_i)
            f_step_one(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], noise[b], mu, gr, gi, cr, ci, dr, di, xr, xi, zero)
            transpose(ft_r, ft_i, f_re[b], f_im[b])


@njit(cache=True, parallel=True, fastmath=FM)
def w_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam, zero, n_chunks):  # pragma: no cover
    B, N, K = h_re.shape
    M = f_re.shape[2]
    for c in prange(n_chunks):
        ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, h_re.dtype)
        gr, gi, cr, ci, _, _, vr, vi, pr, pi = layer_workspace(M, K, h_re.dtype)
        for b in range(c * B // n_chunks, (c + 1) * B // n_chunks):
            transpose(h_re[b], h_im[b], ht_r, ht_i)
            transpose(f_re[b], f_im[b], ft_r, ft_i)
            w_step_one(ht_r, ht_i, ft_r, ft_i, w_re[b], w_im[b], p_t[b], noise[b], lam, gr, gi, cr, ci, vr, vi, pr, pi,
                       zero)
