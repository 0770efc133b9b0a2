"""Private: the UPGA float forward compiled for one model's M and K (the real-time session).

Why: with M and K known when LLVM compiles, the K x M and K x K products of a layer, the rate
weights and the O(N) loops over M or K rows are unrolled and vectorised for those sizes.  Measured
in compiled loops at N = 64, M = K = 4, I = 10 (2026-12-04): 19.9 against 17.8 us per batch-1
forward called from Python; as constants written into the source, M and K took 19.2-19.6 against
16.9-17.7 us.

How: a homogeneous tuple's length is part of its Numba type, so ``m_len`` and ``k_len`` (any
tuples of M and K items) make Numba compile this function once per (M, K), and ``len()`` of them
is a constant (Numba's literal dispatch, ``numba.literally``, would do the same but resolves
every call in Python: milliseconds).  Every workspace is allocated here with those sizes (W
too, copied out per channel), and the per-channel code (the initialisation ``init_one`` and the layers
``run_layers`` with M and K as constants, :mod:`kernels.upga._float`) is inlined here, so every
shape it reads is a constant.  (It inlined the per-channel loop of the batch drivers until
2026-12-07, which held the layers twice and typed both here: for M = 4, K = 3, float64,
``NUMBA_OPT=1``, the first session compiled in 25.7 s through it and in 19.9 s with the one
copy, and ran no slower at batch 1, N = 64, I = 10: 18.1-26.4 against 20.6-27.8 us.)  The price is a compilation per (M, K) (about
15-20 s at ``NUMBA_OPT=1``, then cached), which is why only the session, built once per model,
uses it; results equal :func:`kernels.upga._float_batch.forward_checked`'s to the rounding level (the unrolled sums associate
differently).
"""

from __future__ import annotations

import numpy as np
from numba import types

from hbf_edge.kernels._core.boundary import BAD_SHAPE, value_problem
from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import closed
from hbf_edge.kernels.upga._float import (FM, channel_workspace, init_one, init_workspace, layer_workspace, run_layers,
                                          transpose)

__all__ = ["size_tuple", "sized_forward"]


def size_tuple(n: int) -> tuple:
    """The tuple whose length carries the size ``n`` into :func:`sized_forward`'s type."""
    return (0,) * n


def _forward_checked_sized(h_re, h_im, p_t, noise, steps, f_re, f_im, w_re, w_im, m_len, k_len):  # pragma: no cover
    """:func:`kernels.upga._float.forward_checked` in the calling thread with ``M = len(m_len)``,
    ``K = len(k_len)`` compiled in; returns the problem code (0: the forward ran;
    ``BAD_SHAPE``: the inputs are not ``[B, N, K]`` and ``[B]`` for the outputs' B and N).

    ``steps [I, J + 1]`` holds ``mu`` in its first J columns and ``lam`` in the last, and the
    working dtype's zero is taken from it: two arguments fewer than the batch drivers take
    (Numba's dispatch costs about 65 ns per argument, 2026-12-06)."""
    M = len(m_len)
    K = len(k_len)
    B, N = f_re.shape[0], f_re.shape[1]
    if (h_re.shape != (B, N, K) or h_im.shape != (B, N, K) or p_t.shape[0] != B or noise.shape[0] != B
            or f_re.shape[2] != M):
        return BAD_SHAPE
    problem = value_problem(h_re, h_im, p_t, noise)
    if problem:
        return problem
    dt = h_re.dtype
    zero = steps.dtype.type(0)
    J = steps.shape[1] - 1
    mu = steps[:, :J]
    lam = steps[:, J]
    ht_r, ht_i, ft_r, ft_i, xr, xi = channel_workspace(N, M, K, dt)
    ws_init = init_workspace(N, M, K, dt)
    ws = layer_workspace(M, K, dt)
    wr = np.empty((M, K), dt)
    wi = np.empty((M, K), dt)
    for b in range(h_re.shape[0]):
        transpose(h_re[b], h_im[b], ht_r, ht_i)
        init_one(ht_r, ht_i, p_t[b], ft_r, ft_i, wr, wi, ws_init, zero)
        run_layers(ht_r, ht_i, ft_r, ft_i, wr, wi, p_t[b], noise[b], mu, lam, xr, xi, ws, zero, 0, mu.shape[0], False,
                   True, M, K)
        transpose(ft_r, ft_i, f_re[b], f_im[b])
        copy_into(w_re[b], wr)
        copy_into(w_im[b], wi)
    return problem


def sized_forward(dtype: np.dtype, M: int, K: int):
    """:func:`_forward_checked_sized` for C-contiguous, writable arrays of ``dtype`` and these M
    and K only (:func:`kernels._core.jit.closed`); the shapes are checked inside."""
    dt = types.float64 if np.dtype(dtype) == np.float64 else types.float32
    a1, a2, a3 = (types.Array(dt, nd, "C") for nd in (1, 2, 3))
    return closed(_forward_checked_sized, (a3, a3, a1, a1, a2, a3, a3, a3, a3, types.UniTuple(types.int64, M),
                                           types.UniTuple(types.int64, K)), frozenset(FM))
