"""Public wrapper of the UPGANet (JCAS) float kernel: validate, allocate, call.

Paper ``upganet_jcas.txt``, Algorithm 1 with initialisation (17).  Arrays are batch first, real
and imaginary parts apart, one dtype (float32 or float64), C-contiguous:

* ``h_re, h_im : [B, N, K]`` channels; ``p_t, noise : [B]`` linear powers (> 0);
* ``mu : [I, J]``, ``lam : [I]`` step sizes; the sensing task of :class:`UpganetModel`:
  ``psi1 [N, N]`` complex unit-power benchmark covariance (eq. 4), the targets' steering
  vectors ``steer [N, P]`` (for eq. 17), ``omega`` and ``eta``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels.upganet import _float as _k

__all__ = ["UpganetModel", "load_upganet", "upganet_forward"]


@dataclasses.dataclass(frozen=True)
class UpganetModel:
    """Everything the kernel needs from a UPGANet model directory (no torch)."""

    mu: np.ndarray  # [I, J] float64
    lam: np.ndarray  # [I] float64
    psi1: np.ndarray  # [N, N] complex128
    steer: np.ndarray  # [N, P] complex128, unnormalised a(theta_p)
    omega: float
    eta: float
    n_rf: int

    @property
    def n_layers(self) -> int:
        return int(self.lam.shape[0])


def load_upganet(model_dir: str | os.PathLike) -> UpganetModel:
    """Read a UPGANet model directory (verified by :func:`hbf_edge.modelfiles.read_model_dir`)."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "upganet"):
        raise _checks.ConfigError(f"{model_dir} holds a {config.family} model, not upganet")
    scenario = config.family_config["scenario"]
    n = config.spec.n_antennas
    theta = np.deg2rad(np.asarray(scenario["targets_deg"], dtype=np.float64))
    steer = np.exp(1j * np.pi * np.arange(n)[:, None] * np.sin(theta)[None, :])  # eq. (4)'s a(theta)
    return UpganetModel(arrays["mu"], arrays["lam"], arrays["psi_re"] + 1j * arrays["psi_im"], steer,
                        float(scenario["omega"]), float(config.family_config["eta"]), config.spec.n_rf)


def upganet_forward(h_re, h_im, p_t, noise, model: UpganetModel):
    """Whole forward: eq. (17), then I layers of (14a)-(15) with (7) and (9).

    Returns
    -------
    f_re, f_im : [B, N, M]; w_re, w_im : [B, M, K], in the dtype of ``h_re``.
    """
    h_re, h_im = _checks.channels(h_re, h_im)
    dt = h_re.dtype
    B, N, K = h_re.shape
    p_t = _checks.powers("p_t", p_t, B, dt)
    noise = _checks.powers("noise", noise, B, dt)
    mu, lam = _checks.steps(model.mu, model.lam, dt)
    n_rf = _checks.n_rf(model.n_rf, K, N)
    psi1 = np.asarray(model.psi1)
    if psi1.shape != (N, N):
        raise _checks.ShapeError(f"psi1 must be [N, N] = [{N}, {N}], got {list(psi1.shape)}")
    steer = np.asarray(model.steer)
    if steer.ndim != 2 or steer.shape[0] != N or steer.shape[1] < n_rf - K:
        raise _checks.ConfigError(f"steer must be [N, P] with P >= M - K = {n_rf - K}, got {list(steer.shape)}")
    if not (np.all(np.isfinite(psi1)) and np.all(np.isfinite(steer))):
        raise _checks.ConfigError("psi1 and steer must be finite")
    out = (np.empty((B, N, n_rf), dt), np.empty((B, N, n_rf), dt), np.empty((B, n_rf, K), dt),
           np.empty((B, n_rf, K), dt))
    parts = [np.ascontiguousarray(x, dtype=dt) for x in (psi1.real, psi1.imag, steer.real, steer.imag)]
    _k.forward_batch(h_re, h_im, p_t, noise, *parts, mu, lam, dt.type(model.omega), dt.type(model.eta), *out, dt.type(0))
    return out
