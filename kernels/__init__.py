"""Numba real-arithmetic kernels for the unfolded networks (numpy and numba only, no torch).

One module per network family; each has private ``@njit(cache=True)`` kernels beside public
wrappers that check dtype, shape, contiguity and finiteness and allocate the outputs.

* :mod:`kernels.upga` -- unfolded PGA (``upga_multiuser_hbf.txt``), float32 / float64;
* :mod:`kernels.upga_hw` -- its bit-accurate fixed-point hardware mode;
* :mod:`kernels.upganet` -- UPGANet for joint communications and sensing
  (``upganet_jcas.txt``), float32 / float64;
* :mod:`kernels.upganet_hw` -- its bit-accurate fixed-point hardware mode;
* :mod:`kernels.deepfp` -- DeepFP (``deepfp.txt``), float64, step DNNs included;
* :mod:`kernels.deepfp_hw` -- its hardware mode: integer step DNNs, fixed-point V;
* :mod:`kernels.tables` -- the code -> (cos, sin) table and format rows from the hardware spec.

Importing the package is light: numba is imported (and kernels compiled or loaded from the
cache) on first use of a kernel, so tools that only read specs or tables stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "UpgaSteps": "upga",
    "load_upga": "upga",
    "upga_forward": "upga",
    "upga_init": "upga",
    "upga_layers": "upga",
    "f_step": "upga",
    "w_step": "upga",
    "UpganetModel": "upganet",
    "load_upganet": "upganet",
    "upganet_forward": "upganet",
    "upganet_forward_hw": "upganet_hw",
    "load_upganet_hw": "upganet_hw",
    "JCAS_COUNTER_SITES": "upganet_hw",
    "HardwareResult": "upga_hw",
    "upga_forward_hw": "upga_hw",
    "CodeSearch": "upga_hw",
    "check_hardware_spec": "upga_hw",
    "COUNTER_SITES": "upga_hw",
    "DeepfpModel": "deepfp",
    "load_deepfp": "deepfp",
    "deepfp_forward": "deepfp",
    "deepfp_forward_hw": "deepfp_hw",
    "int_dnn": "deepfp_hw",
    "DEEPFP_COUNTER_SITES": "deepfp_hw",
    "phase_lut": "tables",
    "format_table": "tables",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
