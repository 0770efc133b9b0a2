"""Units, in one numpy-only place: SNR in dB at the edges (CLI, files), linear powers inside."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["snr_db_to_power"]


def snr_db_to_power(snr_db: Any, noise: float = 1.0) -> np.ndarray:
    """``P_t = sigma_n^2 10^(SNR/10)``: SNR means ``P_t / sigma_n^2`` everywhere."""
    return noise * np.power(10.0, np.asarray(snr_db, dtype=np.float64) / 10.0)
