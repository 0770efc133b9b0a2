"""hbf-edge: hardware-aware deployment toolkit for deep-unfolded hybrid beamformers.

The public API, by stage (each function takes a family name or a model directory and the
fields of the family's settings dataclass as keywords):

* core: :func:`train`, :func:`evaluate`, :func:`profile`, :func:`load`, :func:`make_channels`,
  :func:`settings`, :func:`families` (this package, :mod:`hbf_edge.api`);
* :func:`hbf_edge.kernels.forward`, :func:`hbf_edge.kernels.forward_hw` -- the Numba kernels
  on a user's channel arrays;
* :func:`hbf_edge.quant.quantize`, :func:`hbf_edge.quant.load` -- QAT/PTQ (Brevitas);
* :func:`hbf_edge.export.export` -- the verified bundle;
* :func:`hbf_edge.firmware_sim.simulate` -- the RF front-end controller replay.

Importing the package is light (numpy only, no torch) so that ``kernels/`` and the firmware
side can share the :class:`HardwareSpec`; torch is imported by the operations that need it.
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
from hbf_edge.api import evaluate, families, family_of, load, make_channels, profile, settings, train
from hbf_edge.families import register_family

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "train",
    "evaluate",
    "profile",
    "load",
    "make_channels",
    "settings",
    "families",
    "family_of",
    "register_family",
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
