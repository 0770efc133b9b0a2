"""Where the MSER network starts (numpy only): the DFT alignment of spec 2.4 (the default, the
paper's "channel alignment"), or the MMSE-based GD design (:mod:`~hbf_edge.families.mser.mmse_gd`,
T iterations, its combiners normalised as the layers expect).

A model directory records its start (``family_config["start"]``; absent in directories from
before the option: the alignment), and every stage that runs the network -- torch, the float and
integer kernels, the ONNX check, the profiler -- starts it there.  The MMSE start depends on the
noise, so it is computed per channel at the channel's SNR; on hardware it is the host's work, as
the alignment is.  Measured (README "MMSE-based GD and imperfect CSI"): a network trained from
the alignment, run from MMSE-based GD-50's design, has 8-21x lower SER.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.gd import Design, dft_alignment, normalise_combiners
from hbf_edge.families.mser.system import MserSizes

__all__ = ["START_KINDS", "design_start", "check_start"]

START_KINDS = ("alignment", "mmse-gd")


def check_start(start: Any) -> dict[str, Any]:
    """A start record ``{"kind", "iterations"}`` checked (None: the alignment)."""
    if start is None:
        return {"kind": "alignment", "iterations": 0}
    if (not isinstance(start, dict) or start.get("kind") not in START_KINDS
            or isinstance(start.get("iterations"), bool) or not isinstance(start.get("iterations"), int)
            or start["iterations"] < (1 if start["kind"] == "mmse-gd" else 0)):
        raise ConfigError(f"an MSER start is {{kind: {' | '.join(START_KINDS)}, iterations: int (>= 1 for mmse-gd)}}, "
                          f"got {start!r}")
    return {"kind": start["kind"], "iterations": int(start["iterations"])}


def design_start(H: np.ndarray, sizes: MserSizes, sigma: float | np.ndarray, start: Any = None) -> Design:
    """The start of channels ``H`` at noise std ``sigma`` (a number or one per channel)."""
    s = check_start(start)
    if s["kind"] == "alignment":
        return dft_alignment(H, sizes)
    from hbf_edge.families.mser.mmse_gd import mmse_gd

    d = mmse_gd(H, sizes, sigma, s["iterations"])
    return Design(d.F, d.V, d.U, normalise_combiners(d.U, d.W))
