"""Integer primitives of the bit-accurate datapath (Numba, int64 only, no float operation).

A format row is ``[frac_bits, min_int, max_int, rounding, saturate]`` (see
:func:`kernels._core.tables.format_table`); rounding codes: 0 half_up, 1 half_even, 2 floor.
Every stored value passes through :func:`fit`, which saturates (or wraps) and counts the event
in ``counts[site]``.
"""

from __future__ import annotations

from hbf_edge.hw.spec import FORMATS
from hbf_edge.kernels._core.jit import njit

HALF_UP, HALF_EVEN, FLOOR = 0, 1, 2
# rows of the format table, derived from the spec's one tuple.  Numba freezes these into the
# compiled code and its cache is keyed on this file only: reordering FORMATS needs the cache
# cleared (the kernels' tests would fail, not silently pass, since every row has another width)
CH, LUT, ACC, GRD, STP, PRE = (FORMATS.index(n) for n in ("channel", "lut", "accumulator", "gradient", "step",
                                                          "precoder"))


@njit(cache=True, inline="always")
def rshift(x, s, mode):  # pragma: no cover - compiled
    """``x * 2**-s`` rounded by ``mode`` (``s <= 0`` is an exact left shift)."""
    if s <= 0:
        return x << (-s)
    if mode == FLOOR:
        return x >> s
    if mode == HALF_UP:
        return (x + (1 << (s - 1))) >> s
    q = x >> s
    r = x - (q << s)
    half = 1 << (s - 1)
    if r > half or (r == half and (q & 1) == 1):
        q += 1
    return q


@njit(cache=True, inline="always")
def fit(x, fmt, counts, site):  # pragma: no cover - compiled
    """Saturate (or wrap) ``x`` into the word of ``fmt``; count overflows in ``counts[site]``."""
    lo = fmt[1]
    hi = fmt[2]
    if x > hi or x < lo:
        counts[site] += 1
        if fmt[4] != 0:
            return hi if x > hi else lo
        span = hi - lo + 1
        return (x - lo) % span + lo
    return x


@njit(cache=True, inline="always")
def requant(x, s, fmt, counts, site):  # pragma: no cover - compiled
    """Round ``x`` down by ``s`` fraction bits with ``fmt``'s rule, then fit it into ``fmt``."""
    return fit(rshift(x, s, fmt[3]), fmt, counts, site)


@njit(cache=True, inline="always")
def div_round(num, den, mode):  # pragma: no cover - compiled
    """``num / den`` rounded by ``mode`` (``den != 0``); integer division only."""
    if den < 0:
        num = -num
        den = -den
    if mode == FLOOR:
        return num // den
    if mode == HALF_UP:
        return (2 * num + den) // (2 * den)
    q = num // den
    r = num - q * den
    if 2 * r > den or (2 * r == den and (q & 1) == 1):
        q += 1
    return q


@njit(cache=True)
def isqrt(n):  # pragma: no cover - compiled
    """``floor(sqrt(n))`` for ``0 <= n < 2**62``, digit by digit (shifts and adds only)."""
    if n <= 0:
        return 0
    bit = 1 << 62
    while bit > n:
        bit >>= 2
    r = 0
    while bit != 0:
        if n >= r + bit:
            n -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    return r


@njit(cache=True)
def nearest_code(xr, xi, lut_c, lut_s):  # pragma: no cover - compiled
    """Nearest phase code of the vector ``(xr, xi)``: ``argmax_c xr*cos_c + xi*sin_c``.

    The projection onto the table entries defines "nearest" exactly in integers.  A tie goes
    counter-clockwise, as in :func:`hbf_edge.hw.spec.phase_to_code`: the most counter-clockwise
    tied code as seen from the vector wins (with Q=1, 90 degrees gives code 1 and 270 degrees
    code 0).  The table's rounding can tie codes that are not neighbours (Q=8: (430, -260)
    projects equally on codes 233 and 235, less on 234) and, for vectors of a few LSBs, longer
    runs.  ``(0, 0)`` maps to code 0.  A quadrant test and a
    binary search with cross products give the code ``c0`` whose sector ``[c0, c0+1)`` holds
    the vector; the argmax is among ``c0-1 .. c0+2`` (table rounding can move a sector test or
    a tie by at most one code), which are checked in counter-clockwise order.
    """
    n = lut_c.shape[0]
    mask = n - 1  # n is a power of two: "& mask" is "mod n", also for negative indices
    if xr == 0 and xi == 0:
        return 0
    if n == 2:  # codes at 0 and pi; a tie means xr = 0, decided by the half plane
        p0 = xr * lut_c[0] + xi * lut_s[0]
        p1 = xr * lut_c[1] + xi * lut_s[1]
        if p0 != p1:
            return 0 if p0 > p1 else 1
        return 1 if xi > 0 else 0
    else:
        if xr > 0 and xi >= 0:
            q = 0
        elif xr <= 0 and xi > 0:
            q = 1
        elif xr < 0 and xi <= 0:
            q = 2
        else:
            q = 3
        per = n // 4
        lo = q * per
        hi = lo + per - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if lut_c[mid] * xi - lut_s[mid] * xr >= 0:  # angle(x) >= angle(code mid)
                lo = mid
            else:
                hi = mid - 1
        c0 = lo
    best = 0
    best_p = 0
    for t in range(4):
        c = (c0 - 1 + t) & mask
        p = xr * lut_c[c] + xi * lut_s[c]
        if t == 0 or p >= best_p:
            best = c
            best_p = p
    for _ in range(n):  # a longer tied run: walk to its counter-clockwise end
        c = (best + 1) & mask
        if xr * lut_c[c] + xi * lut_s[c] != best_p:
            break
        best = c
    return best


@njit(cache=True)
def nearest_codes_into(xr, xi, lut_c, lut_s, out):  # pragma: no cover - compiled
    """:func:`nearest_code` of every vector ``(xr[j], xi[j])`` into ``out[j]`` (1-D int64
    arrays): the torch datapath models' code decision outside a trace
    (:func:`hbf_edge.quant._core.datapath.nearest_codes`)."""
    for j in range(xr.shape[0]):
        out[j] = nearest_code(xr[j], xi[j], lut_c, lut_s)
