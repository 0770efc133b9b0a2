"""Integer primitives of the bit-accurate datapath (Numba, int64 only, no float operation).

A format row is ``[frac_bits, min_int, max_int, rounding, saturate]`` (see
:func:`kernels._core.tables.format_table`); rounding codes: 0 half_up, 1 half_even, 2 floor.
Every stored value passes through :func:`fit`, which saturates (or wraps) and counts the event
in ``counts[site]``.
"""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.hw.spec import FORMATS
from hbf_edge.kernels._core.jit import njit

HALF_UP, HALF_EVEN, FLOOR = 0, 1, 2
# tables up to this many codes are searched exhaustively by nearest_codes_block: 256 vectors
# (2026-12-04, 2-core EPYC, scratch/hw/brute.py, best of 9) in 0.8 / 1.1 / 2.0 / 2.7 / 8.8 us
# at Q = 2 / 3 / 4 / 5 / 6 against 5.4 / 5.9 / 3.9 / 4.4 / 4.9 us for nearest_code one by one
BRUTE_CODES = 32
# rows of the format table, derived from the spec's one tuple.  Numba freezes these into the
# compiled code and its cache is keyed on this file only: reordering FORMATS needs the cache
# cleared (the kernels' tests would fail, not silently pass, since every row has another width)
CH, LUT, ACC, GRD, STP, PRE = (FORMATS.index(n) for n in ("channel", "lut", "accumulator", "gradient", "step",
                                                          "precoder"))


def int64_range(n: int) -> tuple:
    """``range(n)`` as ``np.int64`` values, for the kernels' index constants (counter sites,
    format rows) that compiled callees take as arguments.

    Why: Numba types a module-level Python ``int`` as a literal, and a compiled callee taking
    one as an argument (``fit``, ``requant``, ``cinv_fx``, ``gram_t_fx`` ...) is compiled once
    per literal value, with everything it calls; an ``np.int64`` is typed ``int64`` and one
    compilation serves every value (the UPGA hardware forward compiled ``inv_fx`` for sites 0
    and 13 and ``gram_t_fx`` and ``matmul_t_fx`` three times each; JCEHB's ``_fit`` eleven
    times, MSER's ``_rq`` ten)."""
    return tuple(np.int64(i) for i in range(n))


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


@njit(cache=True)
def shift_plan(s, mode):  # pragma: no cover - compiled
    """``(shl, shr, add, odd)`` with ``rshift(x, s, mode) == shift_by(x, shl, shr, add, odd)``
    for every int64 ``x``: the rounding rule as constants, so that a loop applying one rule to
    many words has no branch per word and vectorises.  Half-even adds ``half - 1`` plus the
    kept part's lowest bit: ``r > half`` carries, ``r < half`` does not, ``r == half`` carries
    exactly when the kept part is odd."""
    if s <= 0:
        return -s, 0, 0, 0
    half = 1 << (s - 1)
    if mode == FLOOR:
        return 0, s, 0, 0
    if mode == HALF_UP:
        return 0, s, half, 0
    return 0, s, half - 1, 1


@njit(cache=True, inline="always")
def shift_by(x, shl, shr, add, odd):  # pragma: no cover - compiled
    """:func:`rshift` with the constants of :func:`shift_plan` (branch-free)."""
    return ((x << shl) + add + ((x >> shr) & odd)) >> shr


@njit(cache=True, inline="always")
def word_of(x, lo, hi, sat):  # pragma: no cover - compiled
    """The word :func:`fit` stores for ``x`` (without counting), branch-free: clamped if
    ``sat``, else wrapped (``hi - lo`` is ``2**word_bits - 1``, so the wrap is a mask)."""
    return min(max(x, lo), hi) if sat else ((x - lo) & (hi - lo)) + lo


@njit(cache=True, inline="always")
def mul_words(a, b):  # pragma: no cover - compiled
    """``a * b`` exactly, for ``a`` and ``b`` words of formats (at most 32 bits, hw.spec): the
    product of sign-extended 32-bit values, which LLVM vectorises as one AVX2 instruction
    (vpmuldq) where an int64 product has none.  Not for sums or anything wider than a word."""
    return np.int64(np.int32(a)) * np.int64(np.int32(b))


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
    """``floor(sqrt(n))`` for ``0 <= n < 2**62``: the float64 square root, then corrected to the
    exact integer (the rounding of ``n`` and of the root can put it one off near a perfect
    square).  The function is the digit-by-digit square root's of a hardware datapath
    (:func:`isqrt_digits`, shifts and adds only; tested equal), in 2 against 24 ns a call
    (compiled loop over 1e5 values in [2^40, 2^50), 2026-12-06)."""
    if n <= 0:
        return 0
    r = np.int64(math.sqrt(n))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@njit(cache=True)
def isqrt_digits(n):  # pragma: no cover - compiled
    """``floor(sqrt(n))`` for ``0 <= n < 2**62``, digit by digit (shifts and adds only), as a
    hardware datapath computes it; :func:`isqrt` computes the same faster."""
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
def nearest_codes_block(xr, xi, lut_c, lut_s, out, best_p, tied):  # pragma: no cover - compiled
    """:func:`nearest_code` of every vector ``(xr[j], xi[j])`` into ``out[j]``, vectorised over
    the vectors (``best_p``, ``tied``: work arrays of the same length); the vectors are words of
    a format, as the table's are (their products: :func:`mul_words`).

    Tables of at most ``BRUTE_CODES`` codes are searched exhaustively, code by code over all
    vectors at once (a select per lane instead of the binary search's unpredictable branches;
    a quarter of the codes where the table turns by 90 degrees every quarter, :func:`_quarter_codes`);
    a vector whose largest projection is not unique (a tie, or ``(0, 0)``) is decided again by
    :func:`nearest_code`, whose tie rule the exhaustive search does not model.  A unique
    maximum is the argmax either way, so the codes are the same.  Larger tables:
    :func:`_sector_codes`."""
    n = lut_c.shape[0]
    J = xr.shape[0]
    if n > BRUTE_CODES:
        _sector_codes(xr, xi, lut_c, lut_s, out, best_p, tied)
        return
    if quarter_symmetric(lut_c, lut_s):
        _quarter_codes(xr, xi, lut_c, lut_s, out, best_p, tied)
        return
    c0 = lut_c[0]
    s0 = lut_s[0]
    for j in range(J):
        best_p[j] = xr[j] * c0 + xi[j] * s0
        out[j] = 0
        tied[j] = 0
    for c in range(1, n):
        cc = lut_c[c]
        sc = lut_s[c]
        for j in range(J):
            p = mul_words(xr[j], cc) + mul_words(xi[j], sc)
            b = best_p[j]
            out[j] = c if p > b else out[j]
            tied[j] = 0 if p > b else (1 if p == b else tied[j])
            best_p[j] = max(p, b)
    for j in range(J):
        if tied[j] != 0:
            out[j] = nearest_code(xr[j], xi[j], lut_c, lut_s)


@njit(cache=True)
def quarter_symmetric(lut_c, lut_s):  # pragma: no cover - compiled
    """Whether the table turns by exactly 90 degrees every quarter of its codes,
    ``L[c + n/4] = (-sin_c, cos_c)`` for every c (indices mod n), with ``n >= 4``.  The tables
    of :meth:`hbf_edge.hw.spec.HardwareSpec.phase_table` do (tested at every Q), since
    rounding is odd-symmetric away from exact ties; a table that does not is searched code by code."""
    n = lut_c.shape[0]
    if n < 4 or n % 4 != 0:
        return False
    per = n // 4
    for c in range(n):
        d = (c + per) % n
        if lut_c[d] != -lut_s[c] or lut_s[d] != lut_c[c]:
            return False
    return True


@njit(cache=True)
def _quarter_codes(xr, xi, lut_c, lut_s, out, best_p, tied):  # pragma: no cover - compiled
    """:func:`nearest_codes_block`'s exhaustive search on a :func:`quarter_symmetric` table: the
    projections on codes ``c, c + n/4, c + n/2, c + 3n/4`` are ``a, b, -a, -b`` with ``a = x
    cos_c + y sin_c`` and ``b = y cos_c - x sin_c`` (the same int64 values, wrap-around
    included, as the products on those codes' own words), so a quarter of the codes costs the
    products.  The largest projection and whether it is unique do not depend on the order the
    codes are visited in; a tie is decided again by :func:`nearest_code`.  Same codes; 64
    vectors at Q = 4 in 1.15 against 2.89 us (2026-12-05, Zen 1 EPYC, scratch/hw/near3.py; 1.52
    with int64 products)."""
    n = lut_c.shape[0]
    J = xr.shape[0]
    per = n // 4
    for j in range(J):
        best_p[j] = -(1 << 62)  # below every maximum: one of a, -a is >= 0
        out[j] = 0
        tied[j] = 0
    for c in range(per):
        cc = lut_c[c]
        sc = lut_s[c]
        for j in range(J):
            x = xr[j]
            y = xi[j]
            a = mul_words(x, cc) + mul_words(y, sc)
            b = mul_words(y, cc) - mul_words(x, sc)
            bp = best_p[j]
            o = out[j]
            t = tied[j]
            for q in range(4):
                p = a if q == 0 else (b if q == 1 else (-a if q == 2 else -b))
                gt = p > bp
                o = c + q * per if gt else o
                t = 0 if gt else (1 if p == bp else t)
                bp = p if gt else bp
            best_p[j] = bp
            out[j] = o
            tied[j] = t
    for j in range(J):
        if tied[j] != 0:
            out[j] = nearest_code(xr[j], xi[j], lut_c, lut_s)


@njit(cache=True)
def _sector_codes(xr, xi, lut_c, lut_s, out, lo, hi):  # pragma: no cover - compiled
    """:func:`nearest_code`'s search (quadrant, binary search, the four candidates) for every
    vector, one step at a time over all vectors, without a branch per vector (any table of
    ``2**Q >= 4`` codes; :func:`nearest_codes_block` calls it beyond ``BRUTE_CODES``); a vector
    whose best candidate ties the next code (the start of a tied run, which
    :func:`nearest_code` walks) or is ``(0, 0)`` is decided again by :func:`nearest_code`.  Same codes; 256 vectors at
    Q = 8 in 4.2-4.3 against 5.9-7.4 us one by one (2026-12-04, scratch/hw/sector.py)."""
    n = lut_c.shape[0]
    J = xr.shape[0]
    mask = n - 1
    per = n // 4
    steps = 0
    while (1 << steps) < per:  # the binary search over a quadrant's per = 2**steps codes
        steps += 1
    for j in range(J):
        x = xr[j]
        y = xi[j]
        q = 0 if (x > 0 and y >= 0) else (1 if (x <= 0 and y > 0) else (2 if (x < 0 and y <= 0) else 3))
        lo[j] = q * per
        hi[j] = q * per + per - 1
    for _ in range(steps):  # halves [lo, hi] exactly: nearest_code's while loop, step by step
        for j in range(J):
            mid = (lo[j] + hi[j] + 1) >> 1
            ge = lut_c[mid] * xi[j] - lut_s[mid] * xr[j] >= 0
            lo[j] = mid if ge else lo[j]
            hi[j] = hi[j] if ge else mid - 1
    for j in range(J):
        x = xr[j]
        y = xi[j]
        c0 = lo[j]
        b = (c0 - 1) & mask
        bp = x * lut_c[b] + y * lut_s[b]
        for t in range(1, 4):  # counter-clockwise: the last of equal projections wins
            c = (c0 - 1 + t) & mask
            p = x * lut_c[c] + y * lut_s[c]
            b = c if p >= bp else b
            bp = max(p, bp)
        c = (b + 1) & mask
        out[j] = b
        hi[j] = 1 if (x * lut_c[c] + y * lut_s[c] == bp) or (x == 0 and y == 0) else 0
    for j in range(J):
        if hi[j] != 0:
            out[j] = nearest_code(xr[j], xi[j], lut_c, lut_s)


@njit(cache=True)
def nearest_codes_into(xr, xi, lut_c, lut_s, out):  # pragma: no cover - compiled
    """:func:`nearest_code` of every vector ``(xr[j], xi[j])`` into ``out[j]`` (1-D int64
    arrays): the torch datapath models' code decision outside a trace
    (:func:`hbf_edge.quant._core.datapath.nearest_codes`)."""
    for j in range(xr.shape[0]):
        out[j] = nearest_code(xr[j], xi[j], lut_c, lut_s)
