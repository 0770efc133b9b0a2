"""DeepFP's hardware mode: an 8-bit model directory (``hbf-edge quantize --model deepfp``) run
with its step DNNs on an integer MAC array and V in fixed point (``deepfp.txt`` eq. 47-52).

The integer form of each DNN is derived here from the directory alone (numpy, no torch), by the
rules the Brevitas quantizers of :mod:`quant.deepfp.qat` apply (tested against Brevitas):

* weights: per tensor, ``e = ceil(log2(max|w| / 2^(b-1)))`` (a power-of-two integer scaling),
  ``w_q = clamp(rint(w / 2^e), +-(2^(b-1) - 1))`` (narrow range; ``Int8WeightPerTensorFixedPoint``);
* activations: constant scales from the calibrated ranges ``r`` (stored as float32 by Brevitas):
  ``s = r / 2^(b-1)`` for the signed input and output, ``s = r / (2^b - 1)`` after a ReLU;
* biases: on the accumulator grid ``2^min(e_re, e_im) s_x`` (the QAT model rounds them there too);
* requantization: ``ratio = m / 2^k`` with a 31-bit ``m`` (see :mod:`kernels.deepfp._int`).

The FP state of every layer (eq. 26-30 and the direction) is float64, as on a DSP with a
floating-point unit; only the DNN and V are integers.  The random start ``V0`` is used as given,
as by the QAT model; V after every layer is on the Q1.(v_bits-1) grid.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hbf_edge.families.deepfp.config import COUNTER_SITES
from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels.deepfp.forward import DeepfpModel, check_problem, layer_range, pad

__all__ = ["IntDnn", "int_dnn", "DeepfpHwResult", "deepfp_forward_hw", "dnn_codes", "DEEPFP_COUNTER_SITES"]

DEEPFP_COUNTER_SITES = COUNTER_SITES  # the family's one tuple (hbf_edge.families.deepfp.config)
STEP_LOG_RANGE = 10.0


@dataclasses.dataclass(frozen=True)
class IntDnn:
    """The integer step DNNs of every layer (layouts in :mod:`kernels.deepfp._int`)."""

    bits: int
    v_bits: int
    s_in: np.ndarray  # [I] input scale
    s_out: np.ndarray  # [I] output scale
    wq: np.ndarray  # [I, n_dense, 2, h, max(n_in, h)] int64
    w_exp: np.ndarray  # [I, n_dense, 2] power-of-two weight exponents
    shifts: np.ndarray  # [I, n_dense, 2] int64
    bq: np.ndarray  # [I, n_dense, 2, h] int64
    mult: np.ndarray  # [I, n_dense] int64
    rshift: np.ndarray  # [I, n_dense] int64
    exp_lut: np.ndarray  # [I, 2^bits] the step factor of each output code
    n_in: int

    @property
    def lim(self) -> np.ndarray:
        b = self.bits
        return np.array([-(1 << (b - 1)), (1 << (b - 1)) - 1, (1 << b) - 1], np.int64)


def _multiplier(ratio: float) -> tuple[int, int]:
    """``ratio ~ m / 2^k`` with ``2^30 <= m < 2^31``."""
    if not (math.isfinite(ratio) and ratio > 0):
        raise _checks.ConfigError(f"requantization ratio must be finite and > 0, got {ratio!r}")
    f, ex = math.frexp(ratio)  # ratio = f 2^ex, f in [0.5, 1)
    m, k = round(f * 2.0 ** 31), 31 - ex
    if m == 1 << 31:
        m, k = 1 << 30, k - 1
    if not 1 <= k <= 62:
        raise _checks.ConfigError(f"requantization ratio {ratio!r} is out of the 31-bit multiplier's range")
    return m, k


def weight_code(w: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Brevitas' ``Int8WeightPerTensorFixedPoint`` rule at ``bits``: ``(w_q, e)`` with ``w ~ w_q 2^e``."""
    qmax = (1 << (bits - 1)) - 1
    peak = float(np.max(np.abs(w)))
    if not peak > 0:
        return np.zeros(w.shape, np.int64), 0
    e = math.ceil(math.log2(peak / (qmax + 1)))
    return np.clip(np.rint(w / 2.0 ** e), -qmax, qmax).astype(np.int64), e


def int_dnn(model: DeepfpModel) -> IntDnn:
    """The integer DNNs of a quantized DeepFP model directory (:class:`IntDnn`)."""
    q = model.quantization
    if q is None:
        raise _checks.ConfigError("the hardware mode needs a quantized DeepFP model (hbf-edge quantize --model deepfp)")
    try:
        bits, v_bits, ranges = int(q["bits"]), q["v_bits"], q["ranges"]
        if v_bits is None:
            raise _checks.ConfigError("the hardware mode needs fixed-point V (a model quantized with --v-bits)")
        v_bits = int(v_bits)
        ranges = [(float(r["input"]), [float(h) for h in r["hidden"]], float(r["output"])) for r in ranges]
    except (KeyError, TypeError, ValueError) as exc:
        raise _checks.ConfigError(f"malformed quantization section: {exc!r}") from exc
    if not 2 <= bits <= 16 or not 4 <= v_bits <= 32 or len(ranges) != model.n_layers:
        raise _checks.ConfigError(f"quantization section out of range: bits {bits}, v_bits {v_bits}, "
                                  f"{len(ranges)} ranges for {model.n_layers} layers")
    I, nd, h = model.n_layers, model.n_hidden + 1, model.hidden
    n_in = 2 * model.n_tx * model.n_streams
    signed, unsigned = float(1 << (bits - 1)), float((1 << bits) - 1)
    f32 = lambda r: float(np.float32(r))  # noqa: E731 - Brevitas keeps the constant ranges in float32
    wq = np.zeros((I, nd, 2, h, max(n_in, h)), np.int64)  # columns beyond a layer's inputs stay zero
    w_exp = np.zeros((I, nd, 2), np.int64)
    shifts = np.zeros((I, nd, 2), np.int64)
    bq = np.zeros((I, nd, 2, h), np.int64)
    mult = np.zeros((I, nd), np.int64)
    rshift = np.zeros((I, nd), np.int64)
    s_in = np.array([f32(r[0]) / signed for r in ranges])
    s_out = np.array([f32(r[2]) / signed for r in ranges])
    for i, (_, hidden, _) in enumerate(ranges):
        if len(hidden) != model.n_hidden or min([ranges[i][0], ranges[i][2], *hidden]) <= 0:
            raise _checks.ConfigError(f"layer {i}: need {model.n_hidden} hidden ranges, all ranges > 0")
        s_x = s_in[i]
        for j in range(nd):
            p = f"steps.{i}.layers.{j}."
            codes = [weight_code(model.arrays[p + n], bits) for n in ("w_re", "w_im")]
            e0 = min(codes[0][1], codes[1][1])
            n_out, n_cols = codes[0][0].shape
            for part, (w, e) in enumerate(codes):
                wq[i, j, part, :n_out, :n_cols] = w
                w_exp[i, j, part] = e
                shifts[i, j, part] = e - e0
            s_acc = 2.0 ** e0 * s_x
            bq[i, j, 0, :n_out] = np.rint(model.arrays[p + "b_re"] / s_acc)
            if p + "b_im" in model.arrays:
                bq[i, j, 1, :n_out] = np.rint(model.arrays[p + "b_im"] / s_acc)
            s_next = f32(hidden[j]) / unsigned if j < nd - 1 else s_out[i]
            mult[i, j], rshift[i, j] = _multiplier(s_acc / s_next)
            s_x = s_next
    if np.abs(bq).max(initial=0) >= 1 << 31:
        raise _checks.ConfigError("a bias does not fit the int32 accumulator")
    codes = np.arange(-(1 << (bits - 1)), 1 << (bits - 1))
    exp_lut = np.exp(np.clip(codes[None, :] * s_out[:, None], -STEP_LOG_RANGE, STEP_LOG_RANGE))
    return IntDnn(bits, v_bits, s_in, s_out, wq, w_exp, shifts, bq, mult, rshift, exp_lut, n_in)


@dataclasses.dataclass(frozen=True)
class DeepfpHwResult:
    """Output of :func:`deepfp_forward_hw`."""

    v_code_re: np.ndarray  # [B, L, K, N_t, d] int64, Q1.(v_bits-1) words
    v_code_im: np.ndarray
    v_frac: int
    step_codes: np.ndarray  # [B, I, L, K] int64, each user's DNN output code per layer (0 where not run)
    counters: dict  # saturations per site, summed over the batch

    @property
    def v(self) -> np.ndarray:
        """The beamformers as complex128 values."""
        return (self.v_code_re + 1j * self.v_code_im) * 2.0 ** -self.v_frac


def deepfp_forward_hw(h_re, h_im, v_re, v_im, model: DeepfpModel, layers: tuple[int, int] | None = None,
                      dnn: IntDnn | None = None) -> DeepfpHwResult:
    """Run DeepFP layers ``layers = (first, last)`` (default all) in the hardware mode.

    Shapes and checks as :func:`kernels.deepfp.forward.deepfp_forward`; ``dnn`` (default
    ``int_dnn(model)``) may be passed to reuse it across calls.
    """
    from hbf_edge.kernels.deepfp import _int as _k

    h_re, h_im, v_re, v_im = check_problem(h_re, h_im, v_re, v_im, model)
    first, last = layer_range(model, layers)
    dnn = int_dnn(model) if dnn is None else dnn
    B, L, K = h_re.shape[:3]
    Nt, d = v_re.shape[3], v_re.shape[4]
    hr, hi, vr, vi = pad(h_re, h_im, v_re, v_im, model)
    c_r = np.zeros(vr.shape, np.int64)
    c_i = np.zeros(vr.shape, np.int64)
    codes = np.zeros((B, model.n_layers, L, K), np.int64)
    counts = np.zeros((B, _k.N_SITES), np.int64)
    _k.forward_hw_batch(hr, hi, vr, vi, first, last, model.exact_step, dnn.s_in, dnn.wq, dnn.shifts, dnn.bq,
                        dnn.mult, dnn.rshift, dnn.lim, dnn.exp_lut, dnn.v_bits, c_r, c_i, codes, counts)
    return DeepfpHwResult(np.ascontiguousarray(c_r[..., :Nt, :d]), np.ascontiguousarray(c_i[..., :Nt, :d]),
                          dnn.v_bits - 1, codes, dict(zip(DEEPFP_COUNTER_SITES, counts.sum(axis=0).tolist())))


def dnn_codes(xq_re: np.ndarray, xq_im: np.ndarray, layer: int, dnn: IntDnn) -> tuple[np.ndarray, dict]:
    """Layer ``layer``'s integer DNN on input codes ``[B, n_in]`` (int64): the output codes ``[B]``
    and the saturation counters.  The unit the bit-exact reference test drives."""
    from hbf_edge.kernels.deepfp import _int as _k

    xq_re = _checks.array("xq_re", xq_re, np.dtype(np.int64), (None, dnn.n_in))
    xq_im = _checks.array("xq_im", xq_im, np.dtype(np.int64), xq_re.shape)
    lim = dnn.lim
    if xq_re.min(initial=0) < lim[0] or xq_re.max(initial=0) > lim[1] or xq_im.min(initial=0) < lim[0] \
            or xq_im.max(initial=0) > lim[1]:
        raise _checks.ConfigError(f"input codes must lie in {lim[0]}..{lim[1]}")
    if not 0 <= layer < dnn.s_in.shape[0]:
        raise _checks.ConfigError(f"layer must be in 0..{dnn.s_in.shape[0] - 1}, got {layer}")
    x = np.ascontiguousarray(np.stack([xq_re, xq_im], axis=1))
    out = np.zeros(x.shape[0], np.int64)
    counts = np.zeros((x.shape[0], _k.N_SITES), np.int64)
    _k.dnn_int_batch(x, layer, dnn.wq, dnn.shifts, dnn.bq, dnn.mult, dnn.rshift, lim, out, counts)
    return out, dict(zip(DEEPFP_COUNTER_SITES, counts.sum(axis=0).tolist()))
