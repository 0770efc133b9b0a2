"""Baselines the unfolded networks are measured against (numpy, complex128).

* :func:`zero_forcing` -- fully digital zero forcing, the upper reference of the UPGA paper's
  Fig. 2b;
* :func:`omp_hybrid` -- spatially sparse precoding by orthogonal matching pursuit
  (O. El Ayach et al., "Spatially sparse precoding in millimeter wave MIMO systems", IEEE TWC
  2014, Algorithm 1), factorising the fully digital ZF precoder over a dictionary of ULA
  steering vectors;
* :func:`mo_altmin_factorise` -- MO-AltMin (X. Yu, J.-C. Shen, J. Zhang and K. B. Letaief,
  "Alternating minimization algorithms for hybrid precoding in millimeter wave MIMO systems",
  IEEE JSTSP 2016, Algorithm 1): the same factorisation by alternating least squares and
  Riemannian conjugate gradient on the complex circle manifold.

Conventional PGA (fixed step sizes) is :func:`hbf_edge.families.upga.model.pga_forward`.  These are written
independently of the torch code on purpose: the tests use them as a second opinion.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.channels import ula_response, validate_miso_channels
from hbf_edge.errors import ConfigError

__all__ = ["zero_forcing", "omp_hybrid", "omp_factorise", "mo_altmin_factorise", "sum_rate_np"]


def _check_power(p_t: np.ndarray, batch: int) -> np.ndarray:
    p_t = np.broadcast_to(np.asarray(p_t, dtype=np.float64), (batch,))
    if not np.all(np.isfinite(p_t)) or np.any(p_t <= 0):
        raise ConfigError("transmit power P_t must be finite and > 0")
    return p_t


def zero_forcing(H: np.ndarray, p_t: np.ndarray) -> np.ndarray:
    """Fully digital ZF ``X = H (H^H H)^{-1}`` scaled to ``||X||_F^2 = P_t``.

    Parameters
    ----------
    H : ndarray of complex, [B, N, K]
    p_t : ndarray of float, [B] or scalar

    Returns
    -------
    X : ndarray of complex128, [B, N, K]; ``h_k^H x_l = 0`` for ``k != l``.
    """
    H = validate_miso_channels(H)
    p_t = _check_power(p_t, H.shape[0])
    Hh = H.conj().transpose(0, 2, 1)
    X = H @ np.linalg.inv(Hh @ H)
    return X * (np.sqrt(p_t) / np.linalg.norm(X, axis=(1, 2)))[:, None, None]


def omp_hybrid(
    H: np.ndarray, p_t: np.ndarray, n_rf: int, grid_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hybrid precoder by OMP over a steering dictionary (El Ayach et al. 2014, Alg. 1).

    Target ``F_opt`` = fully digital ZF; dictionary = ``sqrt(N) a(u)`` (unit modulus) on
    ``grid_size`` points uniform in ``u = sin(phi)`` over [-1, 1) (default ``4 N``).  Each of the
    ``M`` steps adds the atom most correlated with the residual, refits ``F_BB`` by least squares
    and renormalises the residual; finally ``||F_RF F_BB||_F^2 = P_t``.

    Returns
    -------
    F : ndarray [B, N, M] (unit-modulus entries), W : ndarray [B, M, K]
    """
    H = validate_miso_channels(H)
    B = H.shape[0]
    F, W = omp_factorise(zero_forcing(H, p_t), n_rf, grid_size)
    W = W * (np.sqrt(_check_power(p_t, B)) / np.linalg.norm(F @ W, axis=(1, 2)))[:, None, None]
    return F, W


def omp_factorise(target: np.ndarray, n_rf: int, grid_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``target [B, N, D] ~= F X_BB`` with ``F`` ``n_rf`` unit-modulus atoms ``sqrt(N) a(u)`` of
    an ``N``-element half-wavelength ULA on ``grid_size`` points of ``u = sin phi`` in [-1, 1)
    (default ``4 N``), chosen by OMP (El Ayach et al. 2014, Alg. 1), and ``X_BB`` the least-squares
    fit (not scaled).  Returns ``F [B, N, n_rf]``, ``X_BB [B, n_rf, D]``."""
    B, N, _ = target.shape
    if n_rf < 1:
        raise ConfigError(f"n_rf must be >= 1, got {n_rf}")
    grid_size = 4 * N if grid_size is None else int(grid_size)
    if grid_size < n_rf:
        raise ConfigError(f"grid_size ({grid_size}) must be >= n_rf ({n_rf})")
    u = -1.0 + 2.0 * np.arange(grid_size) / grid_size
    atoms = ula_response(np.arcsin(u), N) * np.sqrt(N)  # [G, N], unit modulus
    residual = target.copy()
    F = np.zeros((B, N, n_rf), dtype=np.complex128)
    for m in range(n_rf):
        psi = atoms.conj() @ residual  # A^H F_res [B, G, D] (a batched BLAS product: np.einsum took 20x longer)
        best = np.argmax(np.sum(np.abs(psi) ** 2, axis=2), axis=1)
        F[:, :, m] = atoms[best]
        Fm = F[:, :, : m + 1]
        W = np.linalg.pinv(Fm) @ target
        residual = target - Fm @ W
        norm = np.linalg.norm(residual, axis=(1, 2))
        residual = residual / np.where(norm > 0, norm, 1.0)[:, None, None]
    return F, np.linalg.pinv(F) @ target


def _tangent(v: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Projection of ``v`` onto the tangent space of the complex circle manifold at ``F``
    (``|F_ij| = 1``): the component along each ``F_ij`` removed, ``v - Re(v conj F) F``."""
    return v - np.real(v * F.conj()) * F


def _residual2(target: np.ndarray, F: np.ndarray, X_bb: np.ndarray) -> np.ndarray:
    return np.sum(np.abs(target - F @ X_bb) ** 2, axis=(1, 2))


def mo_altmin_factorise(target: np.ndarray, n_rf: int, outer: int = 20, cg_steps: int = 10,
                        start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``target [B, N, D] ~= F X_BB`` with unit-modulus ``F [B, N, n_rf]`` by MO-AltMin (Yu et
    al. 2016, Algorithm 1): ``outer`` rounds of ``X_BB = F^+ target`` (least squares) then
    ``cg_steps`` of Riemannian conjugate gradient on ``f(F) = ||target - F X_BB||_F^2`` over
    ``|F_ij| = 1``.  Returns ``F`` and the final least-squares ``X_BB`` (not scaled).

    The CG step: Euclidean gradient ``-2 (target - F X_BB) X_BB^H`` (their eq. 12), projected
    on the tangent space; Polak-Ribiere+ directions carried over by projection; along a
    direction ``d`` the objective before retraction is a quadratic in the step ``t``, whose
    minimiser starts an Armijo backtracking (halving, at most 20 times) on the retracted point
    ``(F + t d) / |F + t d|``; a direction that does not descend restarts from ``-grad``.

    Choices where the paper leaves it open (spec ``mser.md`` 3.4): 20 outer rounds of 10 CG
    steps; the start is OMP's ``F`` (:func:`omp_factorise`, default grid) rather than random
    phases, so the result is deterministic and its residual never exceeds OMP's (every step
    is a descent step).  ``start`` overrides it.
    """
    target = np.asarray(target, dtype=np.complex128)
    if target.ndim != 3 or not np.all(np.isfinite(target)):
        raise ConfigError(f"target must be a finite [B, N, D] array, got shape {target.shape}")
    if outer < 0 or cg_steps < 0:
        raise ConfigError(f"outer and cg_steps must be >= 0, got {outer}, {cg_steps}")
    F = omp_factorise(target, n_rf)[0] if start is None else np.asarray(start, dtype=np.complex128).copy()
    if F.shape != target.shape[:2] + (n_rf,):
        raise ConfigError(f"start must be [B, N, n_rf] = {target.shape[:2] + (n_rf,)}, got {F.shape}")
    F = F / np.abs(F)
    B = target.shape[0]
    for _ in range(outer):
        X_bb = np.linalg.pinv(F) @ target
        Xh = X_bb.conj().transpose(0, 2, 1)
        f = _residual2(target, F, X_bb)
        g_prev = d = None
        for _ in range(cg_steps):
            g = _tangent(-2.0 * (target - F @ X_bb) @ Xh, F)
            if d is None:
                d = -g
            else:
                gp = _tangent(g_prev, F)
                beta = np.maximum(0.0, np.sum(np.real(g.conj() * (g - gp)), axis=(1, 2))
                                  / np.maximum(np.sum(np.abs(g_prev) ** 2, axis=(1, 2)), 1e-300))
                d = -g + beta[:, None, None] * _tangent(d, F)
            slope = np.sum(np.real(g.conj() * d), axis=(1, 2))  # df/dt at t = 0, < 0 downhill
            bad = slope >= 0
            if np.any(bad):
                d[bad] = -g[bad]
                slope[bad] = -np.sum(np.abs(g[bad]) ** 2, axis=(1, 2))
            dX = d @ X_bb
            r = target - F @ X_bb
            curv = np.sum(np.abs(dX) ** 2, axis=(1, 2))
            t = np.where(curv > 0, np.sum(np.real(r.conj() * dX), axis=(1, 2)) / np.maximum(curv, 1e-300), 0.0)
            t = np.maximum(t, 0.0)
            F_new, f_new = F.copy(), f.copy()
            todo = np.ones(B, dtype=bool)
            for _ in range(20):  # Armijo on the retracted point, per channel
                cand = F[todo] + t[todo, None, None] * d[todo]
                cand = cand / np.where(np.abs(cand) > 0, np.abs(cand), 1.0)
                fc = _residual2(target[todo], cand, X_bb[todo])
                ok = fc <= f[todo] + 1e-4 * t[todo] * slope[todo]
                idx = np.flatnonzero(todo)
                F_new[idx[ok]], f_new[idx[ok]] = cand[ok], fc[ok]
                todo[idx[ok]] = False
                if not np.any(todo):
                    break
                t = np.where(todo, t / 2, t)
            g_prev, F, f = g, F_new, f_new
    return F, np.linalg.pinv(F) @ target


def sum_rate_np(H: np.ndarray, X: np.ndarray, noise: float | np.ndarray) -> np.ndarray:
    """Sum rate eq. (4) from per-user SINRs, written the direct way (numpy, for checks).

    Parameters
    ----------
    H : [B, N, K]; X : [B, N, K] effective precoder ``F W``; noise : scalar or [B]

    Returns
    -------
    ndarray [B], bit/s/Hz
    """
    gains = np.abs(np.einsum("bnk,bnl->bkl", H.conj(), X)) ** 2  # |h_k^H x_l|^2
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), (H.shape[0],))
    total = np.zeros(H.shape[0])
    for k in range(H.shape[2]):
        signal = gains[:, k, k]
        interference = gains[:, k, :].sum(axis=1) - signal
        total += np.log2(1.0 + signal / (interference + noise))
    return total
