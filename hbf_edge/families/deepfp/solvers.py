"""Model-driven WSR beamformers of ``deepfp.txt`` Section III, numpy, batched: the baselines
and the supervision target of DeepFP.

* ``wmmse`` -- eq. (7)-(11), the multiplier of eq. (12) by bisection on eq. (13);
* ``fp`` -- eq. (27)-(30) with the same multiplier rule (Remark 5: it reproduces WMMSE's
  iterates exactly, which the tests check);
* ``fastfp`` -- eq. (36)-(38): ``V = Z + (Lambda - L Z) / lambda`` and the power scaling of
  (37), with ``lambda = lambda_max(L_l)`` (eq. 34, ``"max"``), ``||L_l||_F`` (Remark 9,
  ``"fro"``) or given per sample and cell (DeepFP's choice);
* ``wmmse_sc`` -- single cell only: WMMSE with the multiplier replaced by
  ``(sigma^2 / P) sum_j w_j tr(U_j W_j U_j^H)`` and the result scaled onto the budget (the
  WMMSE-SC baseline of Table I, as in the IAIDNN paper the text cites);
* ``ezf`` -- eq. (39)-(41), zero forcing on the users' d strongest right singular vectors,
  scaled onto each cell's budget (eq. 41 leaves the power open).

Shapes as in :mod:`hbf_edge.families.deepfp.wsr`.  Every iterative method starts from ``V0`` (default: the
random init of Section IV-D, seeded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families.deepfp.wsr import (
    check_problem,
    fp_quantities,
    power_scale,
    random_init,
    received,
    weighted_gram,
    weighted_sum_rate,
)

__all__ = ["METHODS", "wmmse_step", "fp_step", "fastfp_step", "wmmse_sc_step", "ezf", "solve",
           "multiplier_solve", "fastfp_lambda"]

METHODS = ("wmmse", "fp", "fastfp", "wmmse_sc", "ezf")
_BISECTION_STEPS = 100


def _h(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x.conj(), -1, -2)


def multiplier_solve(Lmat: np.ndarray, rhs: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``V_lk = (eta_l I + L_l)^{-1} rhs_lk`` with the smallest ``eta_l >= 0`` that meets the
    budget (eq. 12), by bisection on eq. (13) in the eigenbasis of ``L_l``.

    ``Lmat [B, L, N, N]`` Hermitian PSD, ``rhs [B, L, K, N, d]``.  Directions in the numerical
    null space of ``L_l`` (eigenvalues below ``1e-12`` of the largest) are dropped when
    ``eta = 0`` (the pseudo-inverse); ``rhs`` has no component there for the FP and WMMSE
    updates, whose right-hand sides lie in the range of ``L_l``.
    """
    psi, J = np.linalg.eigh(Lmat)  # [B, L, N], [B, L, N, N]
    T = _h(J)[:, :, None] @ rhs
    t2 = np.sum(np.abs(T) ** 2, axis=(2, 4))  # [B, L, N]
    tol = 1e-12 * np.maximum(psi[..., -1:], 1e-300)

    def power(eta: np.ndarray) -> np.ndarray:
        den = psi + eta[..., None]
        return np.sum(np.where(den > tol, t2 / np.maximum(den, tol) ** 2, 0.0), axis=-1)

    zero = np.zeros(psi.shape[:2])
    need = power(zero) > P[None, :]
    lo = zero.copy()
    hi = np.sqrt(np.sum(t2, axis=-1) / P[None, :])  # power(hi) <= sum t2 / hi^2 = P
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        over = power(mid) > P[None, :]
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    eta = np.where(need, hi, 0.0)
    den = psi + eta[..., None]
    inv = np.where(den > tol, 1.0 / np.maximum(den, tol), 0.0)
    return J[:, :, None] @ (inv[:, :, None, :, None] * T)


def wmmse_step(H: np.ndarray, V: np.ndarray, w: np.ndarray, P: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """One WMMSE iteration, eq. (7)-(9) with (10)-(13)."""
    A, D = received(H, V, noise)
    U = np.linalg.solve(D, A)  # (7)
    d = V.shape[-1]
    W = np.linalg.inv(np.eye(d) - _h(U) @ A)  # (8)
    W = 0.5 * (W + _h(W))
    UWU = w[None, :, :, None, None] * (U @ W @ _h(U))
    G = weighted_gram(H, UWU)  # (11)
    H_own = np.einsum("blklrn->blkrn", H)
    rhs = w[None, :, :, None, None] * (_h(H_own) @ U @ W)  # (9)
    return multiplier_solve(G, rhs, P)


def fp_step(H: np.ndarray, V: np.ndarray, w: np.ndarray, P: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """One FP iteration: (28), (27), then (29) with the multiplier of (12)."""
    _, _, Lam, Lmat = fp_quantities(H, V, w, noise)
    return multiplier_solve(Lmat, Lam, P)


def fastfp_lambda(Lmat: np.ndarray, rule: str) -> np.ndarray:
    """``lambda_l`` of FastFP, ``[B, L]``: ``"max"`` eq. (34) or ``"fro"`` (Remark 9)."""
    if rule == "max":
        return np.linalg.eigvalsh(Lmat)[..., -1]
    if rule == "fro":
        return np.linalg.norm(Lmat, axis=(-2, -1))
    raise ConfigError(f"FastFP lambda rule must be 'max' or 'fro', got {rule!r}")


def fastfp_step(H: np.ndarray, V: np.ndarray, w: np.ndarray, P: np.ndarray, noise: float = 1.0,
                lam: str | np.ndarray = "max") -> np.ndarray:
    """One FastFP iteration: ``Z = V`` (36), Gamma (28), Y (27), then (38) and (37)."""
    Z = V
    _, _, Lam, Lmat = fp_quantities(H, Z, w, noise)
    lam_l = fastfp_lambda(Lmat, lam) if isinstance(lam, str) else np.asarray(lam, dtype=np.float64)
    if lam_l.shape != Lmat.shape[:2] or not np.all(lam_l > 0):
        raise ConfigError(f"lambda must be > 0 with shape {list(Lmat.shape[:2])}")
    LZ = Lmat[:, :, None] @ Z
    Vhat = Z + (Lam - LZ) / lam_l[:, :, None, None, None]  # (38)
    return power_scale(Vhat, P)  # (37)


def wmmse_sc_step(H: np.ndarray, V: np.ndarray, w: np.ndarray, P: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """One WMMSE-SC iteration (single cell): the multiplier replaced by
    ``(sigma^2 / P) sum_j w_j tr(U_j W_j U_j^H)``, then scaled onto the budget."""
    if H.shape[1] != 1:
        raise ConfigError("WMMSE-SC is defined for a single cell (L = 1)")
    A, D = received(H, V, noise)
    U = np.linalg.solve(D, A)
    d = V.shape[-1]
    W = np.linalg.inv(np.eye(d) - _h(U) @ A)
    W = 0.5 * (W + _h(W))
    UWU = w[None, :, :, None, None] * (U @ W @ _h(U))
    G = weighted_gram(H, UWU)
    mu = noise / P[None, :] * np.real(np.einsum("blkrr->bl", UWU))
    N = H.shape[-1]
    H_own = np.einsum("blklrn->blkrn", H)
    rhs = w[None, :, :, None, None] * (_h(H_own) @ U @ W)
    Vn = np.linalg.solve((G + mu[..., None, None] * np.eye(N))[:, :, None], rhs)
    return power_scale(Vn, P, always=True)


def ezf(H: np.ndarray, d: int, P: np.ndarray) -> np.ndarray:
    """Eq. (39)-(41): ZF on the virtual channel of each user's ``d`` strongest right singular
    vectors, each cell scaled onto its budget."""
    H_own = np.einsum("blklrn->blkrn", H)  # [B, L, K, N_r, N_t]
    _, _, Vh = np.linalg.svd(H_own)
    Q = _h(Vh[..., :d, :])  # [B, L, K, N_t, d], eq. (39)
    B, L, K, N, _ = Q.shape
    Qc = np.moveaxis(Q, 2, 3).reshape(B, L, N, K * d)  # eq. (40)
    Vc = Qc @ np.linalg.inv(_h(Qc) @ Qc)  # eq. (41)
    V = np.moveaxis(Vc.reshape(B, L, N, K, d), 3, 2)
    return power_scale(V, P, always=True)


def solve(H: np.ndarray, method: str, iterations: int = 100, V0: np.ndarray | None = None, d: int | None = None,
          w: np.ndarray | None = None, power: np.ndarray | float | None = None, noise: float = 1.0,
          lam: str | np.ndarray = "max", seed: int = 0, trajectory: bool = False) -> dict[str, Any]:
    """Run ``method`` for ``iterations`` iterations from ``V0`` (default: the random init).

    Returns a dict with ``V`` ``[B, L, K, N_t, d]``, ``wsr`` ``[B]`` and, with ``trajectory``,
    ``wsr_trajectory`` ``[iterations + 1, B]`` (the WSR of ``V0`` first).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; known: {list(METHODS)}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ConfigError(f"iterations must be an integer >= 0, got {iterations!r}")
    H, w, P = check_problem(H, V0, w, power, noise)
    B, L, K, _, Nr, Nt = H.shape
    if method == "ezf":
        V = ezf(H, V0.shape[-1] if V0 is not None else (d if d is not None else Nr), P)
        return {"V": V, "wsr": weighted_sum_rate(H, V, w, noise)}
    if V0 is None:
        if d is None:
            raise ConfigError("give V0 or the number of streams d")
        V0 = random_init((B, L, K, Nt, d), P, seed)
    step = {"wmmse": wmmse_step, "fp": fp_step, "wmmse_sc": wmmse_sc_step}.get(method)
    V = np.asarray(V0, dtype=np.complex128)
    hist = [weighted_sum_rate(H, V, w, noise)] if trajectory else None
    for _ in range(iterations):
        V = fastfp_step(H, V, w, P, noise, lam) if method == "fastfp" else step(H, V, w, P, noise)
        if hist is not None:
            hist.append(weighted_sum_rate(H, V, w, noise))
    out = {"V": V, "wsr": hist[-1] if hist else weighted_sum_rate(H, V, w, noise)}
    if hist is not None:
        out["wsr_trajectory"] = np.stack(hist)
    return out
