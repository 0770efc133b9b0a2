"""Mixed-timescale JCEHB (``mixed_timescale_jcehb.txt``): sizes, channels, beams, pilots and
metrics in numpy.

The system of Section II (``../shared/specs/jcehb.md`` section 1): a BS with N_t antennas and
N = N_t^RF RF chains (one analog precoder F_RF shared by all users, spec 5.1) serves K users,
each with N_r antennas, R = N_r^RF RF chains (analog combiner W_RF,k) and N_s streams.  Shapes
are batch first: ``H [B, K, N_r, N_t]``, ``F_RF [N_t, N]``, ``W_RF [K, N_r, R]``, the
equivalent channel ``H_eq [B, K, R, N] = W_RF,k^H H_k F_RF``, the digital precoder
``F_BB [B, N, K N_s]`` (user k's block of columns ``k N_s .. (k+1) N_s``), the digital combiners
``W_BB [B, K, R, N_s]``, the pilot ``X [N, L]`` and the received pilots ``Y [B, K, R, L]``.

Units (spec 1.1, [C]): P = 1 and ``nu = sigma^2 / P = 10^(-SNR/10)``; rates in bit/s/Hz (log2);
analog entries of modulus ``1/sqrt(N_t)`` and ``1/sqrt(N_r)`` (spec 5.2); per-user power
``||F_RF F_BB,k||_F^2 = N_s``.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.channels import clustered_mimo
from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.config import JcehbSizes, check_boost, pilot_noise_seeded

__all__ = ["JcehbSizes", "jcehb_channels", "dft_phases", "analog", "equivalent", "dft_pilots", "pilot_noise",
           "observe", "sinr", "sum_rate", "design_sum_rate", "nmse", "noise_power", "pilot_noise_power", "check_boost",
           "PILOT_POWERS"]

PILOT_POWERS = ("per-column", "per-chain")


def noise_power(snr_db: float) -> float:
    """``nu = sigma^2 / P`` of SNR = P / sigma^2 (spec 5.5)."""
    return float(10.0 ** (-float(snr_db) / 10.0))


def pilot_noise_power(nu: float, boost_db: float = 0.0) -> float:
    """The pilot stage's ``nu``: the data's ``nu`` with the pilots ``boost_db`` above the data SNR.
    The paper gives neither its pilot power nor its pilot noise (spec 1.3); 0 dB (the default)
    observes the pilots at the data SNR, as every table of the README does unless it says."""
    return float(nu) * 10.0 ** (-float(boost_db) / 10.0)


def jcehb_channels(count: int, sizes: JcehbSizes, seed: int = 0, n_clusters: int = 4, n_rays: int = 2,
                   gain_var: float = 0.1, angle_range: float = math.pi / 3) -> np.ndarray:
    """Eq. (45)-(46) with the paper's Sec. VIII-A values (spec 1.2): ``H [B, K, N_r, N_t]``."""
    rng = (-angle_range, angle_range)
    return clustered_mimo(count, sizes.n_tx, sizes.n_rx, sizes.n_users, n_clusters, n_rays, gain_var=gain_var,
                          aod_range=rng, aoa_range=rng, seed=seed)


def dft_phases(n_ant: int, n_beams: int, max_sin: float = 0.87) -> np.ndarray:
    """Phases ``[n_ant, n_beams]`` of evenly spaced steering beams over ``sin phi`` in
    ``[-max_sin, max_sin]`` (spec 1.2's anchor; ``max_sin`` ~ sin(pi/3)), with the channel's
    array-response sign ``e^{+j pi n sin phi}`` so that a beam's gain toward its angle is 1."""
    s = np.linspace(-max_sin, max_sin, n_beams) if n_beams > 1 else np.zeros(1)
    return math.pi * np.arange(n_ant)[:, None] * s[None, :]


def analog(phi_f: np.ndarray, phi_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F_RF = e^{j phi_F} / sqrt(N_t)`` and ``W_RF,k = e^{j phi_W,k} / sqrt(N_r)`` (eq. 18)."""
    return (np.exp(1j * phi_f) / math.sqrt(phi_f.shape[0]), np.exp(1j * phi_w) / math.sqrt(phi_w.shape[1]))


def equivalent(H: np.ndarray, F_rf: np.ndarray, W_rf: np.ndarray) -> np.ndarray:
    """``H_eq,k = W_RF,k^H H_k F_RF``: ``[B, K, R, N]``."""
    return np.einsum("kar,bkat,tn->bkrn", W_rf.conj(), H, F_rf, optimize=True)


def dft_pilots(n_rf: int, length: int, power: str = "per-column") -> np.ndarray:
    """The RLS pilots (spec 2.1 [C]): the first ``n_rf`` rows of the ``length``-point DFT
    (rows repeat when ``length < n_rf``), each column of norm 1 (``per-column``: (7e) as
    printed, ``||x_l||^2 = P``) or ``sqrt(n_rf)`` (``per-chain``: power P per RF chain)."""
    if power not in PILOT_POWERS:
        raise ConfigError(f"pilot power must be one of {', '.join(PILOT_POWERS)}, got {power!r}")
    r = np.arange(n_rf)[:, None] % length
    X = np.exp(-2j * math.pi * r * np.arange(length)[None, :] / length)
    return X / math.sqrt(n_rf) if power == "per-column" else X


def pilot_noise(count: int, sizes: JcehbSizes, length: int, seed: int) -> np.ndarray:
    """Unit-variance antenna noise of the pilot stage, ``[B, K, N_r, L]`` complex, seeded
    (:func:`hbf_edge.families.jcehb.config.pilot_noise_seeded`)."""
    return pilot_noise_seeded(count, sizes.n_users, sizes.n_rx, length, seed)


def observe(H_eq: np.ndarray, X: np.ndarray, W_rf: np.ndarray, noise: np.ndarray, nu: float) -> np.ndarray:
    """The received pilots of spec 1.3: ``Y_k = H_eq,k X + sqrt(nu) W_RF,k^H Z_k``, ``[B, K, R, L]``."""
    L = X.shape[1]
    return (np.einsum("bkrn,nl->bkrl", H_eq, X) + math.sqrt(nu) * np.einsum("kar,bkal->bkrl", W_rf.conj(),
                                                                                 noise[..., :L]))


def sinr(H_eq: np.ndarray, F_bb: np.ndarray, W_bb: np.ndarray, W_rf: np.ndarray, nu: float) -> np.ndarray:
    """Eq. (3) [R]: ``Gamma [B, K, N_s]`` of every stream with the true ``H_eq``; the noise term
    is ``nu ||W_RF,k w||^2`` (exact, not ``nu ||w||^2``)."""
    B, K, R, S = W_bb.shape
    G = np.einsum("bkrs,bkrn,bnc->bksc", W_bb.conj(), H_eq, F_bb)  # [B, K, S, K S]
    power = np.abs(G) ** 2
    idx = np.arange(S)
    signal = np.stack([power[:, k, idx, k * S + idx] for k in range(K)], axis=1)
    gram = np.einsum("kar,kas->krs", W_rf.conj(), W_rf)
    noise = nu * np.einsum("bkrs,krq,bkqs->bks", W_bb.conj(), gram, W_bb).real
    den = power.sum(-1) - signal + noise
    # a stream whose combiner is all zero (a fixed-point W_BB can round to it) receives nothing:
    # SINR 0, not 0/0
    return np.divide(signal, den, out=np.zeros_like(signal), where=den > 0)


def sum_rate(H_eq: np.ndarray, F_bb: np.ndarray, W_bb: np.ndarray, W_rf: np.ndarray, nu: float) -> np.ndarray:
    """Sum rate ``sum_k sum_l log2(1 + Gamma_kl)`` per channel, ``[B]`` (bit/s/Hz)."""
    return np.log2(1.0 + sinr(H_eq, F_bb, W_bb, W_rf, nu)).sum(axis=(1, 2))


def design_sum_rate(H: np.ndarray, design: dict, nu: float) -> np.ndarray:
    """Sum rate per channel ``[B]`` of a design on channels ``H``: a dict with the analog beams
    ``F_rf``, ``W_rf`` and the digital ``F_bb``, ``W_bb`` (the kernel stage's ``forward_hw``)."""
    H_eq = equivalent(H, design["F_rf"], design["W_rf"])
    return sum_rate(H_eq, design["F_bb"], design["W_bb"], design["W_rf"], nu)


def nmse(H_hat: np.ndarray, H_eq: np.ndarray) -> np.ndarray:
    """Eq. (33): ``||H^_eq,k - H_eq,k||^2 / ||H_eq,k||^2`` averaged over users, ``[B]``."""
    err = np.abs(H_hat - H_eq) ** 2
    return (err.sum(axis=(2, 3)) / (np.abs(H_eq) ** 2).sum(axis=(2, 3))).mean(axis=1)
