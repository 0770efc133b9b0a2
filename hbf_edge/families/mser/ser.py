"""Symbol error rate of an MSER design: the evaluation metric, its Monte Carlo check, and the
KDE objective (15) that gradient descent and the network minimise (numpy only).

Paper: ``mser_unfolding_hbf.txt`` Section III; reconstructions in ``../shared/specs/mser.md``
section 1.4.  Receiver output of stream i of user k (eq. 4, 8): ``b~ = w_ik^H U_k (H_k F V s + n_k)``;
its noise-free part ``bbar = E_k s`` with ``E_k = W_k^H U_k H_k F V`` ``[D_k, D]``, and the noise
``w_ik^H U_k n_k`` has a real part of standard deviation ``rho_ik = sigma_n ||U_k^H w_ik|| / sqrt 2``
(the exact width; the paper's eq. (9) prints a signal-power term there, spec 5.3).

* :func:`ser_semi_analytic` -- the metric every table reports: for each stream, the exact
  Gaussian error probability of each transmit vector, averaged over all vectors (QPSK, D <= 7)
  or a fixed seeded sample, then over streams.  QPSK: ``p_R + p_I - p_R p_I`` with
  ``p_R = Q(Re b Re bbar / rho)``; 16-QAM: the decision regions (45) around ``c F_m`` with
  ``c = |c_ik|`` the desired gain, after rotating the stream by ``conj(c) / |c|`` (spec 5.18).
* :func:`ser_monte_carlo` -- drawn symbols and noise through the detector (6) / (45): a check.
* :func:`kde_objective` -- eq. (10)-(15) [R]: ``sum_k sum_i (P^R + P^I)`` with
  ``P^R = (1/J) sum_j Q(Re b^{q_j} Re bbar^{q_j} / varrho)`` over J sampled vectors (QPSK).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc

from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.system import all_symbol_vectors, levels, sample_symbol_vectors

__all__ = ["qfunc", "effective_channels", "output_widths", "ser_semi_analytic", "ser_monte_carlo",
           "kde_objective", "eval_vectors", "EVAL_VECTORS", "EVAL_SEED"]

EVAL_VECTORS = 4096  # sampled transmit vectors when 4^D (or 16^D) is larger (spec 1.4)
EVAL_SEED = 12345


def qfunc(x: np.ndarray) -> np.ndarray:
    """Gaussian tail ``Q(x) = erfc(x / sqrt 2) / 2``."""
    return 0.5 * erfc(np.asarray(x) / np.sqrt(2.0))


def effective_channels(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``E_k = W_k^H U_k H_k F V``, ``[B, K, D_k, D]``."""
    A = F @ V  # [B, Nt, D]
    return np.conj(np.swapaxes(W, -1, -2)) @ U @ H @ A[:, None]


def output_widths(U: np.ndarray, W: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """``rho_ik = sigma_n ||U_k^H w_ik|| / sqrt 2``, ``[B, K, D_k]`` (``sigma`` scalar or ``[B]``)."""
    g = np.conj(np.swapaxes(U, -1, -2)) @ W  # [B, K, Nr, Dk]
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1, 1, 1)
    return sigma * np.linalg.norm(g, axis=-2) / np.sqrt(2.0)


def eval_vectors(D: int, constellation: str) -> np.ndarray:
    """The transmit vectors ``[D, J]`` :func:`ser_semi_analytic` averages over: all of them, or
    ``EVAL_VECTORS`` drawn with ``EVAL_SEED`` when there are more."""
    n_points = len(levels(constellation)) ** 2
    if n_points ** D <= EVAL_VECTORS:
        return all_symbol_vectors(D, constellation)
    return sample_symbol_vectors(D, EVAL_VECTORS, np.random.default_rng(EVAL_SEED), constellation)


def _desired_gains(E: np.ndarray) -> np.ndarray:
    """``c_ik = w_ik^H U_k H_k F p_ik``: the entry of ``E_k`` on stream (k, i)'s own column, ``[B, K, D_k]``."""
    B, K, Dk, _ = E.shape
    own = np.arange(K)[:, None] * Dk + np.arange(Dk)[None, :]  # [K, Dk] global stream index
    return np.take_along_axis(E, own[None, :, :, None], axis=-1)[..., 0]


def _part_error(z: np.ndarray, level: np.ndarray, c: np.ndarray, rho: np.ndarray, lv: np.ndarray) -> np.ndarray:
    """Probability that one real part ``z + noise`` (std ``rho``) leaves the decision region of
    ``level`` (regions ``(c (F - 1), c (F + 1)]``, outer ones open; eq. 45)."""
    lower = np.where(level > lv[0], qfunc((z - c * (level - 1.0)) / rho), 0.0)
    upper = np.where(level < lv[-1], qfunc((c * (level + 1.0) - z) / rho), 0.0)
    return lower + upper


def ser_semi_analytic(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray,
                      sigma: np.ndarray | float, constellation: str = "qpsk", per_stream: bool = False
                      ) -> np.ndarray:
    """Exact SER per channel ``[B]`` (or ``[B, K, D_k]``) for Gaussian noise (module notes)."""
    E = effective_channels(H, F, V, U, W)  # [B, K, Dk, D]
    B, K, Dk, D = E.shape
    rho = output_widths(U, W, sigma)[..., None]  # [B, K, Dk, 1]
    S = eval_vectors(D, constellation)  # [D, J]
    Y = E @ S  # [B, K, Dk, J]
    b = S.reshape(K, Dk, -1)[None]  # the desired symbols, [1, K, Dk, J]
    if constellation == "qpsk":
        p_r = qfunc(b.real * Y.real / rho)
        p_i = qfunc(b.imag * Y.imag / rho)
    elif constellation == "16qam":
        c = _desired_gains(E)  # [B, K, Dk]
        mag = np.abs(c)[..., None]
        Y = Y * (np.conj(c)[..., None] / np.maximum(mag, 1e-300))  # rotate the stream (spec 5.18)
        lv = levels(constellation)
        p_r = _part_error(Y.real, b.real, mag, rho, lv)
        p_i = _part_error(Y.imag, b.imag, mag, rho, lv)
    else:
        raise ConfigError(f"unknown constellation {constellation!r}")
    ser = np.mean(p_r + p_i - p_r * p_i, axis=-1)  # [B, K, Dk]
    return ser if per_stream else ser.mean(axis=(1, 2))


def ser_monte_carlo(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray,
                    sigma: float, n_symbols: int, rng: np.random.Generator, constellation: str = "qpsk"
                    ) -> np.ndarray:
    """SER per channel ``[B]`` from ``n_symbols`` drawn transmit vectors and noise through the
    detector (6) (QPSK: signs; 16-QAM: nearest level of ``c F_m`` after the rotation)."""
    E = effective_channels(H, F, V, U, W)
    B, K, Dk, D = E.shape
    S = sample_symbol_vectors(D, n_symbols, rng, constellation)  # [D, J]
    n = (rng.standard_normal((B, K, H.shape[2], n_symbols))
         + 1j * rng.standard_normal((B, K, H.shape[2], n_symbols))) * (sigma / np.sqrt(2.0))
    out = E @ S + np.conj(np.swapaxes(W, -1, -2)) @ U @ n  # [B, K, Dk, J]
    b = S.reshape(K, Dk, -1)[None]
    if constellation == "qpsk":
        wrong = (np.sign(out.real) != b.real) | (np.sign(out.imag) != b.imag)
    else:
        c = _desired_gains(E)[..., None]
        z = out / c  # regions (c (F - 1), c (F + 1)] around c F_m: the nearest level of out / c
        lv = levels(constellation)

        def decide(x: np.ndarray) -> np.ndarray:
            return lv[np.argmin(np.abs(x[..., None] - lv), axis=-1)]

        wrong = (decide(z.real) != b.real) | (decide(z.imag) != b.imag)
    return wrong.mean(axis=(1, 2, 3))


def kde_objective(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray, S: np.ndarray,
                  varrho: float) -> np.ndarray:
    """Eq. (15) [R], QPSK: ``sum_k sum_i (P^R + P^I)`` over the sampled vectors ``S [D, J]``, ``[B]``."""
    E = effective_channels(H, F, V, U, W)
    B, K, Dk, D = E.shape
    Y = E @ S
    b = S.reshape(K, Dk, -1)[None]
    p = qfunc(b.real * Y.real / varrho) + qfunc(b.imag * Y.imag / varrho)
    return p.mean(axis=-1).sum(axis=(1, 2))
