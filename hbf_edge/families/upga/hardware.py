"""Sum rates of the bit-accurate hardware kernel on a quantized UPGA model directory (the
kernel is run by :func:`hbf_edge.kernels.upga.stage.hardware_design`, re-exported here)."""

from __future__ import annotations

import os

import numpy as np

from hbf_edge.baselines import sum_rate_np
from hbf_edge.kernels.upga.stage import hardware_design
from hbf_edge.modelfiles import read_model_dir
from hbf_edge.units import snr_db_to_power

__all__ = ["hardware_design", "hardware_sum_rates"]  # hardware_design: kernels.upga.stage


def hardware_sum_rates(model_dir: str | os.PathLike, H: np.ndarray, snr_db: list[float],
                       noise: float = 1.0) -> list[float]:
    """Mean sum rate (eq. 4, bit/s/Hz) of the hardware kernel's designs at each SNR."""
    loaded = read_model_dir(model_dir)
    B = H.shape[0]
    rates = []
    for snr in snr_db:
        p_t, n = np.full(B, float(snr_db_to_power(snr, noise))), np.full(B, float(noise))
        res = hardware_design(loaded, H, p_t, n)
        rates.append(float(sum_rate_np(H, res.analog() @ res.digital(), n).mean()))
    return rates
