"""The kernel stage of UPGA: the float and bit-accurate kernels on a model directory's arrays.

:func:`hardware_design` is the one place that reads what a quantized model directory asks of
the datapath -- per-layer precision, the output stage's ``xi``, the code search -- and runs
:func:`~hbf_edge.kernels.upga.hardware.upga_forward_hw` with it; the bundle exporter, the
retention tables, the hybrid mode and the contract tests all call it, so they cannot drift.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.kernels.upga.forward import load_upga, upga_forward
from hbf_edge.kernels.upga.hardware import model_search, upga_forward_hw
from hbf_edge.units import snr_db_to_power

__all__ = ["KERNELS", "UpgaKernels", "hardware_design", "hardware_session"]


def _split(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(H)
    return np.ascontiguousarray(H.real, np.float64), np.ascontiguousarray(H.imag, np.float64)


def _hardware_args(model: str | os.PathLike | tuple[Any, dict[str, np.ndarray]]) -> tuple[tuple, dict[str, Any]]:
    """The positional and keyword arguments of ``upga_forward_hw`` after the per-channel inputs
    that a quantized UPGA model (a directory, or its already read ``(config, arrays)``) asks for."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model) if isinstance(model, (str, os.PathLike)) else model
    if not runs_on(config.family, "upga") or config.precision is None:
        raise ConfigError(f"the hardware kernel needs a quantized upga model (hbf-edge quantize), got a "
                          f"{'float ' if config.precision is None else ''}{config.family} model")
    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    return (arrays["mu"], arrays["lam"], specs[0], specs), {"xi": config.output_xi, "search": model_search(config)}


def hardware_design(model: str | os.PathLike | tuple[Any, dict[str, np.ndarray]], H: np.ndarray,
                    p_t: np.ndarray, noise: np.ndarray) -> Any:
    """:class:`~hbf_edge.kernels.upga.hardware.HardwareResult` of a quantized UPGA model (a
    directory, or its already read ``(config, arrays)``).

    Parameters
    ----------
    H : ndarray of complex, [B, N, K]
    p_t, noise : ndarray of float64, [B]
    """
    args, kwargs = _hardware_args(model)
    h_re, h_im = _split(H)
    return upga_forward_hw(h_re, h_im, p_t, noise, *args, **kwargs)


def hardware_session(model: str | os.PathLike | tuple[Any, dict[str, np.ndarray]], batch: int = 1) -> Any:
    """The real-time path of a quantized UPGA model: an
    :class:`~hbf_edge.kernels.upga.hw_session.UpgaHwSession` for ``batch`` channels per call,
    with the model's per-layer precision, output stage and code search (the designs of
    :func:`hardware_design`, bit for bit)."""
    from hbf_edge.kernels.upga.hw_session import UpgaHwSession

    args, kwargs = _hardware_args(model)
    return UpgaHwSession(*args, batch=batch, **kwargs)


class UpgaKernels:
    """:class:`~hbf_edge.families._protocol.KernelStage` of UPGA."""

    def load(self, model_dir: Path) -> Any:
        return load_upga(model_dir)

    def forward(self, model: Any, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0) -> dict[str, np.ndarray]:
        """Float64 kernel: ``F [B, N, M]`` and ``W [B, M, K]`` complex128."""
        B = H.shape[0]
        p_t, n = np.full(B, float(snr_db_to_power(snr_db, noise))), np.full(B, float(noise))
        h_re, h_im = _split(H)
        f_re, f_im, w_re, w_im = upga_forward(h_re, h_im, p_t, n, model.mu, model.lam, model.n_rf)
        return {"F": f_re + 1j * f_im, "W": w_re + 1j * w_im}

    def forward_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0) -> dict[str, np.ndarray]:
        """Hardware kernel: ``codes [B, N, M]``, ``w_re, w_im [B, M, K]`` words, ``counters``
        (site -> overflow events ``[B]``), and the applied ``F``, ``W`` complex128."""
        B = H.shape[0]
        p_t, n = np.full(B, float(snr_db_to_power(snr_db, noise))), np.full(B, float(noise))
        r = hardware_design(model_dir, H, p_t, n)
        return {"codes": r.codes, "w_re": r.w_re, "w_im": r.w_im, "counters": r.counters, "F": r.analog(),
                "W": r.digital()}


KERNELS = UpgaKernels()
