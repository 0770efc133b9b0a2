"""The float UPGA forward in the hardware's units, tapping every datapath site (numpy, slow and
obvious; for ``hbf-edge profile --numerical``).

The values are those the integer datapath of :mod:`kernels.upga._fixed` stores at each of its
overflow-counter sites, computed in float without any quantization: W held power-normalised
(``||F W||_F^2 = N``), the noise ``s2 N / P_t`` and the W step ``lambda N / P_t`` (see that
module's docstring).  A site's values are compared with the format the kernel stores them in
(:data:`SITE_FORMATS`), as hls4ml's numerical profile compares a float network's activations
with their fixed-point types.  The final F and W equal the float kernel's (``W`` scaled by
``sqrt(N / P_t)``); the tests check it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["SITE_FORMATS", "tap_forward", "sum_rate_normalised"]

# site -> the format its values are stored in (kernels/upga/_fixed.py); "precoder" is per layer
SITE_FORMATS = {"init": "accumulator", "G": "accumulator", "E": "accumulator", "power": "accumulator",
                "reciprocal": "gradient", "C": "gradient", "D": "gradient", "grad_F": "gradient",
                "F_update": "gradient", "grad_W": "gradient", "W_update": "accumulator", "norm": "accumulator",
                "W": "precoder", "output": "accumulator"}

Tap = Callable[[str, str, np.ndarray], None]  # (stage, site, values)


def _c(x: np.ndarray) -> np.ndarray:
    """Real and imaginary parts of a complex array: the words the datapath stores."""
    return np.concatenate([x.real.ravel(), x.imag.ravel()])


def _hh(a: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(a, -1, -2))


def _normalize(F: np.ndarray, W_acc: np.ndarray, n: int, stage: str, tap: Tap) -> np.ndarray:
    """Eq. (9) in the normalised units: ``W = W_acc sqrt(N / ||F W_acc||^2)``."""
    FW = F @ W_acc
    p = np.abs(FW) ** 2
    norm2 = p.sum(axis=(1, 2))
    tap(stage, "norm", np.concatenate([_c(FW), p.ravel(), norm2]))
    W = W_acc * np.sqrt(n / norm2)[:, None, None]
    tap(stage, "W", _c(W))
    return W


def _weights(H: np.ndarray, F: np.ndarray, W: np.ndarray, noise: np.ndarray, stage: str,
             tap: Tap) -> tuple[np.ndarray, np.ndarray]:
    """``G = H^H F`` and C of eq. (10)-(11), tapping G, E, the powers, reciprocals and C."""
    G = _hh(H) @ F
    E = G @ W
    p = np.abs(E) ** 2
    a = p.sum(axis=2) + noise[:, None]
    b = a - np.einsum("bkk->bk", p)
    ra, rb = 1 / a, 1 / b
    K = E.shape[1]
    coef = np.where(np.eye(K, dtype=bool)[None], ra[:, :, None], (ra - rb)[:, :, None])
    C = E * coef
    tap(stage, "G", _c(G))
    tap(stage, "E", _c(E))
    tap(stage, "power", np.concatenate([p.ravel(), a.ravel(), b.ravel()]))
    tap(stage, "reciprocal", np.concatenate([ra.ravel(), rb.ravel(), (ra - rb).ravel()]))
    tap(stage, "C", _c(C))
    return G, C


def sum_rate_normalised(H: np.ndarray, F: np.ndarray, W: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Eq. (4) per channel in the normalised units (W with ``||F W||^2 = N``, noise ``s2 N / P_t``)."""
    p = np.abs(_hh(H) @ F @ W) ** 2
    a = p.sum(axis=2) + noise[:, None]
    return np.log2(a / (a - np.einsum("bkk->bk", p))).sum(axis=1)


def tap_forward(H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, mu: np.ndarray, lam: np.ndarray, n_rf: int,
                tap: Tap, xi: float | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initialisation (eq. 12-13), the layers (eq. 6-9) and the optional output stage in float,
    calling ``tap(stage, site, values)`` with every site's values (stage ``init``, ``layer i``,
    ``output``).

    Returns the per-stage sum rates (init, each layer, then the output stage if any) and the
    final ``F [B, N, M]``, ``W [B, M, K]`` (normalised units).
    """
    B, N, K = H.shape
    noise_n = noise * N / p_t
    F = np.empty((B, N, n_rf), complex)
    mag = np.abs(H)
    F[:, :, :K] = np.where(mag > 0, H / np.where(mag > 0, mag, 1), 1)
    n = np.arange(N)[:, None]
    F[:, :, K:] = np.exp(-2j * np.pi * n * np.arange(n_rf - K)[None, :] / N)[None]
    A = _hh(H) @ H
    Z = H @ np.linalg.inv(A)
    Bm = _hh(F) @ F
    T = _hh(F) @ Z
    W_acc = np.linalg.inv(Bm) @ T
    tap("init", "init", np.concatenate([_c(A), _c(Z), _c(Bm), _c(T), _c(W_acc)]))
    W = _normalize(F, W_acc, N, "init", tap)
    rates = [sum_rate_normalised(H, F, W, noise_n)]
    for i in range(lam.shape[0]):
        stage = f"layer {i}"
        for j in range(mu.shape[1]):  # eq. (6)-(7)
            _, C = _weights(H, F, W, noise_n, stage, tap)
            D = C @ _hh(W)
            tap(stage, "D", _c(D))
            grad_F = H @ D
            tap(stage, "grad_F", _c(grad_F))
            x = F + mu[i, j] * grad_F
            tap(stage, "F_update", _c(x))
            ax = np.abs(x)
            F = np.where(ax > 0, x / np.where(ax > 0, ax, 1), 1)
        G, C = _weights(H, F, W, noise_n, stage, tap)  # eq. (8)-(9)
        grad_W = _hh(G) @ C
        tap(stage, "grad_W", _c(grad_W))
        W_acc = W + (lam[i] * N / p_t)[:, None, None] * grad_W
        tap(stage, "W_update", _c(W_acc))
        W = _normalize(F, W_acc, N, stage, tap)
        rates.append(sum_rate_normalised(H, F, W, noise_n))
    if xi is not None:  # the output stage: (G^H G + xi K/N s2' F^H F)^-1 G^H, then eq. (9)
        G = _hh(H) @ F
        A = _hh(G) @ G + (xi * K / N * noise_n)[:, None, None] * (_hh(F) @ F)
        W_acc = np.linalg.inv(A) @ _hh(G)
        tap("output", "output", np.concatenate([_c(G), _c(A), _c(W_acc)]))
        W = _normalize(F, W_acc, N, "output", tap)
        rates.append(sum_rate_normalised(H, F, W, noise_n))
    return rates, F, W
