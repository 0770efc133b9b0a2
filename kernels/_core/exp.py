"""``exp`` for the kernels' vectorised loops, the same bits as glibc's on x86-64 with FMA.

Why: a loop that calls ``math.exp`` stays a chain of scalar library calls (LLVM has no vector
``exp`` without SVML), and the MSER float kernel's exponentials were about 34 of a paper-size
layer's 117 us.  A different ``exp`` (a vector library's, or a shorter polynomial) would round
differently, and GD-500 at its tuned steps amplifies last-bit differences into different
figures (:mod:`kernels.mser._float`).  So this is glibc's own algorithm (since 2.28; the
``__exp_fma`` variant the dynamic loader picks on a CPU with FMA): ``x = k ln2/128 + r``, a
128-entry table of ``2^(i/128) = H_i (1 + T_i)``, a degree-5 polynomial in r, the products
fused where GCC fuses them (``fastmath={"contract"}`` makes LLVM fuse the same pairs).  The
scale ``2^(k/128) = H_i 2^m`` is glibc's integer add of ``m`` into the exponent bits of ``H_i``
(:func:`_from_bits`; the product by a power of two, from a second table, gave the same number
with a third table read per argument: 1.05 against 0.72 us for 768 arguments, 2026-12-06,
``scratch/s66/vexp2.py``, the same bits on 10^6 arguments).  Checked bit for bit against
``math.exp`` on 10^7 arguments in [-460, 0] (``scratch/s62/vexp.py``) and on 10^6 in the tests;
0.72 against 3.5 us for 768 arguments (timing loop, one thread).

Valid for ``-512 < x <= 0`` only (the KDE weights' clamped exponents, >= -460): glibc's own
main path ends at |x| = 512, and its special cases (overflow, subnormal results, NaN) are not
reproduced.  On a machine whose ``libm`` rounds
differently (another libc, no FMA) this function keeps the glibc/FMA bits, so results there
differ from what the plain ``math.exp`` gave.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from hbf_edge.kernels._core.jit import njit

__all__ = ["exp_neg"]

_N = 128


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """``H_i``, the double nearest ``2^(i/128)``, as its bits (int64); ``T_i = (2^(i/128) - H_i) /
    H_i`` rounded (60 digits, then the correctly rounded conversion)."""
    h, t = np.empty(_N), np.empty(_N)
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        for i in range(_N):
            v = (ln2 * i / _N).exp()
            h[i] = float(v)
            t[i] = float((v - Decimal(h[i])) / Decimal(h[i]))
    return h.view(np.int64), t


_H_BITS, _T = _tables()
# glibc's constants (sysdeps/ieee754/dbl-64/e_exp_data.c, N = 128, polynomial order 5)
_INVLN2N = float.fromhex("0x1.71547652b82fep0") * _N
_SHIFT = float.fromhex("0x1.8p52")
_NEGLN2HIN = float.fromhex("-0x1.62e42fefa0000p-8")
_NEGLN2LON = float.fromhex("-0x1.cf79abc9e3b3ap-47")
_C2 = float.fromhex("0x1.ffffffffffdbdp-2")
_C3 = float.fromhex("0x1.555555555543cp-3")
_C4 = float.fromhex("0x1.55555cf172b91p-5")
_C5 = float.fromhex("0x1.1111167a4d017p-7")


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bit cast; vectorises)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(cache=True, fastmath={"contract"})
def exp_neg(x):  # pragma: no cover - compiled
    """``e^x`` for ``-512 < x <= 0``, glibc's bits (module notes)."""
    kd = _INVLN2N * x + _SHIFT  # fused, as in glibc: k = round(x 128 / ln2)
    kd = kd - _SHIFT
    r = x + kd * _NEGLN2HIN + kd * _NEGLN2LON  # two fused steps
    k = np.int64(kd)
    i = k & (_N - 1)
    # 2^(k/128) = H_i 2^m, m = floor(k / 128) >= -739 on the range, so the exponent stays normal;
    # outside the range (NaN, x > 0) a wrong number, never a read outside a table
    scale = _from_bits(_H_BITS[i] + ((k >> 7) << 52))
    r2 = r * r
    tmp = _T[i] + r + r2 * (_C2 + r * _C3) + r2 * r2 * (_C4 + r * _C5)
    return scale + scale * tmp
