"""Private primitives of MSER's integer datapath (:mod:`kernels.mser._fixed`, whose docstring
is the contract): the format rows and counter sites by name, and rounding, saturation and
requantisation as compiled calls (calls keep Numba's compile time down, as JCEHB's)."""

from __future__ import annotations

from hbf_edge.families.mser.formats import COUNTER_SITES, KERNEL_TABLE_BITS, KERNEL_U_MAX, MSER_FORMATS
from hbf_edge.kernels._core.fixed import fit, int64_range, rshift
from hbf_edge.kernels._core.jit import njit

CH, LUT, ACC, STP, KER, PRE, CMB = int64_range(len(MSER_FORMATS))  # the rows, in MSER_FORMATS' order
(S_IN, S_FWD, S_WGT, S_GRD, S_STP, S_PRE, S_CMB, S_NORM) = int64_range(len(COUNTER_SITES))
N_SITES = len(COUNTER_SITES)
TB = KERNEL_TABLE_BITS
I_MAX = KERNEL_U_MAX << KERNEL_TABLE_BITS


@njit(cache=True)
def _fit(x, fmt, cnt, site):  # pragma: no cover - compiled
    """:func:`kernels._core.fixed.fit` as a call (keeps Numba's compile time down, as JCEHB's)."""
    return fit(x, fmt, cnt, site)


@njit(cache=True)
def _rs(x, s, mode):  # pragma: no cover - compiled
    return rshift(x, s, mode)


@njit(cache=True)
def _rq(x, s, fm, row, cnt, site):  # pragma: no cover - compiled
    """``x 2^-s`` rounded by format ``row``'s rule and fitted into it."""
    return _fit(_rs(x, s, fm[row, 3]), fm[row], cnt, site)
