"""MSER's hardware mode: a quantized model directory run on the integer datapath of
:mod:`kernels.mser._fixed`, in the formats of :mod:`hbf_edge.families.mser.formats`.

What the host gives the datapath per channel (a chosen boundary; spec 6.3 puts the start in the
datapath too, with power iterations and a small Gauss-Jordan, which is left out): the channel
as words of ``H / sigma_n``, the step factor ``g = sigma_n / sigma_ref`` as a word, and the
model's start (:mod:`hbf_edge.families.mser.start`: the DFT alignment of spec 2.4 by default,
whose phases are exact angle words when N_t and N_r are powers of two; or the MMSE-based GD
design) computed in float and rounded to words.  Every
layer then runs in integers, the phases are rounded to the Q-bit codes of the BS's and every
user's phase shifters, and ``refit`` digital layers adapt the ``V`` and ``W`` words to them.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.mser.formats import COUNTER_SITES, KERNEL_TABLE_BITS, KERNEL_U_MAX, RAD_FRAC, MserFormats
from hbf_edge.hw.spec import code_table
from hbf_edge.kernels.mser.forward import MserModel, pack_mser

__all__ = ["MserHw", "MserHwResult", "MserHwSession", "load_mser_hw", "pack_hw", "mser_forward_hw", "angle_words",
           "COUNTER_SITES"]


@dataclasses.dataclass(frozen=True)
class MserHw:
    """A quantized MSER network as words: ``model`` (the float packing), ``formats``, the phase
    bits of the BS (``q_bs``) and of the users (``q_ue``), the digital layers after the rounding
    to codes (``refit``) and the integer constants ``words``."""

    model: MserModel
    formats: MserFormats
    q_bs: int
    q_ue: int
    refit: int
    words: dict

    def table(self) -> np.ndarray:
        """The format rows ``[7, 5]`` int64, in ``MSER_FORMATS`` order."""
        from hbf_edge.families.mser.formats import MSER_FORMATS
        from hbf_edge.kernels._core.tables import format_row

        return np.stack([format_row(getattr(self.formats, n)) for n in MSER_FORMATS])


@dataclasses.dataclass(frozen=True)
class MserHwResult:
    """Output of :func:`mser_forward_hw`: codes, words (int64, ``(re, im)`` in the last axis),
    the final angle words and the overflow counters (per site, summed over the batch)."""

    F_codes: np.ndarray  # [B, N_t, R_t], Q_BS bits
    U_codes: np.ndarray  # [B, K, R_r, N_r], Q_UE bits
    V: np.ndarray  # [B, R_t, D, 2] precoder words
    W: np.ndarray  # [B, K, R_r, D_k, 2] combiner words
    theta_F: np.ndarray  # [B, N_t, R_t] angle words
    theta_U: np.ndarray  # [B, K, R_r, N_r]
    counters: dict
    formats: MserFormats
    q_bs: int
    q_ue: int

    def design(self) -> tuple[np.ndarray, ...]:
        """The applied design ``(F, V, U, W)`` complex128: the codes' phases, the words' values."""
        f = self.formats
        F = np.exp(2j * np.pi * self.F_codes / (1 << self.q_bs))
        U = np.exp(2j * np.pi * self.U_codes / (1 << self.q_ue))
        V = f.precoder.to_float(self.V[..., 0]) + 1j * f.precoder.to_float(self.V[..., 1])
        W = f.combiner.to_float(self.W[..., 0]) + 1j * f.combiner.to_float(self.W[..., 1])
        return F, V, U, W


def _words(fmt, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(fmt.quantize(np.asarray(x, dtype=np.float64))[0])


def angle_words(theta: np.ndarray, bits: int) -> np.ndarray:
    """Radians as ``bits``-bit two's-complement angle words (nearest, ties counter-clockwise)."""
    q = np.floor(np.asarray(theta, dtype=np.float64) * ((1 << bits) / (2 * np.pi)) + 0.5).astype(np.int64)
    half = 1 << (bits - 1)
    return np.ascontiguousarray(((q + half) & ((1 << bits) - 1)) - half)


def pack_hw(model: MserModel, formats: MserFormats, q_bs: int, q_ue: int, refit: int = 0) -> MserHw:
    """Round the network's constants (:func:`pack_mser`) to words (module notes); ``refit``
    digital layers after the rounding to codes."""
    if isinstance(refit, bool) or not isinstance(refit, int) or refit < 0:
        raise ConfigError(f"refit layers must be an integer >= 0, got {refit!r}")
    if model.keep is not None:
        raise ConfigError("the integer datapath has no candidate layers yet (train --candidates): quantize the network "
                          "without them")
    for name, q in (("q_bs", q_bs), ("q_ue", q_ue)):
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= formats.angle_bits:
            raise ConfigError(f"{name} must be an integer in 1..{formats.angle_bits} (the angle word), got {q!r}")
    a, f = model.arrays, formats
    b = f.angle_bits
    sym_r, sym_i = np.rint(a["sym_r"]), np.rint(a["sym_i"])
    if not (np.array_equal(sym_r, a["sym_r"]) and np.array_equal(sym_i, a["sym_i"])):
        raise ConfigError("the symbol sets must hold integer levels (QPSK +-1, 16-QAM +-1 +-3)")
    J = a["sym_r"].shape[2]
    widths = np.concatenate([a["widths"].ravel(), a["widths_f"]])
    if not np.all(widths > 0):
        raise ConfigError("kernel widths must be > 0")
    S = f.step
    inv_s = lambda r: _words(S, 1.0 / (math.sqrt(2.0) * r))  # noqa: E731
    inv_c = lambda r: _words(S, 1.0 / (J * math.sqrt(2.0 * math.pi) * r))  # noqa: E731
    u = np.arange((KERNEL_U_MAX << KERNEL_TABLE_BITS) + 1) / (1 << KERNEL_TABLE_BITS)
    lc, ls = code_table(f.lut, f.internal_phase_bits)
    oc, os_ = code_table(f.lut, q_bs)
    uc, us_ = code_table(f.lut, q_ue)
    words = {"ap_r": _words(S, a["ap_r"]), "ap_i": _words(S, a["ap_i"]), "aw_r": _words(S, a["aw_r"]),
             "aw_i": _words(S, a["aw_i"]), "au": _words(S, a["au"]), "af": _words(S, a["af"]),
             "op_r": _words(f.precoder, a["op_r"]), "op_i": _words(f.precoder, a["op_i"]),
             "ow_r": _words(f.combiner, a["ow_r"]), "ow_i": _words(f.combiner, a["ow_i"]),
             "ou": angle_words(a["ou"], b), "of_": angle_words(a["of_"], b),
             "ws": inv_s(a["widths"]), "wc": inv_c(a["widths"]), "wsf": inv_s(a["widths_f"]),
             "wcf": inv_c(a["widths_f"]), "sym_r": np.ascontiguousarray(sym_r.astype(np.int64)),
             "sym_i": np.ascontiguousarray(sym_i.astype(np.int64)), "ktab": _words(f.kernel, np.exp(-u)),
             "lc": lc, "ls": ls, "oc": oc, "os_": os_, "uc": uc, "us_": us_,
             "power": int(_words(f.accumulator, [model.power])[0]),
             "rad": int(round((1 << b) / (2 * math.pi) * (1 << RAD_FRAC)))}
    return MserHw(model, formats, q_bs, q_ue, refit, words)


def load_mser_hw(model_dir: str | os.PathLike) -> MserHw:
    """A quantized MSER model directory (``hbf-edge quantize``) packed for the hardware mode: the
    BS's phase bits from its hardware spec, the users' and the formats from its ``quantization``
    section."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "mser"):
        raise ConfigError(f"{model_dir} holds a {config.family} model, not mser")
    if config.quantization is None or config.spec.phase_bits is None:
        raise ConfigError(f"{model_dir} is a float model: the hardware mode needs Q-bit phases "
                          "(hbf-edge quantize MODEL)")
    q = config.quantization
    formats = MserFormats.from_dict(q.get("formats", MserFormats().to_dict()))
    q_bs = int(config.spec.phase_bits)
    return pack_hw(pack_mser(arrays, config.family_config, config.n_layers), formats, q_bs,
                   int(q.get("ue_phase_bits", q_bs)), int(q.get("refit_layers", 0)))


class MserHwSession:
    """The input words of a batch and the work arrays, for repeated runs of the integer layers
    (the profiler's figures: checks, the start and the rounding of the inputs are paid here).

    Parameters
    ----------
    H : ndarray, complex128, [B, K, N_r, N_t]
    start : ``(F, V, U, W)`` complex128, the float start (the model's, :mod:`hbf_edge.families.mser.start`)
    sigma : float or ndarray [B], the noise standard deviation of each channel
    """

    def __init__(self, hw: MserHw, H: np.ndarray, start: tuple[np.ndarray, ...], sigma: np.ndarray | float) -> None:
        from hbf_edge.kernels._core import checks
        from hbf_edge.kernels.mser._fixed import N_SITES

        model, f = hw.model, hw.formats
        Nt, Rt, K, Nr, Rr, Dk = model.sizes
        H = np.asarray(H)
        if H.dtype != np.complex128 or H.ndim != 4 or H.shape[1:] != (K, Nr, Nt) or H.shape[0] == 0:
            raise ShapeError(f"H must be complex128 [B, {K}, {Nr}, {Nt}], got {H.dtype} {list(H.shape)}")
        checks.finite("H", H)
        B = H.shape[0]
        sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (B,))
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            raise ConfigError("sigma must be finite and > 0")
        F, V, U, W = (np.asarray(x) for x in start)
        shapes = ((B, Nt, Rt), (B, Rt, K * Dk), (B, K, Rr, Nr), (B, K, Rr, Dk))
        for name, x, shape in zip("FVUW", (F, V, U, W), shapes):
            if x.shape != shape:
                raise ShapeError(f"{name} must have shape {list(shape)}, got {list(x.shape)}")
            checks.finite(name, x)
        self.hw, self.batch = hw, B
        Hn = H / sigma[:, None, None, None]
        n_in = 0
        ins = []
        for fmt, x in ((f.channel, Hn), (f.precoder, V), (f.combiner, W)):
            q, over = fmt.quantize(np.stack([x.real, x.imag]))
            n_in += int(np.count_nonzero(over))
            ins += [np.ascontiguousarray(q[0]), np.ascontiguousarray(q[1])]
        self.n_in = n_in
        g, over = f.step.quantize(model.step_factor(sigma))
        self.n_in += int(np.count_nonzero(over))
        self.start = [angle_words(np.angle(F), f.angle_bits), ins[2], ins[3], angle_words(np.angle(U), f.angle_bits),
                      ins[4], ins[5]]
        self.work = [x.copy() for x in self.start]
        self.F_codes = np.zeros((B, Nt, Rt), np.int64)
        self.U_codes = np.zeros((B, K, Rr, Nr), np.int64)
        self.counts = np.zeros((B, N_SITES), np.int64)
        w = hw.words
        self._h = (ins[0], ins[1])
        self._consts = (np.ascontiguousarray(g), w["ap_r"], w["ap_i"], w["aw_r"], w["aw_i"], w["au"], w["af"],
                        w["op_r"], w["op_i"], w["ow_r"], w["ow_i"], w["ou"], w["of_"], w["ws"], w["wc"], w["wsf"],
                        w["wcf"], w["sym_r"], w["sym_i"], w["ktab"], w["lc"], w["ls"], w["oc"], w["os_"], w["uc"],
                        w["us_"], w["power"], w["rad"], f.angle_bits, f.internal_phase_bits, hw.q_bs, hw.q_ue,
                        hw.refit, bool(model.qam), hw.table())

    def input_words(self) -> dict[str, np.ndarray]:
        """What the host gives the datapath, as words: the channel (``h_re, h_im``), the start
        (``theta_f, v_re, v_im, theta_u, w_re, w_im``) and the step factor ``g`` (the inputs of
        the integer ONNX graph, :mod:`export.mser.onnx_int`)."""
        names = ("theta_f", "v_re", "v_im", "theta_u", "w_re", "w_im")
        return {"h_re": self._h[0], "h_im": self._h[1], **dict(zip(names, self.start)), "g": self._consts[0]}

    def reset(self) -> None:
        """The work words back to the start (the codes and counters are left as they are)."""
        for w, s in zip(self.work, self.start):
            np.copyto(w, s)

    @property
    def iterations(self) -> int:
        """The L layers and the refit layers: what :meth:`run` counts ``first`` and ``stop`` in."""
        return self.hw.model.n_layers + self.hw.refit

    def run(self, first: int = 0, stop: int | None = None, reset: bool = True) -> None:
        """Iterations ``first .. stop - 1`` (default: every layer, the rounding to codes and the
        refit layers), from the start words (``reset``) or from where the last call left them
        (the counters add up over runs).  Layer by layer, the words and codes are the whole
        run's (:func:`~kernels.mser._fixed.channel_fx`)."""
        from hbf_edge.kernels._core.batching import SERIAL_BELOW
        from hbf_edge.kernels.mser._batch import batch_fx, batch_fx_parallel

        stop = self.iterations if stop is None else stop
        if not 0 <= first < stop <= self.iterations:
            raise ConfigError(f"iterations {first}..{stop - 1} are outside 0..{self.iterations - 1}")
        if reset:
            self.reset()
        run = batch_fx if self.batch < SERIAL_BELOW else batch_fx_parallel
        run(*self._h, *self.work, *self._consts, self.counts, self.F_codes, self.U_codes, first, stop)

    def result(self) -> MserHwResult:
        totals = self.counts.sum(axis=0)
        totals[0] += self.n_in
        tf, vr, vi, tu, wr, wi = self.work
        return MserHwResult(self.F_codes.copy(), self.U_codes.copy(), np.stack([vr, vi], axis=-1),
                            np.stack([wr, wi], axis=-1), tf.copy(), tu.copy(),
                            dict(zip(COUNTER_SITES, totals.tolist())), self.hw.formats, self.hw.q_bs, self.hw.q_ue)


def mser_forward_hw(hw: MserHw, H: np.ndarray, start: tuple[np.ndarray, ...], sigma: np.ndarray | float) -> MserHwResult:
    """The integer layers on channels ``H`` from the float ``start`` at noise ``sigma``
    (:class:`MserHwSession`): codes, words and counters."""
    session = MserHwSession(hw, H, start, sigma)
    session.run()
    return session.result()
