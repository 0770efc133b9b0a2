"""The kernel stage of UPGANet: float and bit-accurate kernels on a model directory's arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.kernels.upganet.forward import load_upganet, upganet_forward
from hbf_edge.kernels.upganet.hardware import load_upganet_hw, upganet_forward_hw
from hbf_edge.units import snr_db_to_power

__all__ = ["KERNELS", "UpganetKernels"]


def _inputs(H: np.ndarray, snr_db: float, noise: float) -> tuple[np.ndarray, ...]:
    B = H.shape[0]
    return (np.ascontiguousarray(H.real, np.float64), np.ascontiguousarray(H.imag, np.float64),
            np.full(B, float(snr_db_to_power(snr_db, noise))), np.full(B, float(noise)))


class UpganetKernels:
    """:class:`~hbf_edge.families._protocol.KernelStage` of UPGANet."""

    def load(self, model_dir: Path) -> Any:
        return load_upganet(model_dir)

    def forward(self, model: Any, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0) -> dict[str, np.ndarray]:
        """Float64 kernel: ``F [B, N, M]`` and ``W [B, M, K]`` complex128."""
        f_re, f_im, w_re, w_im = upganet_forward(*_inputs(H, snr_db, noise), model)[:4]
        return {"F": f_re + 1j * f_im, "W": w_re + 1j * w_im}

    def forward_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0) -> dict[str, Any]:
        """Hardware kernel of a quantized directory: codes, W words, counters, applied F and W."""
        model, spec = load_upganet_hw(model_dir)
        r = upganet_forward_hw(*_inputs(H, snr_db, noise), model, spec)
        return {"codes": r.codes, "w_re": r.w_re, "w_im": r.w_im, "counters": r.counters, "F": r.analog(),
                "W": r.digital()}


KERNELS = UpganetKernels()
