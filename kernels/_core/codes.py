"""The phase-code decision of the bit-accurate datapath (Numba, int64 only): the nearest code of
a vector, ``argmax_c Re(x conj L[c])`` over the phase table ``L = (lut_c, lut_s)``, one vector at
a time (:func:`nearest_code`, the definition, ties included) or a block of vectors at once
(:func:`nearest_codes_block`, the same codes, for the F-steps and the initialisation)."""

from __future__ import annotations

from hbf_edge.kernels._core.fixed import mul_words
from hbf_edge.kernels._core.jit import njit

# Tables up to this many codes are searched code by code over a block of vectors, beyond it by the
# stepwise sector search.  256 vectors (2026-12-04, 2-core EPYC, scratch/hw/brute.py, best of 9):
# the exhaustive search in 0.8 / 1.1 / 2.0 / 2.7 / 8.8 us at Q = 2 / 3 / 4 / 5 / 6 against 5.4 /
# 5.9 / 3.9 / 4.4 / 4.9 us for nearest_code one by one.
BRUTE_CODES = 32
# a tie flag beside a code index in one int64 (_first_quadrant_codes)
_TIE = 1 << 40


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
def nearest_codes_block(xr, xi, lut_c, lut_s, out, w1, w2, w3, w4):  # pragma: no cover - compiled
    """:func:`nearest_code` of every vector ``(xr[j], xi[j])`` into ``out[j]``, vectorised over
    the vectors (``w1 .. w4``: int64 work arrays of the same length); the vectors are words of a
    format, as the table's are.

    Tables of at most ``BRUTE_CODES`` codes are searched exhaustively, code by code over all
    vectors at once (a select per lane instead of the binary search's unpredictable branches),
    on a :func:`first_quadrant_regular` table only the codes of one quadrant and the next
    (:func:`_first_quadrant_codes`); a vector whose largest projection is not unique (a tie, or
    ``(0, 0)``) is decided again by :func:`nearest_code`, whose tie rule the exhaustive search
    does not model.  A unique maximum is the argmax either way, so the codes are the same.
    Larger tables: :func:`_sector_codes`."""
    n = lut_c.shape[0]
    if n > BRUTE_CODES:
        _sector_codes(xr, xi, lut_c, lut_s, out, w1, w2)
    elif first_quadrant_regular(lut_c, lut_s):
        _first_quadrant_codes(xr, xi, lut_c, lut_s, out, w1, w2, w3, w4)
    else:
        _every_code(xr, xi, lut_c, lut_s, out, w1, w2)


@njit(cache=True)
def _every_code(xr, xi, lut_c, lut_s, out, best_p, tied):  # pragma: no cover - compiled
    """:func:`nearest_codes_block`'s exhaustive search over every code of any table."""
    n = lut_c.shape[0]
    J = xr.shape[0]
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
    rounding is odd-symmetric away from exact ties."""
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
def first_quadrant_regular(lut_c, lut_s):  # pragma: no cover - compiled
    """Whether the table is :func:`quarter_symmetric` with code 0 at ``(c_0, 0)``, ``c_0 > 0``, and
    every other code ``j`` of the first quadrant (``0 < j < n/4``) at ``0 <= cos_j <= c_0``,
    ``0 < sin_j < c_0``: then, for a vector ``(x, y)`` with ``x > 0, y >= 0``, every code outside
    ``0 .. n/4`` projects strictly below code 0 or code n/4 (:func:`_first_quadrant_codes`).  The
    toolkit's default tables are for Q = 2 .. 7 (tested, with the table roundings the quarter
    symmetry holds for); at Q = 8 the sine of the last step below 90 degrees rounds to ``c_0``,
    and a coarse table (few fraction bits) fails the same way."""
    if not quarter_symmetric(lut_c, lut_s):
        return False
    c0 = lut_c[0]
    if c0 <= 0 or lut_s[0] != 0:
        return False
    for j in range(1, lut_c.shape[0] // 4):
        if not (0 <= lut_c[j] <= c0 and 0 < lut_s[j] < c0):
            return False
    return True


@njit(cache=True)
def _first_quadrant_codes(xr, xi, lut_c, lut_s, out, rx, ry, best_p, code):  # pragma: no cover - compiled
    """:func:`nearest_codes_block`'s search on a :func:`first_quadrant_regular` table of ``n``
    codes, ``per = n/4``: each vector is turned by a multiple ``q`` of 90 degrees into ``x > 0,
    y >= 0`` (quadrant q as :func:`nearest_code` tells it; exact in integers), and the codes
    ``0 .. per`` are searched.  Its projection on code ``c`` is the vector's on code ``c + q per``
    (the quarter symmetry; the same int64 values), and every other code projects strictly lower
    than code 0 or code per (with ``x > 0, y >= 0``, from the inequalities of
    :func:`first_quadrant_regular`: code ``per + j`` projects ``y c_0 - (x sin_j + y (c_0 -
    cos_j))``, code ``2 per + j`` at most ``0 < x c_0``, code ``3 per + j`` ``x c_0 - (x (c_0 -
    sin_j) + y cos_j)``), so a unique maximum over ``0 .. per`` is the unique maximum over the
    table, and a tie there is one in the table.  ``(0, 0)`` ties every code.  ``per + 1`` codes
    instead of the quarter search's ``n`` projections, and products of int64 words (the turned
    vector's -x of the most negative 32-bit word is not a 32-bit word): 64 vectors at Q = 4 in
    0.17 against 0.27 us (2026-12-06, Zen 4 EPYC, ``scratch/s66/near_t3.py``)."""
    n = lut_c.shape[0]
    J = xr.shape[0]
    per = n // 4
    mask = n - 1
    for j in range(J):
        x = xr[j]
        y = xi[j]
        q0 = (x > 0) & (y >= 0)
        q1 = (x <= 0) & (y > 0)
        q2 = (x < 0) & (y <= 0)
        rx[j] = x if q0 else (y if q1 else (-x if q2 else -y))
        ry[j] = y if q0 else (-x if q1 else (-y if q2 else x))
        best_p[j] = -(1 << 62)  # below every projection of a word on a table entry
        code[j] = 0
    for c in range(per + 1):
        cc = lut_c[c]
        sc = lut_s[c]
        for j in range(J):
            p = rx[j] * cc + ry[j] * sc
            bp = best_p[j]
            gt = p > bp
            t = code[j]
            code[j] = c if gt else (t | _TIE if p == bp else t)  # the tie flag stays until a larger one
            best_p[j] = p if gt else bp
    for j in range(J):
        x = xr[j]
        y = xi[j]
        q = 0 if (x > 0 and y >= 0) else (1 if (x <= 0 and y > 0) else (2 if (x < 0 and y <= 0) else 3))
        out[j] = (code[j] + q * per) & mask
    for j in range(J):
        if code[j] >= _TIE:
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

