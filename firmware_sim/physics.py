"""What the array radiates: element weights from the registers, sum rate, beampattern."""

from __future__ import annotations

import numpy as np

__all__ = ["element_weights", "digital_precoder", "sum_rate", "beampattern", "sensing_mse"]


def element_weights(codes: np.ndarray, gains: np.ndarray, phase_bits: int,
                    phase_error: np.ndarray | None = None, gain_error: np.ndarray | None = None) -> np.ndarray:
    """Applied analog weights ``[..., N, M]``: ``g_c (gain / 127) exp(j (2 pi c / 2**Q + dphi_c))``.

    The register pair selects code ``c`` through the exported table; the phase shifter then
    applies that code's angle with its calibration error (ideal by default).  Codes of -1 (a
    pair outside the table) radiate nothing.
    """
    n_codes = 1 << phase_bits
    dphi = np.zeros(n_codes) if phase_error is None else phase_error
    g = np.ones(n_codes) if gain_error is None else gain_error
    valid = codes >= 0
    c = np.where(valid, codes, 0)
    w = g[c] * (gains / 127.0) * np.exp(1j * (2 * np.pi * c / n_codes + dphi[c]))
    return np.where(valid, w, 0.0)


def digital_precoder(beams: dict) -> np.ndarray:
    """The bundle's fixed-point W as the true precoder ``sqrt(P_t / N) W_hw``, ``[B, M, K]``."""
    scale = 2.0 ** -int(beams["w_frac_bits"])
    w = (beams["w_re"] + 1j * beams["w_im"]) * scale
    n = beams["codes"].shape[1]
    return w * np.sqrt(beams["p_t"] / n)[:, None, None]


def sum_rate(H: np.ndarray, F: np.ndarray, W: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Sum rate in bit/s/Hz per channel: ``sum_k log2(1 + |h_k^H F w_k|^2 / (interference + s2))``."""
    g = np.abs(np.einsum("bnk,bnm,bml->bkl", H.conj(), F, W)) ** 2
    signal = np.einsum("bkk->bk", g)
    interference = g.sum(axis=2) - signal
    return np.log2(1.0 + signal / (interference + noise[:, None])).sum(axis=1)


def beampattern(F: np.ndarray, W: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Radiated power ``|a(phi)^H F w_k|^2`` per user over angles (half-wavelength ULA), ``[K, A]``."""
    N = F.shape[0]
    a = np.exp(1j * np.pi * np.sin(np.deg2rad(angles_deg))[:, None] * np.arange(N)) / np.sqrt(N)
    return (np.abs(a.conj() @ (F @ W)) ** 2).T


def sensing_mse(F: np.ndarray, W: np.ndarray, p_t: np.ndarray, angles_deg: np.ndarray,
                benchmark: np.ndarray) -> np.ndarray:
    """Beampattern MSE of JCAS (``upganet_jcas.txt`` Section IV) per beam, ``[B]``:
    ``mean_t (a^H X X^H a - P_t a^H Psi_1 a)^2`` with ``X = F W`` and the unnormalised steering
    vector ``a_n = exp(j pi n sin theta)``; ``benchmark [T]`` is ``a^H Psi_1 a`` at unit power."""
    N = F.shape[-2]
    a = np.exp(1j * np.pi * np.sin(np.deg2rad(angles_deg))[:, None] * np.arange(N))  # [T, N]
    design = np.sum(np.abs(np.einsum("tn,bnk->btk", a.conj(), F @ W)) ** 2, axis=-1)
    return np.mean((design - p_t[:, None] * benchmark[None, :]) ** 2, axis=-1)
