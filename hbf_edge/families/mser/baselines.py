"""MMSE baselines of the MSER paper (Section VI-A; ``../shared/specs/mser.md`` section 3): the
fully digital MMSE transceiver, and its OMP and MO-AltMin hybrid approximations (numpy only).

Each returns a :class:`~hbf_edge.families.mser.gd.Design`, so the SER of
:mod:`hbf_edge.families.mser.ser` scores them like the MSER designs.  A fully digital design is
``F = X [B, N_t, D]`` (not unit modulus), ``V = I``, ``U = I`` (``R_r = N_r``), ``W = G``.

Choices where the paper is silent (spec 3.2-3.3):

* MMSE transceiver: minimise ``sum_k E||G_k^H y_k - b_k||^2`` with ``||X||^2 = P_T``; alternate
  ``G_k = (H_k X X^H H_k^H + sigma^2 I)^-1 H_k X_k`` and
  ``X = (sum_k H_k^H G_k G_k^H H_k + tau I)^-1 [H_1^H G_1, ..]``, ``tau = sigma^2 sum tr(G^H G) / P_T``,
  50 iterations from each user's D_k strongest right singular vectors, then scaled to P_T;
* OMP: X ~= F X_BB with R_t atoms of the BS array on a 4 N_t grid (El Ayach, as UPGA's baseline),
  each user's ``G_k ~= U_k^H W_k`` with R_r atoms of its array; then W_k re-fitted as the MMSE
  combiner of the hybrid link, ``(U_k (R_k) U_k^H)^-1 U_k H_k F V_k`` with ``R_k`` the received
  covariance -- and V scaled by (26);
* MO-AltMin (the paper's [11], spec 3.4): the same, with the factorisations of
  :func:`hbf_edge.baselines.mo_altmin_factorise` (20 rounds of 10 Riemannian CG steps, started
  from OMP's phases) in place of OMP's.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.baselines import mo_altmin_factorise, omp_factorise
from hbf_edge.families.mser.gd import Design, _h, normalise_combiners, scale_power
from hbf_edge.families.mser.system import MserSizes

__all__ = ["mmse_digital", "omp_mmse", "mo_mmse"]


def _mmse_combiners(H: np.ndarray, X: np.ndarray, sigma: float, Dk: int) -> np.ndarray:
    """``G_k = (H_k X X^H H_k^H + sigma^2 I)^-1 H_k X_k``, ``[B, K, N_r, D_k]``."""
    K, Nr = H.shape[1], H.shape[2]
    HX = H @ X[:, None]  # [B, K, Nr, D]
    R = HX @ _h(HX) + sigma ** 2 * np.eye(Nr)
    own = np.stack([HX[:, k, :, k * Dk:(k + 1) * Dk] for k in range(K)], axis=1)
    return np.linalg.solve(R, own)


def mmse_digital(H: np.ndarray, sizes: MserSizes, sigma: float, iterations: int = 50, power: float = 1.0
                 ) -> Design:
    """The fully digital MMSE transceiver (module notes; ``sigma`` weighed as
    :meth:`~hbf_edge.families.mser.system.MserSizes.mse_noise`)."""
    H = sizes.check_channels(H)
    sigma = sizes.mse_noise(sigma)
    B, K, Nr, Nt = H.shape
    Dk = sizes.n_streams
    p = power / sizes.power_divisor
    X = np.concatenate([_h(np.linalg.svd(H[:, k])[2][:, :Dk]) for k in range(K)], axis=-1)  # [B, Nt, D]
    X = X * np.sqrt(p) / np.linalg.norm(X, axis=(1, 2), keepdims=True)
    for _ in range(iterations):
        G = _mmse_combiners(H, X, sigma, Dk)
        HG = _h(H) @ G  # [B, K, Nt, Dk]
        tau = sigma ** 2 * np.sum(np.abs(G) ** 2, axis=(1, 2, 3)) / p
        A = np.sum(HG @ _h(HG), axis=1) + tau[:, None, None] * np.eye(Nt)
        X = np.linalg.solve(A, np.concatenate([HG[:, k] for k in range(K)], axis=-1))
        X = X * np.sqrt(p) / np.linalg.norm(X, axis=(1, 2), keepdims=True)
    G = _mmse_combiners(H, X, sigma, Dk)
    eye_d = np.broadcast_to(np.eye(K * Dk), (B, K * Dk, K * Dk)).astype(np.complex128)
    eye_r = np.broadcast_to(np.eye(Nr), (B, K, Nr, Nr)).astype(np.complex128)
    return Design(X, eye_d.copy(), eye_r.copy(), G)


def omp_mmse(H: np.ndarray, sizes: MserSizes, sigma: float, iterations: int = 50, power: float = 1.0,
             digital: Design | None = None) -> Design:
    """OMP hybrid approximation of the MMSE transceiver, combiners re-fitted (module notes);
    ``digital``: :func:`mmse_digital`'s design of the same arguments, if already at hand."""
    return _hybrid_mmse(H, sizes, sigma, omp_factorise, iterations, power, digital)


def mo_mmse(H: np.ndarray, sizes: MserSizes, sigma: float, iterations: int = 50, power: float = 1.0,
            digital: Design | None = None) -> Design:
    """MO-AltMin hybrid approximation of the MMSE transceiver, combiners re-fitted (module
    notes); ``digital`` as for :func:`omp_mmse`."""
    return _hybrid_mmse(H, sizes, sigma, mo_altmin_factorise, iterations, power, digital)


def _hybrid_mmse(H: np.ndarray, sizes: MserSizes, sigma: float, factorise, iterations: int, power: float,
                 digital: Design | None) -> Design:
    """The digital MMSE transceiver factorised by ``factorise(target, n_rf) -> (F, X_BB)`` at the
    BS and at every user, the combiners re-fitted for the hybrid link (module notes)."""
    H = sizes.check_channels(H)
    B, K, Nr, Nt = H.shape
    Dk = sizes.n_streams
    if digital is None:
        digital = mmse_digital(H, sizes, sigma, iterations, power)
    sigma = sizes.mse_noise(sigma)
    F, V = factorise(digital.F, sizes.n_rf_tx)
    V = scale_power(F, V, power / sizes.power_divisor)
    U, W = [], []
    for k in range(K):
        Frx, _ = factorise(digital.W[:, k], sizes.n_rf_rx)  # G_k ~= U_k^H W_k: U_k^H = Frx
        Uk = _h(Frx)  # [B, Rr, Nr]
        HA = H[:, k] @ F @ V  # [B, Nr, D]
        R = HA @ _h(HA) + sigma ** 2 * np.eye(Nr)
        W.append(np.linalg.solve(Uk @ R @ _h(Uk), Uk @ HA[..., k * Dk:(k + 1) * Dk]))
        U.append(Uk)
    U, W = np.stack(U, axis=1), np.stack(W, axis=1)
    return Design(F, V, U, normalise_combiners(U, W))
