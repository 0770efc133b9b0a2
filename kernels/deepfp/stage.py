"""The kernel stage of DeepFP: the float and hardware-mode kernels on a model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families.deepfp.wsr import random_init
from hbf_edge.kernels.deepfp.forward import deepfp_forward, load_deepfp
from hbf_edge.kernels.deepfp.hardware import deepfp_forward_hw

__all__ = ["KERNELS", "DeepfpKernels"]


def _inputs(model: Any, H: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Channels and the seeded random start V0 (Section IV-D), split into real and imaginary."""
    B, L, K, _, _, Nt = H.shape
    V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
    return tuple(np.ascontiguousarray(a) for a in (H.real, H.imag, V0.real, V0.imag))


class DeepfpKernels:
    """:class:`~hbf_edge.families._protocol.KernelStage` of DeepFP (unit noise, unit power per BS)."""

    def load(self, model_dir: Path) -> Any:
        return load_deepfp(model_dir)

    def forward(self, model: Any, H: np.ndarray, seed: int = 2026) -> dict[str, np.ndarray]:
        """Float64 kernel from the seeded start: ``V [B, L, K, N_t, d]`` complex128."""
        v_re, v_im, steps = deepfp_forward(*_inputs(model, H, seed), model)
        return {"V": v_re + 1j * v_im, "steps": steps}

    def forward_hw(self, model_dir: Path, H: np.ndarray, seed: int = 2026) -> dict[str, Any]:
        """Hardware mode of a quantized directory: V words, step codes, counters, V."""
        model = load_deepfp(model_dir)
        r = deepfp_forward_hw(*_inputs(model, H, seed), model)
        return {"v_re": r.v_code_re, "v_im": r.v_code_im, "step_codes": r.step_codes, "counters": r.counters,
                "V": r.v}


KERNELS = DeepfpKernels()
