"""The one place where the working precision (``float32`` | ``float64``) is resolved."""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError

__all__ = ["PRECISIONS", "DEFAULT_PRECISION", "resolve_precision", "numpy_dtype", "torch_dtype"]

PRECISIONS = ("float32", "float64")
# float64 by default: the toolkit is the reference that fixed-point hardware is compared with,
# and at these sizes (N <= 256, M, K <= 16) float64 costs little on a CPU.
DEFAULT_PRECISION = "float64"


def resolve_precision(name: str | None = None) -> str:
    """Validate a precision name; ``None`` gives the default."""
    if name is None:
        return DEFAULT_PRECISION
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {name!r}")
    return name


def numpy_dtype(name: str | None = None) -> np.dtype:
    return np.dtype(resolve_precision(name))


def torch_dtype(name: str | None = None) -> Any:
    import torch  # deferred: hbf_edge must import without torch

    return {"float32": torch.float32, "float64": torch.float64}[resolve_precision(name)]
