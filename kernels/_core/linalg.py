"""Small dense complex algebra in real arithmetic for the Numba kernels (per channel).

Every function here says ``fastmath=False`` although that is Numba's default: a callee that does
not set ``fastmath`` is compiled with its caller's flags, and Numba's cache does not key on them.
The UPGA and DeepFP float kernels (fast-math, FMA) and the strict MSER, UPGANet and JCEHB kernels
call the same products, so whichever compiled ``matmul`` first -- in the process, or into the
cache a later process loads -- decided whether the MSER kernel's GD ran fused products: a UPGA
forward left a fused ``matmul`` in the cache, which a later process loaded for every caller (seen
on ``matmul`` itself; the MSER GD's bits were not compared; found 2026-12-06 by a test comparing ``matmul`` with
``matmul_wide``, which failed only in the full suite; ``tests/kernels/_core/test_linalg.py`` now
checks it directly).  Set explicitly, the flags are not inherited, and these are strict everywhere
(the UPGA and DeepFP kernels' calls here included).
"""

from __future__ import annotations

import math

from hbf_edge.kernels._core.jit import njit


@njit(cache=True, fastmath=False)
def pivot_rows(a, out, col):  # pragma: no cover - compiled
    """Partial pivoting of Gauss-Jordan column ``col``: swap the row with the largest
    ``|a[r, col]|`` (r >= col, the first on ties) into place, in ``a`` and ``out`` alike.
    Shared by the float inverse and the fixed-point one (any dtype)."""
    n = a.shape[0]
    piv = col
    best = abs(a[col, col])
    for r in range(col + 1, n):
        if abs(a[r, col]) > best:
            best = abs(a[r, col])
            piv = r
    if piv != col:
        for j in range(n):
            t = a[col, j]
            a[col, j] = a[piv, j]
            a[piv, j] = t
            t = out[col, j]
            out[col, j] = out[piv, j]
            out[piv, j] = t


@njit(cache=True, fastmath=False)
def inv_real_inplace(a, out):  # pragma: no cover - compiled
    """Invert the square real matrix ``a`` by Gauss-Jordan with partial pivoting.

    ``a`` is destroyed; ``out`` receives the inverse.  Used on the 2n x 2n real embedding of
    the small Hermitian matrices of eq. (13) (n = K or M), where pivoting keeps it stable.
    """
    n = a.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 1.0 if i == j else 0.0
    for col in range(n):
        pivot_rows(a, out, col)
        d = 1.0 / a[col, col]
        for j in range(n):
            a[col, j] *= d
            out[col, j] *= d
        for r in range(n):
            if r != col:
                f = a[r, col]
                if f != 0.0:
                    for j in range(n):
                        a[r, j] -= f * a[col, j]
                        out[r, j] -= f * out[col, j]


@njit(cache=True, fastmath=False)
def cinv(ar, ai, outr, outi, big, big_inv):  # pragma: no cover - compiled
    """``out = inv(a)`` for a complex n x n matrix through ``[[Ar, -Ai], [Ai, Ar]]``."""
    n = ar.shape[0]
    for i in range(n):
        for j in range(n):
            big[i, j] = ar[i, j]
            big[i, j + n] = -ai[i, j]
            big[i + n, j] = ai[i, j]
            big[i + n, j + n] = ar[i, j]
    inv_real_inplace(big, big_inv)
    for i in range(n):
        for j in range(n):
            outr[i, j] = big_inv[i, j]
            outi[i, j] = big_inv[i + n, j]


@njit(cache=True, fastmath=False)
def cholesky_inv(ar, ai, outr, outi, lo, lo_inv):  # pragma: no cover - compiled
    """``out = inv(a)`` for a Hermitian positive definite n x n ``a`` (only its lower triangle is
    read): ``a = L L^H`` (Cholesky, real diagonal), then ``inv(a) = L^-H L^-1``.  ``lo`` and
    ``lo_inv [2n, 2n]`` hold L and L^-1 (real parts in rows ``:n``, imaginary in ``n:``).
    Returns False, with ``out`` untouched, when a pivot is not positive (``a`` not positive
    definite in this precision).  About a third of :func:`cinv`'s work at n = 4 (0.17 against
    0.50 us) and a quarter at n = 8 (0.72 against 2.9)."""
    n = ar.shape[0]
    zero = ar.dtype.type(0)  # accumulators in the working dtype (a literal 0.0 is float64)
    one = ar.dtype.type(1)
    for j in range(n):
        d = ar[j, j]
        for k in range(j):
            d -= lo[j, k] * lo[j, k] + lo[n + j, k] * lo[n + j, k]
        if not d > 0:
            return False
        ljj = math.sqrt(d)
        lo[j, j] = ljj
        lo[n + j, j] = zero
        inv = one / ljj
        for i in range(j + 1, n):  # L_ij = (a_ij - sum_k L_ik conj(L_jk)) / L_jj
            sr = ar[i, j]
            si = ai[i, j]
            for k in range(j):
                sr -= lo[i, k] * lo[j, k] + lo[n + i, k] * lo[n + j, k]
                si -= lo[n + i, k] * lo[j, k] - lo[i, k] * lo[n + j, k]
            lo[i, j] = sr * inv
            lo[n + i, j] = si * inv
    for j in range(n):  # L^-1 by forward substitution, column by column
        lo_inv[j, j] = one / lo[j, j]
        lo_inv[n + j, j] = zero
        for i in range(j + 1, n):
            sr = zero
            si = zero
            for k in range(j, i):
                sr += lo[i, k] * lo_inv[k, j] - lo[n + i, k] * lo_inv[n + k, j]
                si += lo[i, k] * lo_inv[n + k, j] + lo[n + i, k] * lo_inv[k, j]
            lo_inv[i, j] = -sr / lo[i, i]
            lo_inv[n + i, j] = -si / lo[i, i]
    for i in range(n):  # inv(a)_ij = sum_{k >= max(i, j)} conj(L^-1_ki) L^-1_kj, Hermitian
        for j in range(i, n):
            sr = zero
            si = zero
            for k in range(j, n):
                sr += lo_inv[k, i] * lo_inv[k, j] + lo_inv[n + k, i] * lo_inv[n + k, j]
                si += lo_inv[k, i] * lo_inv[n + k, j] - lo_inv[n + k, i] * lo_inv[k, j]
            outr[i, j] = sr
            outi[i, j] = si
            outr[j, i] = sr
            outi[j, i] = -si
    return True


@njit(cache=True, fastmath=False)
def gram_inv(ar, ai, outr, outi, big, big_inv):  # pragma: no cover - compiled
    """``out = inv(a)`` for a Gram matrix ``a = X^H X`` (Hermitian, positive semi-definite):
    :func:`cholesky_inv`, or :func:`cinv`'s pivoted Gauss-Jordan (what the kernels used before)
    when a Cholesky pivot is not positive (a Gram matrix that rounds to a singular one, or NaN).
    A numerically singular ``a`` whose pivot rounds to a tiny positive number (two identical
    users, most of the time) gives huge entries either way.  Same work arrays as :func:`cinv`."""
    if not cholesky_inv(ar, ai, outr, outi, big, big_inv):
        cinv(ar, ai, outr, outi, big, big_inv)


@njit(cache=True, fastmath=False)
def matmul(ar, ai, br, bi, outr, outi):  # pragma: no cover - compiled
    """``out = A B`` for A [P, R], B [R, Q]."""
    p, r = ar.shape
    q = br.shape[1]
    for i in range(p):
        for j in range(q):
            # the sums start from a zero read back from the output, so a float32 kernel stays
            # float32 (a 0.0 literal would promote them to float64), and run in locals: summed
            # in the output array itself, every term was a store LLVM could not keep in a
            # register (the output may alias the inputs).  Same order: the same bits in the
            # strict-order MSER kernels, where a paper-preset layer went from 138 to 121 us.
            outr[i, j] = 0.0
            outi[i, j] = 0.0
            sr = outr[i, j]
            si = outi[i, j]
            for t in range(r):
                sr += ar[i, t] * br[t, j] - ai[i, t] * bi[t, j]
                si += ar[i, t] * bi[t, j] + ai[i, t] * br[t, j]
            outr[i, j] = sr
            outi[i, j] = si


@njit(cache=True, fastmath=False)
def matmul_wide(ar, ai, br, bi, outr, outi):  # pragma: no cover - compiled
    """:func:`matmul`'s ``out = A B`` with the same sums in the same order (the same bits), each
    output row accumulated in place across its Q entries, so the innermost loop runs along a row
    of B and of the output and vectorises: for a long Q.  ``U_k H_k`` of the MSER kernels (A
    [4, 8], B [8, 64]): 0.75 against 1.92 us; with Q = 6 (F V, A [64, 8]) it is slower, 3.5
    against 3.0 (timing loop, one thread, ``scratch/s62/fv.py``)."""
    p, r = ar.shape
    q = br.shape[1]
    for i in range(p):
        for j in range(q):
            outr[i, j] = 0.0
            outi[i, j] = 0.0
        for t in range(r):
            a = ar[i, t]
            b = ai[i, t]
            for j in range(q):
                outr[i, j] += a * br[t, j] - b * bi[t, j]
                outi[i, j] += a * bi[t, j] + b * br[t, j]


@njit(cache=True, fastmath=False)
def mm_ah_wide(ar, ai, br, bi, outr, outi):  # pragma: no cover - compiled
    """:func:`mm_ah`'s ``out = A^H B`` (A [R, P], B [R, Q]) in :func:`matmul_wide`'s order: the
    same bits, each output row accumulated in place.  The MSER kernels' ``(U_k H_k)^H W_k``
    (R = 4, P = 64, Q = 3): 1.44 against 2.00 us."""
    R, P = ar.shape
    Q = br.shape[1]
    for p in range(P):
        for q in range(Q):
            outr[p, q] = 0.0
            outi[p, q] = 0.0
        for r in range(R):
            a = ar[r, p]
            b = ai[r, p]
            for q in range(Q):
                outr[p, q] += a * br[r, q] + b * bi[r, q]
                outi[p, q] += a * bi[r, q] - b * br[r, q]


@njit(cache=True, fastmath=False)
def mm_ah(ar, ai, br, bi, outr, outi, zero):  # pragma: no cover - compiled
    """``out = A^H B`` for A [R, P], B [R, Q]."""
    R, P = ar.shape
    Q = br.shape[1]
    for p in range(P):
        for q in range(Q):
            sr = zero
            si = zero
            for r in range(R):
                sr += ar[r, p] * br[r, q] + ai[r, p] * bi[r, q]
                si += ar[r, p] * bi[r, q] - ai[r, p] * br[r, q]
            outr[p, q] = sr
            outi[p, q] = si


@njit(cache=True, fastmath=False)
def mm_bh(ar, ai, br, bi, outr, outi, zero):  # pragma: no cover - compiled
    """``out = A B^H`` for A [P, R], B [Q, R]."""
    P, R = ar.shape
    Q = br.shape[0]
    for p in range(P):
        for q in range(Q):
            sr = zero
            si = zero
            for r in range(R):
                sr += ar[p, r] * br[q, r] + ai[p, r] * bi[q, r]
                si += ai[p, r] * br[q, r] - ar[p, r] * bi[q, r]
            outr[p, q] = sr
            outi[p, q] = si
