"""JCEHB's hardware mode: a quantized model directory (Q-bit analog phases) run per slot on the
integer datapath of :mod:`kernels.jcehb._fixed`, in the formats of
:mod:`hbf_edge.families.jcehb.formats`.

What is per superframe (spec 6.1) is computed here once, in float, and rounded to words: the
pilot ROM, the Gram ``G_F`` of the BS's code phases, CEDUN's gains (which depend on the pilots
and the constants only, :func:`rls_gains`), every other network constant (``T_lambda mu``
folded), the ``2^x`` table.  What is per slot runs in integers: the received
pilots arrive as ADC words (the analog front end with the code phases and the pilot words is
simulated in float, as physics), CEDUN and HBDUN produce ``H_hat``, ``F_BB`` and ``W_BB`` words.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.jcehb.formats import COUNTER_SITES, EXP2_TABLE_BITS, JcehbFormats
from hbf_edge.kernels._core.batching import run_batch
from hbf_edge.kernels.jcehb._float import LAMBDA_FLOOR
from hbf_edge.kernels.jcehb.forward import JcehbModel, jcehb_observe, pack_jcehb

__all__ = ["JcehbHw", "JcehbHwResult", "JcehbHwSession", "load_jcehb_hw", "pack_hw", "rls_gains",
           "jcehb_forward_hw", "noise_word", "COUNTER_SITES"]


@dataclasses.dataclass(frozen=True)
class JcehbHw:
    """A quantized JCEHB network as words: ``model`` (the float packing, for the analog front
    end), ``formats``, ``phase_bits`` and the integer constants ``words``."""

    model: JcehbModel
    formats: JcehbFormats
    phase_bits: int
    words: dict

    def table(self) -> np.ndarray:
        """The format rows ``[7, 5]`` int64, in ``JCEHB_FORMATS`` order."""
        from hbf_edge.families.jcehb.formats import JCEHB_FORMATS
        from hbf_edge.kernels._core.tables import format_row

        return np.stack([format_row(getattr(self.formats, n)) for n in JCEHB_FORMATS])


@dataclasses.dataclass(frozen=True)
class JcehbHwResult:
    """Output of :func:`jcehb_forward_hw`: words (int64, ``(re, im)`` in the last axis) and counters."""

    Y: np.ndarray  # [B, K, R, L, 2] received words
    H_hat: np.ndarray  # [B, K, R, N, 2] heq words
    F_bb: np.ndarray  # [B, N, K S, 2] precoder words
    W_bb: np.ndarray  # [B, K, R, S, 2] combiner words
    counters: dict  # per site, summed over the batch
    formats: JcehbFormats

    def values(self) -> dict[str, np.ndarray]:
        """``H_hat``, ``F_bb``, ``W_bb`` as complex128 values."""
        f = self.formats
        c = lambda w, fmt: fmt.to_float(w[..., 0]) + 1j * fmt.to_float(w[..., 1])  # noqa: E731
        return {"H_hat": c(self.H_hat, f.heq), "F_bb": c(self.F_bb, f.precoder), "W_bb": c(self.W_bb, f.combiner)}


def _words(fmt, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(fmt.quantize(x)[0])


def _word(fmt, x: float) -> int:
    return int(fmt.quantize(np.array([x]))[0][0])


def noise_word(hw: "JcehbHw", nu: float) -> int:
    """The slot's noise power ``nu`` as the accumulator word the datapath (and its integer ONNX
    graph) takes."""
    return _word(hw.formats.accumulator, nu)


def rls_gains(model: JcehbModel) -> np.ndarray:
    """CEDUN's gains ``v [L, K, N]`` complex128: (17a)-(17c) run on the pilots alone, operation
    for operation as :func:`kernels.jcehb._float._cedun` (its ``v`` does not depend on ``Y``)."""
    a = model.arrays
    X = a["xr"] + 1j * a["xi"]
    ce = a["ce"]
    N, L = X.shape
    K = ce.shape[2]
    c = lambda j: ce[j] + 1j * ce[j + 1]  # noqa: E731 - (re, im) rows of the packing
    Tg, qg, Tv, qv, Tp, qp = c(0)[..., 0], c(2)[..., 0], c(4)[..., 0], c(6)[..., 0], c(8)[..., :N], c(10)[..., :N]
    P = np.repeat((np.eye(N) / a["delta"])[None].astype(complex), K, axis=0)
    out = np.empty((L, K, N), complex)
    for n in range(L):
        x = X[:, n]
        g = Tg[n] * (P @ x) + qg[n]  # (17a)
        den = 1.0 / a["gam_inv"][n] + g.conj() @ x
        v = out[n] = Tv[n] * (g / den[:, None]) + qv[n]  # (17b)
        P = Tp[n] * ((P - v[:, :, None] * g.conj()[:, None, :]) * a["gam_inv"][n][:, None, None]) + qp[n]  # (17c)
    return out


def pack_hw(model: JcehbModel, formats: JcehbFormats, phase_bits: int) -> JcehbHw:
    """Round the per-superframe constants of ``model`` (:func:`pack_jcehb`) to words."""
    if model.arrays["alpha"] != 2.0:
        raise ConfigError("the hardware datapath's 2^x table needs alpha = 2")
    a, C, A = model.arrays, formats.coef, formats.accumulator
    ce = np.zeros(a["ce"].shape, np.int64)  # the rows (17d) reads: T_w (coef), q_w (A)
    for j, fmt in ((12, C), (13, C), (14, A), (15, A)):
        ce[j] = _words(fmt, a["ce"][j])
    v = rls_gains(model)
    hbs_f = a["hbs"].copy()
    hbs_f[0] = hbs_f[0] * hbs_f[4]  # T_lambda mu, folded
    hbs = np.stack([_words(fmt, hbs_f[j]) for j, fmt in enumerate((C, A, C, A, C))])
    two = lambda arr: np.stack([_words(C, arr[0]), _words(C, arr[1]), _words(A, arr[2]), _words(A, arr[3])])  # noqa
    X = formats.pilot.quantize(np.stack([a["xr"], a["xi"]]))[0]
    table = _words(A, 2.0 ** (np.arange(1 << EXP2_TABLE_BITS) / (1 << EXP2_TABLE_BITS)))
    words = {"xr": np.ascontiguousarray(X[0]), "xi": np.ascontiguousarray(X[1]), "ce": ce,
             "vgr": _words(A, v.real), "vgi": _words(A, v.imag),
             "gfr": _words(A, a["gfr"]), "gfi": _words(A, a["gfi"]), "hb": two(a["hb"]), "hbw": two(a["hbw"]),
             "hbf": two(a["hbf"]), "hbs": np.ascontiguousarray(hbs),
             "lam_floor": max(1, _word(A, LAMBDA_FLOOR)), "table": table}
    return JcehbHw(model, formats, phase_bits, words)


def load_jcehb_hw(model_dir: str | os.PathLike) -> JcehbHw:
    """A quantized JCEHB model directory (``hbf-edge quantize``) packed for the hardware mode;
    its formats from the ``quantization`` section (the defaults for a directory without them)."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "jcehb"):
        raise ConfigError(f"{model_dir} holds a {config.family} model, not jcehb")
    if config.quantization is None or config.spec.phase_bits is None:
        raise ConfigError(f"{model_dir} is a float model: the hardware mode needs Q-bit phases "
                          "(hbf-edge quantize MODEL)")
    formats = JcehbFormats.from_dict(config.quantization.get("formats", JcehbFormats().to_dict()))
    return pack_hw(pack_jcehb(arrays, config.family_config), formats, int(config.spec.phase_bits))


def received_words(hw: JcehbHw, H: np.ndarray, noise: np.ndarray, nu: float,
                   beams: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """The ADC words ``[B, K, R, L, 2]`` of the pilots sent as ROM words through the analog
    network, and how many saturated.  ``beams``: the ``(F_RF [N_t, N], W_RF [K, N_r, R])`` the
    pilots actually pass through (a front end with calibration errors); default the codes' ideal
    beams.  Only the observation sees them: the network's constants stay the ideal ones."""
    w = hw.words
    fmt = hw.formats.pilot
    F_rf, W_rf = (hw.model.F_rf, hw.model.W_rf) if beams is None else _check_beams(hw, beams)
    model = dataclasses.replace(hw.model, F_rf=F_rf, W_rf=W_rf,
                                arrays={**hw.model.arrays, "xr": fmt.to_float(w["xr"]), "xi": fmt.to_float(w["xi"])})
    Y = jcehb_observe(model, H, noise, nu)
    q, over = hw.formats.received.quantize(np.stack([Y.real, Y.imag], axis=-1))
    return np.ascontiguousarray(q), int(np.count_nonzero(over))


def _check_beams(hw: JcehbHw, beams: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    Nt, N, Nr, R, K, S = hw.model.sizes
    F_rf, W_rf = (np.asarray(b) for b in beams)
    if F_rf.shape != (Nt, N) or W_rf.shape != (K, Nr, R) or not (np.all(np.isfinite(F_rf)) and np.all(np.isfinite(W_rf))):
        raise ShapeError(f"applied beams must be finite F_RF [{Nt}, {N}] and W_RF [{K}, {Nr}, {R}], got "
                         f"{list(F_rf.shape)} and {list(W_rf.shape)}")
    return F_rf.astype(np.complex128), W_rf.astype(np.complex128)


class JcehbHwSession:
    """The ADC words of one slot per channel and the work arrays, for repeated runs of the
    integer slot (the profiler's figures: the observation, the ADC and the checks are paid once,
    here).  ``beams``: as :func:`received_words`."""

    STAGES = {"slot": 3, "cedun": 1, "hbdun": 2}

    def __init__(self, hw: JcehbHw, H: np.ndarray, noise: np.ndarray, nu: float,
                 beams: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        from hbf_edge.kernels.jcehb._fixed import ACC, N_SITES

        if not (math.isfinite(nu) and nu > 0):
            raise ConfigError(f"nu must be > 0, got {nu}")
        Nt, N, Nr, R, K, S = hw.model.sizes
        self.hw = hw
        self.Y, self.n_in = received_words(hw, H, noise, nu, beams)
        B = self.Y.shape[0]
        w = hw.words
        fm = hw.table()
        fmu = np.ascontiguousarray(np.repeat(fm[ACC:ACC + 1], 6, axis=0))  # all rows the accumulator: cinv_fx's table
        fmu.setflags(write=False)  # read-only as UPGA's tables: one compilation of the shared cinv_fx, matmul_t_fx
        self.out = [np.zeros((B, K, R, N), np.int64), np.zeros((B, K, R, N), np.int64),
                    np.zeros((B, N, K * S), np.int64), np.zeros((B, N, K * S), np.int64),
                    np.zeros((B, K, R, S), np.int64), np.zeros((B, K, R, S), np.int64)]
        self.counts = np.zeros((B, N_SITES), np.int64)
        self.nu_word = noise_word(hw, nu)
        self._args = (np.ascontiguousarray(self.Y[..., 0]), np.ascontiguousarray(self.Y[..., 1]), w["xr"], w["xi"],
                      w["ce"], w["vgr"], w["vgi"], w["gfr"], w["gfi"], w["hb"], w["hbw"], w["hbf"], w["hbs"],
                      self.nu_word, w["lam_floor"], w["table"], hw.model.exact, fm, fmu)

    def run(self, stage: str = "slot") -> None:
        """CEDUN and HBDUN (``slot``), or one of them (``hbdun`` from the ``H_hat`` words the work
        arrays hold); the counters add up over runs."""
        from hbf_edge.kernels.jcehb._fixed import slots_fx

        if stage not in self.STAGES:
            raise ConfigError(f"stage must be one of {', '.join(self.STAGES)}, got {stage!r}")
        args = (*self._args, self.STAGES[stage], *self.out, self.counts)
        run_batch(slots_fx, self.counts.shape[0], *args)

    def result(self) -> JcehbHwResult:
        totals = self.counts.sum(axis=0)
        totals[0] += self.n_in
        o = self.out
        pair = lambda r, i: np.stack([r, i], axis=-1)  # noqa: E731
        return JcehbHwResult(self.Y, pair(o[0], o[1]), pair(o[2], o[3]), pair(o[4], o[5]),
                             dict(zip(COUNTER_SITES, totals.tolist())), self.hw.formats)


def jcehb_forward_hw(hw: JcehbHw, H: np.ndarray, noise: np.ndarray, nu: float,
                     beams: tuple[np.ndarray, np.ndarray] | None = None) -> JcehbHwResult:
    """One slot per channel ``H [B, K, N_r, N_t]`` complex128 with unit pilot noise
    ``noise [B, K, N_r, >= L]`` at noise power ``nu`` (pilots through ``beams``, as
    :func:`received_words`): the received words, CEDUN and HBDUN in integers
    (:class:`JcehbHwResult`)."""
    session = JcehbHwSession(hw, H, noise, nu, beams)
    session.run()
    return session.result()
