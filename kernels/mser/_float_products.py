"""Private Numba products of the MSER float kernel (:mod:`kernels.mser._float`) with short sums and
long output rows: each entry summed in :mod:`kernels._core.linalg`'s order (the same bits, which
the strict-order MSER kernels need, its module notes say why), a row of N_t outputs accumulated
at a time so the innermost loop vectorises along it.  The products whose sums run over the
N_t = 64 antennas go through :mod:`kernels._core.simd` instead (several outputs per vector, each
sum in order)."""

from __future__ import annotations

from hbf_edge.kernels._core.jit import njit


@njit(cache=True)
def mm_bh_t(ar, ai, btr, bti, outr, outi):  # pragma: no cover - compiled
    """``out = A B^H`` for A [P, R] and B [Q, R] given transposed (``bt [R, Q]``), each entry summed
    from zero over r in :func:`~kernels._core.linalg.mm_bh`'s order (the same bits), a row of Q
    at a time (it vectorises; ``M A^H`` of the theta_U step, Q = N_t)."""
    P, R = ar.shape
    Q = btr.shape[1]
    for p in range(P):
        for q in range(Q):
            outr[p, q] = 0.0
            outi[p, q] = 0.0
        for r in range(R):
            a = ar[p, r]
            b = ai[p, r]
            for q in range(Q):
                outr[p, q] += a * btr[r, q] + b * bti[r, q]
                outi[p, q] += b * btr[r, q] - a * bti[r, q]


@njit(cache=True)
def bh_w_t(uhr, uhi, wr, wi, outr, outi):  # pragma: no cover - compiled
    """``B_k^T = ((U_k H_k)^H W_k)^T`` [D_k, N_t] from ``U_k H_k`` [R_r, N_t] and ``W_k`` [R_r, D_k],
    each entry summed over r in :func:`~kernels._core.linalg.mm_ah_wide`'s order (the same bits),
    a row of N_t at a time (it vectorises)."""
    R, P = uhr.shape
    Q = wr.shape[1]
    for q in range(Q):
        for p in range(P):
            outr[q, p] = 0.0
            outi[q, p] = 0.0
        for r in range(R):
            w_r = wr[r, q]
            w_i = wi[r, q]
            for p in range(P):
                outr[q, p] += uhr[r, p] * w_r + uhi[r, p] * w_i
                outi[q, p] += uhr[r, p] * w_i - uhi[r, p] * w_r


@njit(cache=True)
def add_bm_t(btr, bti, mr, mi, lo, hi, ztr, zti):  # pragma: no cover - compiled
    """``z^T[lo:hi] += (B M[:, lo:hi])^T`` from ``B^T`` [D_k, N_t] and M [D_k, D] into ``z^T`` [D,
    N_t]: each entry's terms added in the order of i, a row of N_t at a time (it vectorises)."""
    Dk, Nt = btr.shape
    for d in range(lo, hi):
        for i in range(Dk):
            m_r = mr[i, d]
            m_i = mi[i, d]
            for n in range(Nt):
                ztr[d, n] += btr[i, n] * m_r - bti[i, n] * m_i
                zti[d, n] += btr[i, n] * m_i + bti[i, n] * m_r


@njit(cache=True)
def zvh_t(ztr, zti, vr, vi, outr, outi):  # pragma: no cover - compiled
    """``(z V^H)^T`` [R_t, N_t] from ``z^T`` [D, N_t] and V [R_t, D], each entry summed over d
    from zero in :func:`~kernels._core.linalg.mm_bh`'s order (the same bits), a row of N_t at a
    time (it vectorises)."""
    D, Nt = ztr.shape
    Rt = vr.shape[0]
    for r in range(Rt):
        for n in range(Nt):
            outr[r, n] = 0.0
            outi[r, n] = 0.0
        for d in range(D):
            v_r = vr[r, d]
            v_i = vi[r, d]
            for n in range(Nt):
                outr[r, n] += ztr[d, n] * v_r + zti[d, n] * v_i
                outi[r, n] += zti[d, n] * v_r - ztr[d, n] * v_i
