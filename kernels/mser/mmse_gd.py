"""The compiled MMSE-based GD (:mod:`kernels.mser._mmse`) on a batch: checks, copies, and the
serial or parallel driver by batch size."""

from __future__ import annotations

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW

__all__ = ["mmse_gd_design"]


def mmse_gd_design(H: np.ndarray, start: tuple[np.ndarray, ...], s2: np.ndarray, power: float,
                   iterations: int) -> tuple[np.ndarray, ...]:
    """``iterations`` of the MMSE-based GD from ``start = (F, V, U, W)`` on channels ``H [B, K,
    N_r, N_t]`` (complex128), noise variances ``s2 [B]`` (the MSE's, per unit symbol energy) and
    ``||F V||_F^2 = power``; returns the design ``(F, V, U, W)`` as new arrays."""
    H = np.ascontiguousarray(H, dtype=np.complex128)
    if H.ndim != 4 or H.shape[0] == 0:
        raise ShapeError(f"H must be complex [B, K, N_r, N_t], got {list(H.shape)}")
    B, K, Nr, Nt = H.shape
    _checks.finite("H", H)
    F, V, U, W = (np.array(x, dtype=np.complex128, order="C") for x in start)
    if F.ndim != 3 or F.shape[:2] != (B, Nt) or V.shape[:2] != (B, F.shape[2]) or U.shape[:3] != (B, K, U.shape[2]) \
            or U.shape[3] != Nr or W.shape[:3] != (B, K, U.shape[2]) or V.shape[2] != K * W.shape[3]:
        raise ShapeError(f"the start does not fit H {list(H.shape)}: F {list(F.shape)}, V {list(V.shape)}, "
                         f"U {list(U.shape)}, W {list(W.shape)}")
    # a writable copy whatever came in: a per-channel array came through broadcast_to as a
    # read-only view, a scalar as a copy, and Numba compiled the kernel once for each
    s2 = np.array(np.broadcast_to(np.asarray(s2, dtype=np.float64), (B,)))
    if not (np.all(np.isfinite(s2)) and np.all(s2 > 0)):
        raise ConfigError("the noise variances must be finite and > 0")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ConfigError(f"iterations must be an integer >= 0, got {iterations!r}")
    from hbf_edge.kernels._core.batching import serial_channels
    from hbf_edge.kernels.mser._mmse import mmse_gd_batch, mmse_gd_range

    if B < SERIAL_BELOW:
        serial_channels(mmse_gd_range, H, F, V, U, W, s2, float(power), iterations)
    else:
        mmse_gd_batch(H, F, V, U, W, s2, float(power), iterations)
    return F, V, U, W
