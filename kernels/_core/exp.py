"""``exp`` for the kernels' vectorised loops, the same bits as glibc's on x86-64 with FMA.

Why: a loop that calls ``math.exp`` stays a chain of scalar library calls (LLVM has no vector
``exp`` without SVML), and the MSER float kernel's exponentials were about 34 of a paper-size
layer's 117 us.  A different ``exp`` (a vector library's, or a shorter polynomial) would round
differently, and GD-500 at its tuned steps amplifies last-bit differences into different
figures (:mod:`kernels.mser._float`).  So this is glibc's own algorithm (since 2.28; the
``__exp_fma`` variant the dynamic loader picks on a CPU with FMA): ``x = k ln2/128 + r``, a
128-entry table of ``2^(i/128) = H_i (1 + T_i)``, a degree-5 polynomial in r, the products
fused where GCC fuses them (``fastmath={"contract"}`` makes LLVM fuse the same pairs).  The
scale ``2^(k/128)`` is ``H_i 2^m`` from two tables instead of glibc's integer add into the bits
(the same number: a power of two is exact).  Checked bit for bit against ``math.exp`` on 10^7
arguments in [-460, 0] (``scratch/s62/vexp.py``) and on 10^6 in the tests; 1.7 against 3.5 us
for 768 arguments (timing loop, one thread).

Valid for ``-512 < x <= 0`` only (the KDE weights' clamped exponents, >= -460): glibc's own
main path ends at |x| = 512, and its special cases (overflow, subnormal results, NaN) are not
reproduced.  On a machine whose ``libm`` rounds
differently (another libc, no FMA) this function keeps the glibc/FMA bits, so results there
differ from what the plain ``math.exp`` gave.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np

from hbf_edge.kernels._core.jit import njit

__all__ = ["exp_neg"]

_N = 128


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``H_i``, the double nearest ``2^(i/128)``; ``T_i = (2^(i/128) - H_i) / H_i`` rounded (60
    digits, then the correctly rounded conversion); ``2^m`` for m in [-800, 0]."""
    h, t = np.empty(_N), np.empty(_N)
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        for i in range(_N):
            v = (ln2 * i / _N).exp()
            h[i] = float(v)
            t[i] = float((v - Decimal(h[i])) / Decimal(h[i]))
    return h, t, np.ldexp(1.0, np.arange(-800, 1))


_H, _T, _P2 = _tables()
_P2_OFF = 800
# glibc's constants (sysdeps/ieee754/dbl-64/e_exp_data.c, N = 128, polynomial order 5)
_INVLN2N = float.fromhex("0x1.71547652b82fep0") * _N
_SHIFT = float.fromhex("0x1.8p52")
_NEGLN2HIN = float.fromhex("-0x1.62e42fefa0000p-8")
_NEGLN2LON = float.fromhex("-0x1.cf79abc9e3b3ap-47")
_C2 = float.fromhex("0x1.ffffffffffdbdp-2")
_C3 = float.fromhex("0x1.555555555543cp-3")
_C4 = float.fromhex("0x1.55555cf172b91p-5")
_C5 = float.fromhex("0x1.1111167a4d017p-7")


@njit(cache=True, fastmath={"contract"})
def exp_neg(x):  # pragma: no cover - compiled
    """``e^x`` for ``-512 < x <= 0``, glibc's bits (module notes)."""
    kd = _INVLN2N * x + _SHIFT  # fused, as in glibc: k = round(x 128 / ln2)
    kd = kd - _SHIFT
    r = x + kd * _NEGLN2HIN + kd * _NEGLN2LON  # two fused steps
    k = np.int64(kd)
    i = k & (_N - 1)
    # the power's index kept inside its table whatever x is (NaN, out of range): a wrong number
    # there, never a read outside the array; no effect on the valid range
    m = min(max((k >> 7) + _P2_OFF, 0), _P2.size - 1)
    scale = _H[i] * _P2[m]
    r2 = r * r
    tmp = _T[i] + r + r2 * (_C2 + r * _C3) + r2 * r2 * (_C4 + r * _C5)
    return scale + scale * tmp
