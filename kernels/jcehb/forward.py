"""The JCEHB float kernel on a model directory: load the trained network without torch, run a slot.

:func:`load_jcehb` packs a model directory's arrays in the layout of :mod:`kernels.jcehb._float`
(the long-term analog stage reduced to what a slot needs: ``W_RF`` for the observation and the
Gram ``G_F = F_RF^H F_RF``; the pilots scaled to their power); :func:`jcehb_observe` forms the
received pilots of a slot; :func:`jcehb_slot` checks them, allocates the outputs and runs CEDUN
and HBDUN.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW

__all__ = ["JcehbModel", "JcehbSession", "load_jcehb", "pack_jcehb", "jcehb_observe", "jcehb_slot"]


@dataclasses.dataclass(frozen=True)
class JcehbModel:
    """A trained JCEHB network packed for the kernel: ``sizes`` ``(N_t, N, N_r, R, K, S)``,
    ``n_pilots`` (= CEDUN layers), ``n_hb``, the per-superframe ``F_rf`` / ``W_rf`` and the packed
    per-slot constants ``arrays``."""

    sizes: tuple[int, ...]
    n_pilots: int
    n_hb: int
    exact: bool
    F_rf: np.ndarray
    W_rf: np.ndarray
    arrays: dict
    pilot_boost_db: float = 0.0  # the pilots' SNR above the data SNR (hbf_edge.families.jcehb.system)


def _c(a: np.ndarray) -> np.ndarray:
    return a[..., 0] + 1j * a[..., 1]


def pack_jcehb(arrays: dict, family_config: dict, delta: float = 1e-2, alpha: float = 2.0) -> JcehbModel:
    """The kernel layout of a model directory's arrays and ``family_config`` (module notes)."""
    z = family_config["sizes"]
    Nt, N, Nr, R, K, S = (z["n_tx"], z["n_rf_tx"], z["n_rx"], z["n_rf_rx"], z["n_users"], z["n_streams"])
    L, Lh = family_config["pilots"], family_config["hb_layers"]
    F_rf = np.exp(1j * arrays["phi_f"]) / math.sqrt(Nt)
    W_rf = np.exp(1j * arrays["phi_w"]) / math.sqrt(Nr)
    X = _c(arrays["pilot"])
    scale = 1.0 if family_config["pilot_power"] == "per-column" else math.sqrt(N)
    X = X * (scale / np.linalg.norm(X, axis=0, keepdims=True))
    width = max(N, R)
    ce = np.zeros((16, L, K, N, width))
    for j, name in enumerate(("tg", "qg", "tv", "qv")):
        a = arrays[f"ce_{name}"]
        ce[2 * j, ..., 0], ce[2 * j + 1, ..., 0] = a[..., 0], a[..., 1]
    for j, (name, cols) in enumerate((("tp", N), ("qp", N), ("tw", R), ("qw", R))):
        a = arrays[f"ce_{name}"]
        ce[8 + 2 * j, ..., :cols], ce[9 + 2 * j, ..., :cols] = a[..., 0], a[..., 1]
    d = arrays["hb_d"].copy()
    idx = np.arange(N)
    d[..., idx, idx, 1] = 0.0  # D^- (30)
    hb = np.stack([arrays["hb_b"][..., 0], arrays["hb_b"][..., 1], d[..., 0], d[..., 1]])
    hbw = np.stack([arrays["hb_tw"][..., 0], arrays["hb_tw"][..., 1], arrays["hb_qw"][..., 0], arrays["hb_qw"][..., 1]])
    hbf = np.stack([arrays["hb_tf"][..., 0], arrays["hb_tf"][..., 1], arrays["hb_qf"][..., 0], arrays["hb_qf"][..., 1]])
    hbs = np.stack([arrays["hb_lam"][..., 0], arrays["hb_lam"][..., 1], arrays["hb_t"][..., 0], arrays["hb_t"][..., 1],
                    arrays["hb_mu"]])
    G = F_rf.conj().T @ F_rf
    packed = {"xr": np.ascontiguousarray(X.real), "xi": np.ascontiguousarray(X.imag), "ce": ce,
              "gam_inv": np.exp(-arrays["ce_log_gamma"]), "gfr": np.ascontiguousarray(G.real),
              "gfi": np.ascontiguousarray(G.imag), "hb": np.ascontiguousarray(hb), "hbw": np.ascontiguousarray(hbw),
              "hbf": np.ascontiguousarray(hbf), "hbs": np.ascontiguousarray(hbs), "delta": delta, "alpha": alpha}
    return JcehbModel((Nt, N, Nr, R, K, S), L, Lh, family_config["inverse"] == "exact", F_rf, W_rf, packed,
                      float(family_config.get("pilot_boost_db", 0.0)))


def load_jcehb(model_dir: str | os.PathLike) -> JcehbModel:
    """Read a JCEHB model directory without torch."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "jcehb"):
        raise ConfigError(f"{model_dir} holds a {config.family} model, not jcehb")
    if config.family_config.get("design") == "black-box":
        raise ConfigError(f"{model_dir} holds the black-box network: the JCEHB kernels run the unfolded one "
                          "(the black box runs in torch)")
    return pack_jcehb(arrays, config.family_config)


def jcehb_observe(model: JcehbModel, H: np.ndarray, noise: np.ndarray, nu: float) -> np.ndarray:
    """Received pilots ``Y [B, K, R, L] = H_eq X + sqrt(nu_p) W_RF^H Z`` through the model's beams
    (the RF front end's part of a slot), with unit antenna noise ``noise [B, K, N_r, >= L]``;
    ``nu_p`` is the data's ``nu`` lowered by the model's ``pilot_boost_db``."""
    Nt, N, Nr, R, K, S = model.sizes
    H = np.asarray(H)
    if H.dtype != np.complex128 or H.ndim != 4 or H.shape[1:] != (K, Nr, Nt) or H.shape[0] == 0:
        raise ShapeError(f"H must be complex128 [B, {K}, {Nr}, {Nt}], got {H.dtype} {list(H.shape)}")
    _checks.finite("H", H)
    if noise.shape[:3] != H.shape[:2] + (Nr,) or noise.shape[3] < model.n_pilots:
        raise ShapeError(f"noise must be [B, {K}, {Nr}, >= {model.n_pilots}], got {list(noise.shape)}")
    X = model.arrays["xr"] + 1j * model.arrays["xi"]
    He = np.einsum("kar,bkat,tn->bkrn", model.W_rf.conj(), H, model.F_rf, optimize=True)
    nu_p = nu * 10.0 ** (-model.pilot_boost_db / 10.0)  # the pilot stage's noise (system.pilot_noise_power)
    return He @ X + math.sqrt(nu_p) * np.einsum("kar,bkal->bkrl", model.W_rf.conj(), noise[..., :model.n_pilots])


class JcehbSession:
    """Checked received pilots and work arrays for repeated runs of the compiled slot (the
    profiler's figures: input checks and array splitting are paid once, here).

    Parameters
    ----------
    Y : ndarray, complex128, [B, K, R, L]
    nu : float
        Noise power ``sigma^2 / P`` of the slot.
    """

    STAGES = {"slot": 3, "cedun": 1, "hbdun": 2}

    def __init__(self, model: JcehbModel, Y: np.ndarray, nu: float) -> None:
        from hbf_edge.kernels.jcehb._float import slots_parallel, slots_serial

        Nt, N, Nr, R, K, S = model.sizes
        Y = np.asarray(Y)
        if Y.dtype != np.complex128 or Y.ndim != 4 or Y.shape[1:] != (K, R, model.n_pilots) or Y.shape[0] == 0:
            raise ShapeError(f"Y must be complex128 [B, {K}, {R}, {model.n_pilots}], got {Y.dtype} {list(Y.shape)}")
        _checks.finite("Y", Y)
        if not (math.isfinite(nu) and nu > 0):
            raise ConfigError(f"nu must be > 0, got {nu}")
        B = Y.shape[0]
        self.model = model
        self.out = [np.empty((B, K, R, N)), np.empty((B, K, R, N)), np.empty((B, N, K * S)), np.empty((B, N, K * S)),
                    np.empty((B, K, R, S)), np.empty((B, K, R, S))]
        a = model.arrays
        self._kernel = slots_serial if B < SERIAL_BELOW else slots_parallel
        self._args = (np.ascontiguousarray(Y.real), np.ascontiguousarray(Y.imag), a["xr"], a["xi"], a["ce"],
                      a["gam_inv"], a["delta"], a["gfr"], a["gfi"], a["hb"], a["hbw"], a["hbf"], a["hbs"], float(nu),
                      a["alpha"], model.exact)

    def run(self, stage: str = "slot") -> None:
        """CEDUN and HBDUN (``slot``), or one of them (``cedun``; ``hbdun`` from the ``H_hat`` the
        work arrays hold) into the work arrays."""
        if stage not in self.STAGES:
            raise ConfigError(f"stage must be one of {', '.join(self.STAGES)}, got {stage!r}")
        self._kernel(*self._args, self.STAGES[stage], *self.out)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H_hat, F_bb, W_bb)`` complex128, new arrays."""
        o = self.out
        return o[0] + 1j * o[1], o[2] + 1j * o[3], o[4] + 1j * o[5]


def jcehb_slot(model: JcehbModel, Y: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CEDUN and HBDUN on received pilots ``Y [B, K, R, L]`` complex128: ``(H_hat [B, K, R, N],
    F_bb [B, N, K S], W_bb [B, K, R, S])``, complex128, new arrays."""
    session = JcehbSession(model, Y, nu)
    session.run()
    return session.result()
