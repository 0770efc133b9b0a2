"""The float -> integer boundary of the hardware kernels, compiled (Numba).

:func:`quantize_word` is :meth:`hbf_edge.hw.spec.FixedPointFormat.quantize` for one value,
from the format's row (:func:`kernels._core.tables.format_row`): ``x 2^frac`` rounded by the
format's rule, then saturated or wrapped into the word, with the overflow flag.  The same
IEEE operations in the same order, so the words equal numpy's bit for bit (tested on
rounding ties, saturation and wrap).  It lets a session (:class:`kernels.upga.hw_session.UpgaHwSession`)
quantise its per-call inputs inside the compiled call instead of in numpy, which at batch 1
cost as much as the datapath itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hbf_edge.kernels._core.fixed import FLOOR, HALF_UP

__all__ = ["quantize_word"]


@njit(cache=True, inline="always")
def quantize_word(x, scale, row):  # pragma: no cover - compiled
    """``(word, overflowed)`` of the finite value ``x`` in the format ``row``; ``scale`` is
    ``2.0 ** row[0]`` (exact: multiplying by a power of two is what ``np.ldexp`` does)."""
    s = x * scale
    if row[3] == HALF_UP:
        q = np.floor(s + 0.5)
    elif row[3] == FLOOR:
        q = np.floor(s)
    else:
        q = np.rint(s)  # half to even, as np.round
    lo = float(row[1])
    hi = float(row[2])
    if q > hi or q < lo:
        if row[4] != 0:
            return (row[2] if q > hi else row[1]), True
        return np.int64((q - lo) % (hi - lo + 1.0) + lo), True
    return np.int64(q), False
