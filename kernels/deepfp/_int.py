"""Private Numba kernels of DeepFP's hardware mode: the step DNNs on an int8 MAC array and the
beamformers in fixed point (``deepfp.txt`` eq. 47, 51, 52; the 8-bit model of :mod:`quant.deepfp.qat`).

Per user and layer, for ``b``-bit codes (8 by default; all integers are int64 in the kernel,
their ranges int8 / uint8 / int32 at 8 bits; ``lim = (-2^(b-1), 2^(b-1) - 1, 2^b - 1)``):

* **input**: ``x_q = clamp(rint(x / s_in), lim[0], lim[1])`` (round half to even) of the float input
  ``(Z, G / ||L_l||_F)``, which the FP stage computes in float64;
* **dense layer j**: ``acc = (sum Wr_q x_q) << a_r - (sum Wi_q x_q') << a_i + b_q`` with int8
  weights at power-of-two scales ``2^e_r``, ``2^e_i`` aligned to the finer one
  (``a = e - min(e_r, e_i)``) and an int32 bias ``b_q`` on the accumulator grid
  ``2^min(e_r, e_i) s_x``;
* **requantization**: ``y_q = (acc m + 2^(k-1)) >> k`` (round half up), where ``m / 2^k``
  (``2^30 <= m < 2^31``) is the ratio of the accumulator scale to the next activation scale,
  then ReLU (eq. 47) as ``clamp(y_q, 0, lim[2])`` for hidden layers, ``clamp(y_q, lim[0], lim[1])``
  for the output code ``c``;
* **step**: a ``2^b``-entry table per layer, ``exp(clamp(c s_out, +-10))``, times the base step
  (float64, :func:`kernels.deepfp._float.base_steps`);
* **V** after each layer (52): rounded half to even onto the saturating Q1.(v_bits-1) grid.

Integer layout (from :func:`kernels.deepfp.hardware.int_dnn`): ``wq [I, n_dense, 2, h, max(n_in, h)]``
(re, im; unused columns zero), ``shifts [I, n_dense, 2]`` (``a_r``, ``a_i``),
``bq [I, n_dense, 2, h]`` (re, im bias), ``mult [I, n_dense]``, ``rshift [I, n_dense]``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from hbf_edge.families.deepfp.config import COUNTER_SITES
from hbf_edge.kernels._core.batching import parallel_chunks
from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import njit

from hbf_edge.kernels.deepfp._float import (
    base_steps,
    dnn_inputs_one,
    layer_workspace,
    state_and_direction,
    state_workspace,
    update_one,
)

# saturation counter sites: DNN input, hidden activations (above 255), output code, V words
SITE_INPUT, SITE_HIDDEN, SITE_OUTPUT, SITE_V = 0, 1, 2, 3
N_SITES = len(COUNTER_SITES)  # the family's one tuple


@njit(cache=True)
def quantize_input(x, s_in, lim, xq, counts):  # pragma: no cover - compiled
    """``xq = clamp(rint(x / s_in), lo, hi)`` with ``lim = (lo, hi, .)``; saturations counted."""
    lo = float(lim[0])
    hi = float(lim[1])
    for p in range(2):
        for t in range(x.shape[1]):
            q = np.rint(x[p, t] / s_in)
            if q > hi:
                q = hi
                counts[SITE_INPUT] += 1
            elif q < lo:
                q = lo
                counts[SITE_INPUT] += 1
            xq[p, t] = np.int64(q)


@njit(cache=True)
def requantize(acc, m, k):  # pragma: no cover - compiled
    """``round(acc m / 2^k)``, half up, in integers (``|acc| < 2^31``, ``m < 2^31``)."""
    return (acc * m + (np.int64(1) << (k - 1))) >> k


@njit(cache=True)
def dense_int(wq, shifts, bq, m, k, n_in, xq, yq, hidden, lim, counts):  # pragma: no cover - compiled
    """One complex dense layer on codes ``xq [2, n_in]`` into ``yq [2, n_out]``; for a hidden
    layer the ReLU (47) and the unsigned clamp to ``lim[2]``, else the signed output code of the
    real part, clamped to ``lim[0] .. lim[1]``."""
    n_out = yq.shape[1] if hidden else 1
    for o in range(n_out):
        rr = np.int64(0)  # sum Wr x_re, sum Wi x_im, sum Wr x_im, sum Wi x_re
        ii = np.int64(0)
        ri = np.int64(0)
        ir = np.int64(0)
        for t in range(n_in):
            rr += wq[0, o, t] * xq[0, t]
            ii += wq[1, o, t] * xq[1, t]
            ri += wq[0, o, t] * xq[1, t]
            ir += wq[1, o, t] * xq[0, t]
        acc_re = (rr << shifts[0]) - (ii << shifts[1]) + bq[0, o]
        y = requantize(acc_re, m, k)
        if hidden:
            acc_im = (ri << shifts[0]) + (ir << shifts[1]) + bq[1, o]
            yi = requantize(acc_im, m, k)
            for p in range(2):
                v = y if p == 0 else yi
                if v > lim[2]:
                    v = lim[2]
                    counts[SITE_HIDDEN] += 1
                yq[p, o] = max(v, 0)
        else:
            if y > lim[1]:
                y = lim[1]
                counts[SITE_OUTPUT] += 1
            elif y < lim[0]:
                y = lim[0]
                counts[SITE_OUTPUT] += 1
            yq[0, 0] = y


@njit(cache=True)
def dnn_int(layer, n_in, wq, shifts, bq, mult, rshift, lim, xq, h1, h2, counts):  # pragma: no cover - compiled
    """Layer ``layer``'s DNN on int8 input codes; returns the int8 output code."""
    n_dense = wq.shape[1]
    hidden_w = h1.shape[1]
    dense_int(wq[layer, 0], shifts[layer, 0], bq[layer, 0], mult[layer, 0], rshift[layer, 0], n_in, xq, h1, True,
              lim, counts)
    for j in range(1, n_dense - 1):
        dense_int(wq[layer, j], shifts[layer, j], bq[layer, j], mult[layer, j], rshift[layer, j], hidden_w, h1, h2,
                  True, lim, counts)
        copy_into(h1, h2)
    j = n_dense - 1
    dense_int(wq[layer, j], shifts[layer, j], bq[layer, j], mult[layer, j], rshift[layer, j], hidden_w, h1, h2,
              False, lim, counts)
    return h2[0, 0]


@njit(cache=True, parallel=True)
def dnn_int_batch(xq, layer, wq, shifts, bq, mult, rshift, lim, out, counts):  # pragma: no cover - compiled
    """The integer DNN of ``layer`` on a batch of int8 input codes ``xq [B, 2, n_in]`` -> ``out [B]``
    (``counts [B, N_SITES]``): the unit the bit-exact reference test drives directly."""
    B, _, n_in = xq.shape
    h = wq.shape[3]
    for b in prange(B):
        h1 = np.empty((2, h), np.int64)
        h2 = np.empty((2, h), np.int64)
        out[b] = dnn_int(layer, n_in, wq, shifts, bq, mult, rshift, lim, xq[b], h1, h2, counts[b])


@njit(cache=True)
def round_v(v_r, v_i, v_frac, v_bits, c_r, c_i, counts):  # pragma: no cover - compiled
    """V onto the Q1.(v_bits-1) grid, half to even, saturating: codes into ``c_r, c_i`` and the
    dequantized values back into ``v_r, v_i``."""
    hi = float((1 << (v_bits - 1)) - 1)
    lo = -float(1 << (v_bits - 1))
    scale = 2.0 ** v_frac
    L, K, Nt, d = v_r.shape
    for l in range(L):
        for k in range(K):
            for n in range(Nt):
                for t in range(d):
                    for p in range(2):
                        x = v_r[l, k, n, t] if p == 0 else v_i[l, k, n, t]
                        q = np.rint(x * scale)
                        if q > hi:
                            q = hi
                            counts[SITE_V] += 1
                        elif q < lo:
                            q = lo
                            counts[SITE_V] += 1
                        if p == 0:
                            c_r[l, k, n, t] = np.int64(q)
                            v_r[l, k, n, t] = q / scale
                        else:
                            c_i[l, k, n, t] = np.int64(q)
                            v_i[l, k, n, t] = q / scale


@njit(cache=True)
def forward_hw_range(h_r, h_i, v_r, v_i, first, last, exact, s_in, wq, shifts, bq, mult, rshift, lim, exp_lut, v_bits,
                     c_r, c_i, codes, counts, b0, b1):  # pragma: no cover - compiled
    """Layers ``first .. last - 1`` in place on ``V`` (float64, dequantized), the V codes of the
    last layer into ``c_r, c_i``, every user's output code into ``codes [B, I, L, K]`` and the
    saturations into ``counts [B, N_SITES]``; channels ``b0 .. b1 - 1``, one workspace for all."""
    B, L, K, _, Nr, Nt = h_r.shape
    d = v_r.shape[4]
    n_in = 2 * Nt * d
    h = wq.shape[3]
    if b1 > b0:
        ws = state_workspace(L, K, Nr, Nt, d)
        lam, lm, fro, g, sb, x, _, _ = layer_workspace(L, K, Nr, Nt, d, n_in, h)
        xq = np.empty((2, n_in), np.int64)
        h1 = np.empty((2, h), np.int64)
        h2 = np.empty((2, h), np.int64)
        for b in range(b0, b1):
            for layer in range(first, last):
                state_and_direction(h_r[b], h_i[b], v_r[b], v_i[b], lam, lm, fro, g, ws)
                base_steps(g[0], g[1], lm[0], lm[1], fro, exact, sb[1], sb[2])
                for l in range(L):
                    for k in range(K):
                        dnn_inputs_one(v_r[b], v_i[b], g[0], g[1], fro, l, k, x)
                        quantize_input(x, s_in[layer], lim, xq, counts[b])
                        code = dnn_int(layer, n_in, wq, shifts, bq, mult, rshift, lim, xq, h1, h2, counts[b])
                        codes[b, layer, l, k] = code
                        sb[0, l, k] = exp_lut[layer, code - lim[0]] * sb[1, l, k] / sb[2, l, k]
                update_one(v_r[b], v_i[b], g[0], g[1], sb[0], v_r[b], v_i[b])  # Z read before V written
                round_v(v_r[b], v_i[b], v_bits - 1, v_bits, c_r[b], c_i[b], counts[b])


def forward_hw_batch(*args):
    """:func:`forward_hw_range` on every channel, ``prange`` over chunks of the batch
    (:func:`kernels._core.batching.parallel_chunks`); ``args``: its own without the channel range."""
    parallel_chunks(forward_hw_range, *args)

