"""hbf-edge: hardware-aware deployment toolkit for deep-unfolded hybrid beamformers.

Importing the package is light (numpy only, no torch) so that ``kernels/`` and the firmware
side can share the :class:`HardwareSpec`.  The torch parts live in submodules
(``hbf_edge.families.upga.model``, ``hbf_edge.training``, ...) that are imported on demand.
"""

from __future__ import annotations

from hbf_edge.errors import (
    ConfigError,
    DatasetError,
    DTypeError,
    HbfEdgeError,
    InvalidChannelError,
    ModelDirError,
    ShapeError,
)
from hbf_edge.hw.spec import FixedPointFormat, HardwareSpec, code_to_phase, phase_to_code

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "HardwareSpec",
    "FixedPointFormat",
    "phase_to_code",
    "code_to_phase",
    "HbfEdgeError",
    "ConfigError",
    "ShapeError",
    "DTypeError",
    "InvalidChannelError",
    "ModelDirError",
    "DatasetError",
]
