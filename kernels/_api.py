"""The kernel stage's public entry points: the float and hardware kernels on arrays."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["forward", "forward_hw"]


def _stage(model_dir: str | os.PathLike) -> Any:
    from hbf_edge.kernels import REGISTRY
    from hbf_edge.modelfiles import read_model_dir

    return REGISTRY.get(read_model_dir(model_dir)[0].family)


def forward(model_dir: str | os.PathLike, H: Any, **conditions: Any) -> dict[str, np.ndarray]:
    """The float64 Numba kernel of a model directory on the user's channels ``H`` (the family's
    channel shape, e.g. UPGA ``[B, N, K]`` complex); ``conditions``: the family's (``snr_db``,
    ``noise`` for the MISO families; ``seed`` of the random start for DeepFP).  Returns the
    design, e.g. ``F [B, N, M]``, ``W [B, M, K]`` complex128."""
    stage = _stage(model_dir)
    return stage.forward(stage.load(Path(model_dir)), np.ascontiguousarray(np.asarray(H, np.complex128)),
                         **conditions)


def forward_hw(model_dir: str | os.PathLike, H: Any, **conditions: Any) -> dict[str, Any]:
    """The bit-accurate hardware kernel of a quantized model directory on ``H``: integer codes
    and words (e.g. UPGA ``codes [B, N, M]``, ``w_re, w_im [B, M, K]``), the overflow counters
    per site and the applied design."""
    return _stage(model_dir).forward_hw(Path(model_dir), np.ascontiguousarray(np.asarray(H, np.complex128)),
                                        **conditions)
