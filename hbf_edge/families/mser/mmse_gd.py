"""MMSE-based GD (``mser_unfolding_hbf.txt`` Fig. 10; spec 3.5): Algorithm 1's parameterisation
and alternating updates on the sum MSE instead of the SER (numpy only).

Per channel, with ``E_k = W_k^H U_k H_k F V`` and ``T_k`` the rows of the identity that pick
user k's own streams ([C], spec 3.5)::

    MSE = sum_k ||E_k - T_k||_F^2 + sigma^2 ||U_k^H W_k||_F^2

Gradients (``grad_X = 2 dMSE / dX*``, the convention of spec 2.1; checked against torch autograd
in a test), with ``R_k = E_k - T_k``::

    grad_V   = 2 sum_k (U_k H_k F)^H W_k R_k
    grad_W_k = 2 (U_k H_k F V) R_k^H + 2 sigma^2 U_k U_k^H W_k
    grad_U_k = 2 W_k R_k (H_k F V)^H + 2 sigma^2 W_k W_k^H U_k
    grad_F   = 2 sum_k (U_k H_k)^H W_k R_k V^H,     d/dtheta = Im(conj(X) o grad_X)

Choices where the paper is silent: the iteration updates V (then (26)), W, theta_U and theta_F in
Algorithm 1's order, each step with a backtracking line search per channel (start at twice the
last accepted step, halve up to 30 times until the MSE falls; a step that never lowers it is not
taken), so no step sizes need tuning; the combiners are not normalised (the MSE depends on
their scale); the start is the DFT alignment (spec 2.4).
"""

from __future__ import annotations

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.gd import Design, _h, dft_alignment, scale_power
from hbf_edge.families.mser.kde import own_stream_mask  # T_k: the rows that pick user k's streams
from hbf_edge.families.mser.system import MserSizes

__all__ = ["mse", "mse_gradients", "mmse_gd"]

_HALVINGS = 30


def _noise(sigma: float | np.ndarray) -> np.ndarray:
    """``sigma^2`` shaped to broadcast over ``[B, K, ., .]`` (a number, or one per channel)."""
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return s2.reshape(-1, 1, 1, 1) if s2.ndim else s2


def mse(H: np.ndarray, d: Design, sigma: float | np.ndarray) -> np.ndarray:
    """The sum MSE per channel, ``[B]`` (module notes); ``sigma`` a number or one per channel."""
    K, Dk = d.W.shape[1], d.W.shape[3]
    E = _h(d.W) @ d.U @ H @ (d.F @ d.V)[:, None]
    noise = np.sum(np.abs(_h(d.U) @ d.W) ** 2 * _noise(sigma), axis=(1, 2, 3))
    return np.sum(np.abs(E - own_stream_mask(K, Dk)) ** 2, axis=(1, 2, 3)) + noise


def mse_gradients(H: np.ndarray, d: Design, sigma: float | np.ndarray) -> dict[str, np.ndarray]:
    """``grad_X = 2 dMSE/dX*`` for ``F, V, U, W`` and the real angle gradients (module notes)."""
    F, V, U, W = d
    K, Dk = W.shape[1], W.shape[3]
    UH = U @ H  # [B, K, Rr, Nt]
    A = (F @ V)[:, None]
    R = _h(W) @ UH @ A - own_stream_mask(K, Dk)  # [B, K, Dk, D]
    back = _h(UH) @ W @ R  # [B, K, Nt, D]
    s2 = _noise(sigma)
    g = {"V": 2 * np.sum(_h(F)[:, None] @ back, axis=1),
         "W": 2 * (UH @ A) @ _h(R) + 2 * s2 * U @ _h(U) @ W,
         "U": 2 * W @ R @ _h(H @ A) + 2 * s2 * W @ _h(W) @ U,
         "F": 2 * np.sum(back, axis=1) @ _h(V)}
    g["theta_F"] = np.imag(np.conj(F) * g["F"])
    g["theta_U"] = np.imag(np.conj(U) * g["U"])
    return g


def _search(H: np.ndarray, d: Design, sigma: float | np.ndarray, step: np.ndarray, move) -> tuple[Design, np.ndarray]:
    """Backtracking per channel: ``move(d, t) -> candidate`` for steps ``t [B]``."""
    f0 = mse(H, d, sigma)
    t = 2.0 * step
    best = d
    done = np.zeros(len(t), bool)
    for _ in range(_HALVINGS):
        cand = move(d, t)
        f = mse(H, cand, sigma)
        take = ~done & (f < f0)
        best = Design(*(np.where(take.reshape((-1,) + (1,) * (b.ndim - 1)), c, b) for b, c in zip(best, cand)))
        done |= take
        if done.all():
            break
        t = np.where(done, t, 0.5 * t)
    return best, np.where(done, t, step)


def mmse_gd(H: np.ndarray, sizes: MserSizes, sigma: float | np.ndarray, iterations: int = 500,
            power: float = 1.0, backend: str = "numba") -> Design:
    """Algorithm 1's alternating GD on the sum MSE (module notes), from the DFT alignment;
    ``sigma``: the noise std, a number or one per channel (weighed as
    :meth:`~hbf_edge.families.mser.system.MserSizes.mse_noise`).  ``backend``: ``"numba"`` (the
    compiled loop of :mod:`hbf_edge.kernels.mser.mmse_gd`, default) or ``"numpy"`` (this
    module's reference loop; they agree to 1e-12 over a few iterations, a test)."""
    if backend not in ("numba", "numpy"):
        raise ConfigError(f"backend must be numba or numpy, got {backend!r}")
    H = sizes.check_channels(H)
    sigma = sizes.mse_noise(sigma)
    p = power / sizes.power_divisor
    d = dft_alignment(H, sizes, power)
    B = H.shape[0]
    if backend == "numba":
        from hbf_edge.kernels.mser.mmse_gd import mmse_gd_design

        s2 = np.broadcast_to(np.asarray(sigma, dtype=np.float64) ** 2, (B,))
        return Design(*mmse_gd_design(H, tuple(d), s2, p, iterations))
    steps = {k: np.full(B, 1e-3) for k in ("V", "W", "U", "F")}

    def col(t: np.ndarray, nd: int) -> np.ndarray:
        return t.reshape((-1,) + (1,) * (nd - 1))

    for _ in range(iterations):
        g = mse_gradients(H, d, sigma)
        d, steps["V"] = _search(H, d, sigma, steps["V"], lambda x, t: x._replace(
            V=scale_power(x.F, x.V - col(t, 3) * g["V"], p)))
        g = mse_gradients(H, d, sigma)
        d, steps["W"] = _search(H, d, sigma, steps["W"], lambda x, t: x._replace(W=x.W - col(t, 4) * g["W"]))
        g = mse_gradients(H, d, sigma)
        d, steps["U"] = _search(H, d, sigma, steps["U"], lambda x, t: x._replace(
            U=np.exp(1j * (np.angle(x.U) - col(t, 4) * g["theta_U"]))))
        g = mse_gradients(H, d, sigma)

        def move_f(x: Design, t: np.ndarray, g: dict = g) -> Design:
            F = np.exp(1j * (np.angle(x.F) - col(t, 3) * g["theta_F"]))
            return x._replace(F=F, V=scale_power(F, x.V, p))  # (26) on the moved F

        d, steps["F"] = _search(H, d, sigma, steps["F"], move_f)
    return d
