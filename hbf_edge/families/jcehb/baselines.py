"""The iterative baselines of the JCEHB paper in numpy: RLS estimation (Algorithm 1), SCA digital
beamforming (Algorithm 2), regularised zero forcing (spec sections 2.1, 2.4, 3).

These are written independently of the torch network (:mod:`hbf_edge.families.jcehb.model`)
so that each checks the other: CEDUN at its initial parameters equals :func:`rls` with
``beta = 1``, and HBDUN with the exact inverse and its initial parameters equals :func:`sca`.

Choices where the paper is silent or garbled (spec section 5; each tested or measured):

* RLS: ``W^0 = 0``, ``P^0 = I / delta`` with ``delta = 1e-2``, ``beta = 1`` (a static channel in a
  slot; then RLS is exactly the ridge estimate ``Y X^H (X X^H + delta I)^-1``), one pilot
  column per iteration, step 4 reads ``x^n`` (the printed ``x^{n-1}`` is a slip, spec 5.8);
  the denominator takes the real part of ``x^H P x`` (real in exact arithmetic): with the
  complex ``g^H x`` as printed, P drifts from Hermitian and the estimate departs from the ridge
  one by 0.41 (max entry) after 90 per-chain pilots, against 3e-14 with the real part;
* SCA (spec 2.4, 5.11-5.14): the weighted-MSE precoder ``f_kl = lambda_kl C^-1 H_k^H w_kl``,
  ``C = sum lambda_mn H_m^H w_mn w_mn^H H_m + tau I`` with the regularised-WMMSE closed form
  ``tau = nu sum lambda_mn ||w_mn||^2 / (K N_s)``; ``alpha = 2``; ``F^0`` the matched filter
  (user k's first N_s columns of ``H_eq,k^H``); the combiner of step 1 is the one of the MSEs of
  step 4 (Algorithm 2's order); the returned combiner is the MMSE one (24) of the final precoder;
* RZF (spec 3.2, 5.23): plain ZF on the square stacked channel is useless, so the MMSE
  regulariser ``nu``, user k's first N_s columns of its block, per-user normalisation.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["rls", "ridge", "normalise", "mmse_combiner", "stream_mse", "matched_filter", "sca", "rzf"]


def _h(x: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(x, -1, -2))


def rls(X: np.ndarray, Y: np.ndarray, beta: float = 1.0, delta: float = 1e-2) -> np.ndarray:
    """Algorithm 1 on every user: pilots ``X [N, L]``, received ``Y [B, K, R, L]``; one iteration
    per pilot column; returns ``H^_eq [B, K, R, N]``.  ``P`` depends on the pilots only, so one
    copy serves every channel and user."""
    N, L = X.shape
    B, K, R, _ = Y.shape
    P = np.eye(N, dtype=np.complex128) / delta
    W = np.zeros((B, K, N, R), dtype=np.complex128)
    for n in range(L):
        x = X[:, n]
        g = P @ x
        v = g / (beta + np.vdot(x, g).real)  # x^H P x is real; roundoff otherwise grows (docstring)
        P = (P - np.outer(v, g.conj())) / beta
        e = Y[..., n] - np.einsum("bknr,n->bkr", W.conj(), x)
        W = W + v[:, None] * e.conj()[..., None, :]
    return _h(W)


def ridge(X: np.ndarray, Y: np.ndarray, delta: float = 1e-2) -> np.ndarray:
    """The closed-form ridge estimate ``Y X^H (X X^H + delta I)^-1`` (what RLS with ``beta = 1``
    computes; eq. 15 with ``delta = 0``)."""
    A = X @ X.conj().T + delta * np.eye(X.shape[0])
    return np.linalg.solve(A.T, np.swapaxes(Y @ X.conj().T, -1, -2)).swapaxes(-1, -2)


def normalise(F: np.ndarray, G_f: np.ndarray, n_streams: int) -> np.ndarray:
    """Scale every user's block so that ``||F_RF F_BB,k||_F^2 = N_s`` (7d), with the analog Gram
    ``G_F = F_RF^H F_RF``: ``F [B, N, K N_s]``."""
    B, N, KS = F.shape
    Fk = F.reshape(B, N, KS // n_streams, n_streams)
    power = np.einsum("bnks,nm,bmks->bk", Fk.conj(), G_f, Fk).real
    return (Fk * np.sqrt(n_streams / power)[:, None, :, None]).reshape(B, N, KS)


def mmse_combiner(He: np.ndarray, F: np.ndarray, nu: float) -> np.ndarray:
    """Eq. (24): ``W_BB,k = (H_k F F^H H_k^H + nu I)^-1 H_k F_k``, ``[B, K, R, N_s]``."""
    B, K, R, N = He.shape
    S = F.shape[2] // K
    A = He @ F[:, None]  # [B, K, R, K S]
    cov = A @ _h(A) + nu * np.eye(R)
    own = np.stack([A[:, k, :, k * S:(k + 1) * S] for k in range(K)], axis=1)
    return np.linalg.solve(cov, own)


def stream_mse(He: np.ndarray, F: np.ndarray, W: np.ndarray, nu: float) -> np.ndarray:
    """Eq. (23) [R]: ``eps [B, K, N_s]`` with the interference of every other stream and the
    noise ``nu ||w||^2``."""
    K, S = W.shape[1], W.shape[3]
    G = _h(W) @ He @ F[:, None]  # [B, K, S, K S]
    idx = np.arange(S)
    d = np.stack([G[:, k, idx, k * S + idx] for k in range(K)], axis=1)
    return (np.abs(1 - d) ** 2 + (np.abs(G) ** 2).sum(-1) - np.abs(d) ** 2
            + nu * (np.abs(W) ** 2).sum(axis=2))


def matched_filter(He: np.ndarray, G_f: np.ndarray, n_streams: int) -> np.ndarray:
    """``F_BB,k^0``: the first N_s columns of ``H_eq,k^H``, normalised (spec 5.14)."""
    B, K, R, N = He.shape
    F = np.concatenate([_h(He[:, k])[..., :n_streams] for k in range(K)], axis=2)
    return normalise(F, G_f, n_streams)


def sca(He: np.ndarray, G_f: np.ndarray, nu: float, n_streams: int, iterations: int,
        alpha: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 2 with the exact inverse on equivalent channels ``He [B, K, R, N]``:
    ``F_BB [B, N, K N_s]`` and the MMSE ``W_BB [B, K, R, N_s]`` of it."""
    B, K, R, N = He.shape
    S = n_streams
    mu = 1.0 / math.log(alpha)
    F = matched_filter(He, G_f, S)
    t = np.zeros((B, K, S))
    for _ in range(iterations):
        W = mmse_combiner(He, F, nu)  # step 1
        lam = mu * alpha ** t  # step 2
        hw = _h(He) @ W  # [B, K, N, S]: H_k^H w_kl
        tau = nu * (lam * (np.abs(W) ** 2).sum(axis=2)).sum(axis=(1, 2)) / (K * S)
        C = np.einsum("bks,bkns,bkms->bnm", lam, hw, hw.conj()) + tau[:, None, None] * np.eye(N)
        f = np.linalg.solve(C[:, None], hw) * lam[:, :, None, :]  # step 3
        F = normalise(np.concatenate(list(np.moveaxis(f, 1, 0)), axis=2), G_f, S)
        eps = stream_mse(He, F, W, nu)  # step 4
        t = t + mu * (1.0 - eps * alpha ** t)  # step 5
    return F, mmse_combiner(He, F, nu)


def rzf(He: np.ndarray, G_f: np.ndarray, nu: float, n_streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Regularised ZF on the stacked estimate (spec 3.2): ``F_BB`` and its MMSE ``W_BB``."""
    B, K, R, N = He.shape
    Hbar = He.reshape(B, K * R, N)
    Fz = _h(Hbar) @ np.linalg.inv(Hbar @ _h(Hbar) + nu * np.eye(K * R))
    F = np.concatenate([Fz[:, :, k * R:k * R + n_streams] for k in range(K)], axis=2)
    F = normalise(F, G_f, n_streams)
    return F, mmse_combiner(He, F, nu)
