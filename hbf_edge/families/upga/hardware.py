"""The bit-accurate hardware kernel on a quantized UPGA model directory.

One place reads what a model directory asks of the datapath -- per-layer precision, the output
stage's ``xi``, the code search -- and runs ``kernels.upga_forward_hw`` with it; the bundle
exporter, the hybrid mode and the retention tables all call it, so they cannot drift apart.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import validate_miso_channels
from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig, read_model_dir
from hbf_edge.training import snr_db_to_power

__all__ = ["hardware_design", "hardware_sum_rates"]


def hardware_design(model: str | os.PathLike | tuple[ModelConfig, dict[str, np.ndarray]], H: np.ndarray,
                    p_t: np.ndarray, noise: np.ndarray) -> Any:
    """``kernels.HardwareResult`` of a quantized UPGA model (a directory, or its already read
    ``(config, arrays)``) on channels ``H [B, N, K]`` at powers ``p_t`` and ``noise`` ``[B]``."""
    from hbf_edge import kernels
    from hbf_edge.kernels.upga.hardware import model_search
    from hbf_edge.hw.precision import PrecisionConfig

    config, arrays = read_model_dir(model) if isinstance(model, (str, os.PathLike)) else model
    if config.family != "upga" or config.precision is None:
        raise ConfigError(f"the hardware kernel needs a quantized upga model (hbf-edge quantize), got a "
                          f"{'float ' if config.precision is None else ''}{config.family} model")
    H = validate_miso_channels(H, config.spec.n_antennas, config.spec.n_users, name="channels")
    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    return kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise,
                                   arrays["mu"], arrays["lam"], specs[0], specs, xi=config.output_xi,
                                   search=model_search(config))


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
