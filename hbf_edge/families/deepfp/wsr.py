"""Weighted sum rate of a multi-cell MU-MIMO downlink and the quantities the FP family shares
(``deepfp.txt`` Sections II-III), numpy, batched.

Shapes (see :mod:`hbf_edge.families.deepfp.network`): ``H : [B, L, K, L, N_r, N_t]`` with ``H[b, l, k, i]``
the channel from BS ``i`` to user ``(l, k)``; ``V : [B, L, K, N_t, d]``; weights
``w : [L, K]`` (default ones); power budgets ``P : [L]`` (default ones); noise ``sigma^2``
(default 1, the dataset units).  Rates are in bit/s/Hz (log2, the package convention; the paper
writes ``log``).
"""

from __future__ import annotations

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError

__all__ = ["check_problem", "received", "weighted_sum_rate", "fp_quantities", "power_scale", "random_init",
           "cell_power", "weighted_gram"]


def check_problem(H: np.ndarray, V: np.ndarray | None = None, w: np.ndarray | None = None,
                  power: np.ndarray | float | None = None, noise: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes and values; return ``(H, w [L, K], P [L])``."""
    H = np.asarray(H)
    if H.ndim != 6 or H.shape[1] != H.shape[3] or not np.iscomplexobj(H):
        raise ShapeError(f"H must be complex [B, L, K, L, N_r, N_t], got {list(H.shape)}")
    if not np.all(np.isfinite(H)):
        raise ShapeError("H holds NaN or inf")
    B, L, K, _, Nr, Nt = H.shape
    if V is not None:
        V = np.asarray(V)
        if V.ndim != 5 or V.shape[:4] != (B, L, K, Nt) or V.shape[4] > Nr:
            raise ShapeError(f"V must be [B, L, K, N_t, d] = [{B}, {L}, {K}, {Nt}, d <= {Nr}], got {list(V.shape)}")
    w = np.ones((L, K)) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (L, K) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"weights must be finite, >= 0, of shape [{L}, {K}]")
    P = np.ones(L) if power is None else np.broadcast_to(np.asarray(power, dtype=np.float64), (L,)).copy()
    if not np.all(np.isfinite(P)) or np.any(P <= 0):
        raise ConfigError("power budgets must be finite and > 0")
    if not (np.isfinite(noise) and noise > 0):
        raise ConfigError(f"noise power must be finite and > 0, got {noise!r}")
    return H, w, P


def received(H: np.ndarray, V: np.ndarray, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``A_lk = H_{lk,l} V_lk`` ``[B, L, K, N_r, d]`` and ``D_lk`` of eq. (10)
    ``[B, L, K, N_r, N_r]`` (all streams plus noise)."""
    B, L, K, _, Nr, Nt = H.shape
    d = V.shape[-1]
    Vcat = np.swapaxes(V, 2, 3).reshape(B, L, Nt, K * d)  # BS i's beams side by side
    HV = H @ Vcat[:, None, None]  # [B, L, K, L_i, N_r, K d]: H_{lk,i} V_ij for every j
    HVf = np.swapaxes(HV, 3, 4).reshape(B, L, K, Nr, L * K * d)
    D = HVf @ np.swapaxes(HVf.conj(), -1, -2) + noise * np.eye(Nr)
    own = HV[:, np.arange(L), :, np.arange(L)]  # [L, B, K, N_r, K d]: the serving BS's beams
    own = np.moveaxis(own, 0, 1).reshape(B, L, K, Nr, K, d)
    A = own[:, :, np.arange(K), :, np.arange(K)]  # [K, B, L, N_r, d]
    return np.moveaxis(A, 0, 2), D


def weighted_sum_rate(H: np.ndarray, V: np.ndarray, w: np.ndarray | None = None, noise: float = 1.0,
                      per_user: bool = False) -> np.ndarray:
    """Eq. (2)-(4a): ``sum_lk w_lk log2 |I + A^H F^{-1} A|`` with ``F = D - A A^H`` (eq. 3),
    ``[B]`` (or ``[B, L, K]`` with ``per_user``)."""
    H, w, _ = check_problem(H, V, w, None, noise)
    A, D = received(H, V, noise)
    F = D - A @ np.swapaxes(A.conj(), -1, -2)
    G = np.swapaxes(A.conj(), -1, -2) @ np.linalg.solve(F, A)
    d = V.shape[-1]
    sign, logdet = np.linalg.slogdet(np.eye(d) + G)
    rates = logdet / np.log(2.0)
    return rates * w if per_user else np.sum(rates * w, axis=(1, 2))


def fp_quantities(H: np.ndarray, V: np.ndarray, w: np.ndarray, noise: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One evaluation of the FP auxiliaries at ``V``:

    * ``Y_lk = D_lk^{-1} H_{lk,l} V_lk`` (eq. 27), ``[B, L, K, N_r, d]``;
    * ``Gamma_lk = V^H H^H F_lk^{-1} H V`` (eq. 28), ``[B, L, K, d, d]``;
    * ``Lambda_lk = w_lk H_{lk,l}^H Y_lk (I + Gamma_lk)`` (eq. 26), ``[B, L, K, N_t, d]``;
    * ``L_l = sum_ij w_ij H_{ij,l}^H Y_ij (I + Gamma_ij) Y_ij^H H_{ij,l}`` (eq. 30), ``[B, L, N_t, N_t]``.
    """
    A, D = received(H, V, noise)
    d = V.shape[-1]
    Y = np.linalg.solve(D, A)
    F = D - A @ np.swapaxes(A.conj(), -1, -2)
    Gam = np.swapaxes(A.conj(), -1, -2) @ np.linalg.solve(F, A)
    Gam = 0.5 * (Gam + np.swapaxes(Gam.conj(), -1, -2))  # Hermitian PSD by definition
    YG = Y @ (np.eye(d) + Gam)
    H_own = np.einsum("blklrn->blkrn", H)
    Lam = w[None, :, :, None, None] * (np.swapaxes(H_own.conj(), -1, -2) @ YG)
    M = w[None, :, :, None, None] * (YG @ np.swapaxes(Y.conj(), -1, -2))  # [B, L, K, N_r, N_r]
    return Y, Gam, Lam, weighted_gram(H, M)


def weighted_gram(H: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``sum_ij H_{ij,l}^H M_ij H_{ij,l}`` per BS ``l`` (eq. 30 and 11), ``[B, L, N_t, N_t]``
    Hermitian, for ``M [B, L, K, N_r, N_r]``: one matrix product per BS over the stacked users."""
    B, L, K, _, Nr, Nt = H.shape
    MH = M[:, :, :, None] @ H  # [B, L, K, L_bs, N_r, N_t]
    Hs = np.moveaxis(H, 3, 1).reshape(B, L, L * K * Nr, Nt)
    MHs = np.moveaxis(MH, 3, 1).reshape(B, L, L * K * Nr, Nt)
    G = np.swapaxes(Hs.conj(), -1, -2) @ MHs
    return 0.5 * (G + np.swapaxes(G.conj(), -1, -2))


def cell_power(V: np.ndarray) -> np.ndarray:
    """``sum_k tr(V_lk V_lk^H)`` per cell, ``[B, L]``."""
    return np.sum(np.abs(V) ** 2, axis=(2, 3, 4))


def power_scale(V: np.ndarray, P: np.ndarray, always: bool = False) -> np.ndarray:
    """Eq. (37): scale each cell's beamformers down to its budget ``P_l`` if they exceed it (or
    onto it with ``always``)."""
    p = cell_power(V)
    scale = np.sqrt(P[None, :] / np.maximum(p, 1e-300))
    if not always:
        scale = np.minimum(scale, 1.0)
    return V * scale[:, :, None, None, None]


def random_init(shape: tuple[int, ...], P: np.ndarray, seed: int = 0) -> np.ndarray:
    """Section IV-D: ``V^0`` with i.i.d. CN(0, 1) entries, scaled so each cell uses its whole
    budget; ``shape = (B, L, K, N_t, d)``."""
    rng = np.random.default_rng(seed)
    V = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    return power_scale(V, P, always=True)
