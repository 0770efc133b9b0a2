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
