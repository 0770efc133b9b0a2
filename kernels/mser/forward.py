"""The MSER float kernel on a model directory: load the trained network without torch, run it.

:func:`load_mser` packs a model directory's parameters in the layout of :mod:`kernels.mser._float`
(steps premultiplied and expanded to full matrices, offsets premultiplied, widths as numbers);
:func:`mser_forward` checks its inputs, allocates the outputs and runs the compiled layers.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.mser.config import refuse_cnn
from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW

__all__ = ["MserModel", "MserSession", "gd_model", "load_mser", "mser_forward", "pack_mser"]



@dataclasses.dataclass(frozen=True)
class MserModel:
    """A trained MSER network packed for the kernel (shapes in :mod:`kernels.mser._float`).

    ``sizes``: ``(N_t, R_t, K, N_r, R_r, D_k)``; ``sigma_ref``: the noise std the steps are given
    at (``None``: absolute steps); ``power``: ``||F V||_F^2`` of the output; ``qam``: 16-QAM's
    objective (its symbol sets hold the levels +-1, +-3); ``keep``: a network with candidate
    layers, its arrays then hold ``L * C`` virtual layers and the scoring vectors ``sc_r, sc_i``
    (:func:`pack_mser`)."""

    sizes: tuple[int, ...]
    n_layers: int
    arrays: dict
    sigma_ref: float | None
    power: float
    start: dict | None = None  # the model directory's start (hbf_edge.families.mser.start; None: alignment)
    qam: bool = False
    keep: np.ndarray | None = None  # candidate layers (kernels.mser._cand): the rows that keep the design; None: none

    def step_factor(self, sigma: np.ndarray) -> np.ndarray:
        """``sigma / sigma_ref`` per channel (ones with absolute steps)."""
        return sigma / self.sigma_ref if self.sigma_ref is not None else np.ones_like(sigma)


def _c(a: np.ndarray) -> np.ndarray:
    return a[..., 0] + 1j * a[..., 1]


def pack_mser(arrays: dict, family_config: dict, n_layers: int) -> MserModel:
    """The kernel layout of a model directory's arrays and ``family_config`` (module notes)."""
    z, st = family_config["sizes"], family_config["steps"]
    Nt, Rt, K, Nr, Rr, Dk = (z["n_tx"], z["n_rf_tx"], z["n_users"], z["n_rx"], z["n_rf_rx"], z["n_streams"])
    L, D = n_layers, K * Dk
    mu_p, mu_w, mu_u, mu_f = st["mu_p"], st["mu_w"], st["mu_theta_u"], st["mu_theta_f"]
    offsets = family_config["offsets"]

    def full(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(a, shape).copy()

    ap = np.concatenate([full(mu_p * _c(arrays["a_p"])[:, k], (L, Rt, Dk)) for k in range(K)], axis=-1)
    aw = full(mu_w * _c(arrays["a_w"]), (L, K, Rr, Dk))
    au = full(mu_u * arrays["a_u"], (L, K, Rr, Nr))
    af = np.full((L, Nt, Rt), float(mu_f))  # the last layer: the plain step (25)
    af[:L - 1] = mu_f * np.broadcast_to(arrays["a_f"], (L - 1, Nt, Rt))
    op = np.zeros((L, Rt, D), np.complex128)
    ow = np.zeros((L, K, Rr, Dk), np.complex128)
    ou = np.zeros((L, K, Rr, Nr))
    of_ = np.zeros((L, Nt, Rt))
    if offsets:
        op = mu_p * np.concatenate([_c(arrays["o_p"])[:, k] for k in range(K)], axis=-1)
        ow = mu_w * _c(arrays["o_w"])
        ou = mu_u * arrays["o_u"]
        of_[:L - 1] = mu_f * arrays["o_f"]
    widths_f = np.full(L, st["kappa"] / math.sqrt(2.0))  # the last layer: varrho (spec 5.11)
    widths_f[:L - 1] = np.exp(arrays["log_r_f"])
    sym = arrays["symbols"]
    packed = {"ap_r": ap.real, "ap_i": ap.imag, "aw_r": aw.real, "aw_i": aw.imag, "au": au, "af": af,
              "op_r": op.real, "op_i": op.imag, "ow_r": ow.real, "ow_i": ow.imag, "ou": ou, "of_": of_,
              "widths": np.exp(arrays["log_r"]), "widths_f": widths_f, "sym_r": sym[..., 0], "sym_i": sym[..., 1]}
    keep = None
    if "candidates" in family_config:
        packed, keep = _virtual_layers(packed, np.asarray(family_config["candidates"], dtype=np.float64))
        packed.update(sc_r=arrays["score_symbols"][..., 0], sc_i=arrays["score_symbols"][..., 1])
    packed = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in packed.items()}
    ref = st.get("snr_ref_db")
    sigma_ref = None if ref is None else math.sqrt(10.0 ** (-ref / 10.0))
    qam = z.get("constellation", "qpsk") == "16qam"
    power = 0.1 if qam else 1.0  # ||F V||^2 = P_T / 10 for 16-QAM's unnormalised levels (spec 5.17)
    return MserModel((Nt, Rt, K, Nr, Rr, Dk), L, packed, sigma_ref, power, family_config.get("start"), qam, keep)


# which candidate factor (P, W, theta_U, theta_F) scales each packed array; the rest repeat
_FACTOR_OF = {"ap_r": 0, "ap_i": 0, "op_r": 0, "op_i": 0, "aw_r": 1, "aw_i": 1, "ow_r": 1, "ow_i": 1, "au": 2, "ou": 2,
              "af": 3, "of_": 3}


def _virtual_layers(packed: dict, table: np.ndarray) -> tuple[dict, np.ndarray]:
    """The ``L * C`` virtual layers of a candidate network (:mod:`kernels.mser._cand`): virtual
    layer ``l C + c`` is layer l with its steps and offsets times row c of ``table [C, 4]``; and
    which rows keep the design (all zeros)."""
    C = len(table)
    out = {}
    for name, a in packed.items():
        rep = np.repeat(a, C, axis=0)
        if name in _FACTOR_OF:
            f = np.tile(table[:, _FACTOR_OF[name]], len(a))
            rep = rep * f.reshape((-1,) + (1,) * (a.ndim - 1))
        out[name] = rep
    return out, ~table.any(axis=1)


def gd_model(sizes: tuple[int, ...], mu: tuple[float, float, float, float], kappa: float, sigma_ref: float | None,
             symbols: np.ndarray, power: float = 1.0, qam: bool = False) -> MserModel:
    """Algorithm 1 (eq. 22-26) as a network of ``T`` plain layers: every step the fixed ``mu``
    (``mu_P, mu_W, mu_thetaU, mu_thetaF``), every width ``kappa / sqrt 2``, the symbols of
    iteration t ``symbols[t]`` ([T, D, J] complex); no offsets."""
    Nt, Rt, K, Nr, Rr, Dk = sizes
    T, D = symbols.shape[0], K * Dk
    r0 = kappa / math.sqrt(2.0)
    zeros = np.zeros
    packed = {"ap_r": np.full((T, Rt, D), mu[0]), "ap_i": zeros((T, Rt, D)), "aw_r": np.full((T, K, Rr, Dk), mu[1]),
              "aw_i": zeros((T, K, Rr, Dk)), "au": np.full((T, K, Rr, Nr), mu[2]), "af": np.full((T, Nt, Rt), mu[3]),
              "op_r": zeros((T, Rt, D)), "op_i": zeros((T, Rt, D)), "ow_r": zeros((T, K, Rr, Dk)),
              "ow_i": zeros((T, K, Rr, Dk)), "ou": zeros((T, K, Rr, Nr)), "of_": zeros((T, Nt, Rt)),
              "widths": np.full((T, 3, K), r0), "widths_f": np.full(T, r0),
              "sym_r": np.ascontiguousarray(symbols.real), "sym_i": np.ascontiguousarray(symbols.imag)}
    return MserModel(tuple(sizes), T, packed, sigma_ref, power, qam=qam)


def load_mser(model_dir: str | os.PathLike) -> MserModel:
    """Read an MSER model directory without torch."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "mser"):
        raise ConfigError(f"{model_dir} holds a {config.family} model, not mser")
    refuse_cnn(config.family_config, model_dir, "the MSER kernels run")
    return pack_mser(arrays, config.family_config, config.n_layers)


class MserSession:
    """Checked inputs and work arrays for repeated runs of the compiled layers (the profiler's
    per-layer figures: input checks and array splitting are paid once, here).

    Parameters
    ----------
    H : ndarray, complex128, [B, K, N_r, N_t]
    start : (F [B, N_t, R_t], V [B, R_t, D], U [B, K, R_r, N_r], W [B, K, R_r, D_k]), complex128
    sigma : float or ndarray [B]
        Noise standard deviation of each channel.
    """

    def __init__(self, model: MserModel, H: np.ndarray, start: tuple[np.ndarray, ...],
                 sigma: np.ndarray | float) -> None:
        Nt, Rt, K, Nr, Rr, Dk = model.sizes
        H = np.asarray(H)
        if H.dtype != np.complex128 or H.ndim != 4 or H.shape[1:] != (K, Nr, Nt) or H.shape[0] == 0:
            raise ShapeError(f"H must be complex128 [B, {K}, {Nr}, {Nt}], got {H.dtype} {list(H.shape)}")
        _checks.finite("H", H)
        B = H.shape[0]
        shapes = ((B, Nt, Rt), (B, Rt, K * Dk), (B, K, Rr, Nr), (B, K, Rr, Dk))
        self.start: list[np.ndarray] = []
        for name, x, shape in zip("FVUW", start, shapes):
            x = np.asarray(x)
            if x.shape != shape:
                raise ShapeError(f"{name} must have shape {list(shape)}, got {list(x.shape)}")
            _checks.finite(name, x)
            self.start += [np.ascontiguousarray(x.real, dtype=np.float64), np.ascontiguousarray(x.imag, dtype=np.float64)]
        # writable whatever came in (a read-only view would make Numba compile the layers again)
        sigma = np.array(np.broadcast_to(np.asarray(sigma, dtype=np.float64), (B,)))
        if not np.all(sigma > 0):
            raise ConfigError("sigma must be > 0")
        from hbf_edge.kernels.mser._cand import candidates_parallel, candidates_serial
        from hbf_edge.kernels.mser._float import layers_parallel, layers_serial

        self.model, self.batch = model, B
        self.work = [x.copy() for x in self.start]
        a = model.arrays
        self._args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), *self.work, sigma,
                      model.step_factor(sigma), a["ap_r"], a["ap_i"], a["aw_r"], a["aw_i"], a["au"], a["af"], a["op_r"],
                      a["op_i"], a["ow_r"], a["ow_i"], a["ou"], a["of_"], a["widths"], a["widths_f"], a["sym_r"],
                      a["sym_i"], model.power, model.qam)
        if model.keep is None:
            self._kernel = layers_serial if B < SERIAL_BELOW else layers_parallel
        else:
            self._kernel = candidates_serial if B < SERIAL_BELOW else candidates_parallel
            self._args += (model.keep, a["sc_r"], a["sc_i"])

    def run(self, lo: int = 0, hi: int | None = None, reset: bool = True) -> None:
        """Layers ``lo .. hi - 1`` (default: all) into the work arrays: from the start, or with
        ``reset=False`` from the work arrays' current design (a timing loop that applies a
        layer again and again pays no copies; the layer's arithmetic does not depend on its
        input's values)."""
        hi = self.model.n_layers if hi is None else hi
        if not 0 <= lo <= hi <= self.model.n_layers:
            raise ConfigError(f"layers must satisfy 0 <= lo <= hi <= {self.model.n_layers}, got ({lo}, {hi})")
        if reset:
            for w, s in zip(self.work, self.start):
                np.copyto(w, s)
        self._kernel(*self._args, lo, hi)

    def design(self) -> tuple[np.ndarray, ...]:
        """The work arrays as ``(F, V, U, W)`` complex128 (new arrays)."""
        return tuple(self.work[2 * i] + 1j * self.work[2 * i + 1] for i in range(4))


def mser_forward(H: np.ndarray, start: tuple[np.ndarray, ...], sigma: np.ndarray | float, model: MserModel,
                 layers: tuple[int, int] | None = None) -> tuple[np.ndarray, ...]:
    """Run layers ``layers = (lo, hi)`` (default: all) of the network from ``start``
    (shapes in :class:`MserSession`); returns ``(F, V, U, W)`` complex128, new arrays."""
    session = MserSession(model, H, start, sigma)
    session.run(*(layers or (0, model.n_layers)))
    return session.design()
