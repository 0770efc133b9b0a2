"""The bit-accurate hardware kernel on a quantized UPGA model directory.

One place reads what a model directory asks of the datapath -- per-layer precision, the output
stage's ``xi``, the code search -- and runs ``kernels.upga_forward_hw`` with it; the bundle
exporter, the hybrid mode and the retention tables all call it, so they cannot drift apart.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .baselines import sum_rate_np
from .channels import validate_miso_channels
from .errors import ConfigError
from .modelfiles import ModelConfig, read_model_dir
from .training import snr_db_to_power

__all__ = ["hardware_design", "hardware_sum_rates", "ptq_refit_search"]


def hardware_design(model: str | os.PathLike | tuple[ModelConfig, dict[str, np.ndarray]], H: np.ndarray,
                    p_t: np.ndarray, noise: np.ndarray) -> Any:
    """``kernels.HardwareResult`` of a quantized UPGA model (a directory, or its already read
    ``(config, arrays)``) on channels ``H [B, N, K]`` at powers ``p_t`` and ``noise`` ``[B]``."""
    import kernels
    from kernels.upga_hw import model_search
    from quant.config import PrecisionConfig

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


def ptq_refit_search(model: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, spec: Any,
                     search: Any) -> tuple[np.ndarray, np.ndarray]:
    """The PTQ-refit baseline given the same code search as the hardware datapath: the float
    model's phases rounded to Q bits (``quant.ptq``), then the kernel's search with the zero
    forcing output stage (``xi = 0``: refit's W), in ``spec``'s formats.  Returns the codes
    ``[B, N, M]`` and the true W ``[B, M, K]``."""
    from kernels.upga_hw import COUNTER_SITES, prepare_hw_inputs, run_search
    from quant.ptq import ptq_design

    codes, _, _ = ptq_design(model, H, p_t, noise, spec, "round")
    no_layer = np.zeros((1, 1)), np.zeros(1)  # the search reads only the channel, powers and tables
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *no_layer, spec,
                          [spec], xi=0.0)
    B, N, M = codes.shape
    K = H.shape[2]
    codes = np.ascontiguousarray(codes, np.int64)
    w_r, w_i = np.zeros((B, M, K), np.int64), np.zeros((B, M, K), np.int64)
    run_search(x, search, codes, w_r, w_i, np.zeros((B, len(COUNTER_SITES) - 1), np.int64))
    W = (spec.precoder.to_float(w_r) + 1j * spec.precoder.to_float(w_i)) * np.sqrt(p_t / N)[:, None, None]
    return codes, W
