"""Tables derived from the hardware spec, shared by the kernels and the exporters (numpy only).

The code -> (cos, sin) table here is *the* table: the hardware kernel computes with it and the
exporter writes it, so both agree by construction.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.spec import FixedPointFormat, HardwareSpec, code_to_phase

__all__ = ["phase_lut", "format_row", "format_table", "FORMAT_NAMES", "ROUNDING_CODES"]

ROUNDING_CODES = {"half_up": 0, "half_even": 1, "floor": 2}
# order of the rows of format_table (the hardware kernel indexes them by position)
FORMAT_NAMES = ("channel", "lut", "accumulator", "gradient", "step", "precoder")


def phase_lut(spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
    """Code -> (cos, sin) in the ``lut`` format: ``round(cos(2 pi c / 2**Q) * 2**f_lut)``.

    Returns
    -------
    cos, sin : ndarray of int64, [2**Q]
    """
    if spec.phase_bits is None:
        raise ConfigError("the hardware spec has infinite phase resolution (phase_bits=None): no phase table")
    angles = code_to_phase(np.arange(spec.n_codes), spec.phase_bits)
    c, n_c = spec.lut.to_int(np.cos(angles))
    s, n_s = spec.lut.to_int(np.sin(angles))
    if n_c or n_s:
        raise ConfigError(f"the lut format {spec.lut} cannot hold +-1: pick at least 2 integer bits")
    return np.ascontiguousarray(c), np.ascontiguousarray(s)


def format_row(fmt: FixedPointFormat) -> np.ndarray:
    """``[frac_bits, min_int, max_int, rounding code, saturate]`` as int64."""
    return np.array(
        [fmt.frac_bits, fmt.min_int, fmt.max_int, ROUNDING_CODES[fmt.rounding], int(fmt.saturate)],
        dtype=np.int64,
    )


def format_table(spec: HardwareSpec) -> np.ndarray:
    """The formats of ``FORMAT_NAMES`` stacked, ``[6, 5]`` int64."""
    return np.stack([format_row(getattr(spec, name)) for name in FORMAT_NAMES])
