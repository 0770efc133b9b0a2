"""Private: the products over the antennas and the small products of a UPGA float layer
(:mod:`kernels.upga._float`), and the fast-math flags ``FM`` they and the per-channel code
compile with.  Each is inlined at Numba IR level into its caller (``inline="always"``), which
carries the same flags; the layouts are :mod:`kernels.upga._float`'s (H and F transposed,
``[K, N]`` and ``[M, N]``)."""

from __future__ import annotations

from hbf_edge.kernels._core.jit import njit

__all__ = ["FM", "gram_t", "herm_gram_t", "combine_t", "small_mm", "small_mm_sized"]

# Reassociation lets the O(N) reductions vectorise; contraction (FMA) halves their instructions
# (float64 forward, batch 1, compiled loop: 20.9 -> 19.2 us, 2026-12-06).  Contraction is safe
# because rate_weights_from_e sums b_k = s2 + sum_{l != k} |E_kl|^2 directly: the former
# b_k = a_k - |E_kk|^2 subtracted a fused product from a sum holding the rounded one, which at
# high SNR (small b_k) made the float32 kernel 3-4x less accurate than torch float32.  Max error
# of the float32 kernel's W against float64 (1000 channels, the test's steps, scratch
# acc32.py): 30 dB 1.1e-3 (3.3e-2 before, torch float32 2.3e-2), 20 dB 1.4e-5 (2.6e-5),
# 0 dB 1.1e-5 (4.6e-6, torch 5.6e-6).
FM = {"reassoc", "nsz", "contract"}


@njit(cache=True, fastmath=FM, inline="always")
def gram_t(ar, ai, br, bi, outr, outi, zero):  # pragma: no cover - compiled
    """``out = A^H B`` from transposed operands ``At [P, N]``, ``Bt [Q, N]`` (dots over N).

    Four columns of ``out`` per pass over a row of ``At``: eight independent sums share each
    load of ``At`` (one dot at a time waits on its own sum's latency)."""
    P, N = ar.shape
    Q = br.shape[0]
    for i in range(P):
        j = 0
        while j + 3 < Q:
            s0r = zero
            s0i = zero
            s1r = zero
            s1i = zero
            s2r = zero
            s2i = zero
            s3r = zero
            s3i = zero
            for n in range(N):
                a_r = ar[i, n]
                a_i = ai[i, n]
                s0r += a_r * br[j, n] + a_i * bi[j, n]
                s0i += a_r * bi[j, n] - a_i * br[j, n]
                s1r += a_r * br[j + 1, n] + a_i * bi[j + 1, n]
                s1i += a_r * bi[j + 1, n] - a_i * br[j + 1, n]
                s2r += a_r * br[j + 2, n] + a_i * bi[j + 2, n]
                s2i += a_r * bi[j + 2, n] - a_i * br[j + 2, n]
                s3r += a_r * br[j + 3, n] + a_i * bi[j + 3, n]
                s3i += a_r * bi[j + 3, n] - a_i * br[j + 3, n]
            outr[i, j] = s0r
            outi[i, j] = s0i
            outr[i, j + 1] = s1r
            outi[i, j + 1] = s1i
            outr[i, j + 2] = s2r
            outi[i, j + 2] = s2i
            outr[i, j + 3] = s3r
            outi[i, j + 3] = s3i
            j += 4
        for jj in range(j, Q):
            sr = zero
            si = zero
            for n in range(N):
                sr += ar[i, n] * br[jj, n] + ai[i, n] * bi[jj, n]
                si += ar[i, n] * bi[jj, n] - ai[i, n] * br[jj, n]
            outr[i, jj] = sr
            outi[i, jj] = si


@njit(cache=True, fastmath=FM, inline="always")
def herm_gram_t(ar, ai, outr, outi, zero):  # pragma: no cover - compiled
    """``out = A^H A`` from the transposed ``At [P, N]``: the P(P+1)/2 dots on and above the
    diagonal (two per pass over a row, as :func:`gram_t` takes four), the rest by Hermitian
    symmetry.  Not :func:`gram_t` of A with itself: all P^2 dots four at a time made a float64
    layer 1.50 -> 1.60 us (2026-12-06)."""
    P, N = ar.shape
    for i in range(P):
        j = i
        while j + 1 < P:
            s0r = zero
            s0i = zero
            s1r = zero
            s1i = zero
            for n in range(N):
                a_r = ar[i, n]
                a_i = ai[i, n]
                s0r += a_r * ar[j, n] + a_i * ai[j, n]
                s0i += a_r * ai[j, n] - a_i * ar[j, n]
                s1r += a_r * ar[j + 1, n] + a_i * ai[j + 1, n]
                s1i += a_r * ai[j + 1, n] - a_i * ar[j + 1, n]
            outr[i, j] = s0r
            outi[i, j] = s0i
            outr[j, i] = s0r
            outi[j, i] = -s0i
            outr[i, j + 1] = s1r
            outi[i, j + 1] = s1i
            outr[j + 1, i] = s1r
            outi[j + 1, i] = -s1i
            j += 2
        if j < P:
            sr = zero
            si = zero
            for n in range(N):
                sr += ar[i, n] * ar[j, n] + ai[i, n] * ai[j, n]
                si += ar[i, n] * ai[j, n] - ai[i, n] * ar[j, n]
            outr[i, j] = sr
            outi[i, j] = si
            outr[j, i] = sr
            outi[j, i] = -si
        outi[i, i] = 0  # a contracted a_r a_i - a_i a_r leaves a rounding error, not the exact 0


@njit(cache=True, fastmath=FM, inline="always")
def combine_t(ar, ai, cr, ci, outr, outi):  # pragma: no cover - compiled
    """``Out^T = (A C)^T`` with ``At [R, N]``, ``C [R, Q]``: ``out[q, :] = sum_r C[r, q] At[r, :]``.

    Two output rows per pass over the rows of ``At`` (each load of ``At`` serves both); the first
    row of ``At`` initialises the outputs, one pass fewer over them."""
    R, N = ar.shape
    Q = cr.shape[1]
    for q in range(0, Q - 1, 2):
        xr, xi, yr, yi = cr[0, q], ci[0, q], cr[0, q + 1], ci[0, q + 1]
        for n in range(N):
            a_r = ar[0, n]
            a_i = ai[0, n]
            outr[q, n] = a_r * xr - a_i * xi
            outi[q, n] = a_r * xi + a_i * xr
            outr[q + 1, n] = a_r * yr - a_i * yi
            outi[q + 1, n] = a_r * yi + a_i * yr
        for r in range(1, R):
            xr, xi, yr, yi = cr[r, q], ci[r, q], cr[r, q + 1], ci[r, q + 1]
            for n in range(N):
                a_r = ar[r, n]
                a_i = ai[r, n]
                outr[q, n] += a_r * xr - a_i * xi
                outi[q, n] += a_r * xi + a_i * xr
                outr[q + 1, n] += a_r * yr - a_i * yi
                outi[q + 1, n] += a_r * yi + a_i * yr
    if Q % 2 == 1:  # the last row of an odd Q alone
        q = Q - 1
        xr, xi = cr[0, q], ci[0, q]
        for n in range(N):
            outr[q, n] = ar[0, n] * xr - ai[0, n] * xi
            outi[q, n] = ar[0, n] * xi + ai[0, n] * xr
        for r in range(1, R):
            xr, xi = cr[r, q], ci[r, q]
            for n in range(N):
                outr[q, n] += ar[r, n] * xr - ai[r, n] * xi
                outi[q, n] += ar[r, n] * xi + ai[r, n] * xr


@njit(cache=True, fastmath=FM, inline="always")
def small_mm(ar, ai, br, bi, outr, outi, conj_a):  # pragma: no cover - compiled
    """``out = A B`` (``conj_a``: ``A^H B``) for the K x M and K x K matrices of a layer.

    Row by row: each ``A`` entry scales a row of ``B`` into a row of ``out``, so the
    innermost loop runs along contiguous rows with independent sums and vectorises (the
    textbook i-j-t order chains every product of a sum through one register and was 2x
    slower at M = K = 4)."""
    P = outr.shape[0]
    R = br.shape[0]
    Q = br.shape[1]
    for i in range(P):
        for j in range(Q):
            outr[i, j] = 0
            outi[i, j] = 0
        for t in range(R):
            if conj_a:
                xr = ar[t, i]
                xi = -ai[t, i]
            else:
                xr = ar[i, t]
                xi = ai[i, t]
            for j in range(Q):
                outr[i, j] += xr * br[t, j] - xi * bi[t, j]
                outi[i, j] += xr * bi[t, j] + xi * br[t, j]


@njit(cache=True, fastmath=FM, inline="always")
def small_mm_sized(ar, ai, br, bi, outr, outi, conj_a, P, R, Q):  # pragma: no cover - compiled
    """:func:`small_mm` for sizes ``P x R`` times ``R x Q`` the caller passes as constants (the
    layers of :func:`kernels.upga._float.run_layers` in the sized session): entry by entry, each sum
    in two locals, which LLVM unrolls completely for constant sizes (a 4 x 4 complex product in a
    compiled loop: 33.6 against 72-75 ns; with sizes known only at run time this form is the
    slower one, 80 ns, hence two functions; 2026-12-06, scratch/s61/small.py)."""
    zero = outr.dtype.type(0)
    for i in range(P):
        for j in range(Q):
            sr = zero
            si = zero
            for t in range(R):
                if conj_a:
                    xr = ar[t, i]
                    xi = -ai[t, i]
                else:
                    xr = ar[i, t]
                    xi = ai[i, t]
                sr += xr * br[t, j] - xi * bi[t, j]
                si += xr * bi[t, j] + xi * br[t, j]
            outr[i, j] = sr
            outi[i, j] = si
