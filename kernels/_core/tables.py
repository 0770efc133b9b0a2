"""Tables the kernels read from the hardware spec (numpy only).

The code -> (cos, sin) table is built by :meth:`HardwareSpec.phase_table`, the one function the
kernel, the QAT model and the exporter all call, so they agree by construction.
"""

from __future__ import annotations

import numpy as np

from hbf_edge.hw.spec import FORMATS, FixedPointFormat, HardwareSpec

__all__ = ["phase_lut", "format_row", "format_table", "FORMAT_NAMES", "ROUNDING_CODES"]

ROUNDING_CODES = {"half_up": 0, "half_even": 1, "floor": 2}
# order of the rows of format_table (the hardware kernel indexes them by position)
FORMAT_NAMES = FORMATS  # the table's rows


def phase_lut(spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray]:
    """Code -> (cos, sin) in the ``lut`` format: :meth:`HardwareSpec.phase_table`."""
    return spec.phase_table()


def format_row(fmt: FixedPointFormat) -> np.ndarray:
    """``[frac_bits, min_int, max_int, rounding code, saturate]`` as int64."""
    return np.array(
        [fmt.frac_bits, fmt.min_int, fmt.max_int, ROUNDING_CODES[fmt.rounding], int(fmt.saturate)],
        dtype=np.int64,
    )


def format_table(spec: HardwareSpec) -> np.ndarray:
    """The formats of ``FORMAT_NAMES`` stacked, ``[6, 5]`` int64."""
    return np.stack([format_row(getattr(spec, name)) for name in FORMAT_NAMES])
