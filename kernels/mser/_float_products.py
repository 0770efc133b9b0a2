"""Private Numba products of the MSER float kernel (:mod:`kernels.mser._float`) whose sums are long
chains: each entry summed in :func:`kernels._core.linalg.matmul`'s order (the same bits, which the
strict-order MSER kernels need, its module notes say why), several entries per pass over the sum
so their chains run side by side and share their loads.  One entry per pass left each sum waiting
on its own adds: a paper-size layer's products over the N_t = 64 antennas were latency-bound
(2026-12-06, Zen 4 EPYC, one thread, ``scratch/s66/lay_tim.py``)."""

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
def mm_bh_blocks(ar, ai, br, bi, outr, outi):  # pragma: no cover - compiled
    """``out = A B^H`` for A [P, R], B [Q, R], :func:`~kernels._core.linalg.mm_bh`'s bits (with a
    zero of A's dtype), four entries of a row per pass (``M A^H H_k^H``'s second product, P = 3, R = 64,
    Q = 8: 1.12 against 1.26 us, ``scratch/s66/mm_ab4.py``)."""
    P, R = ar.shape
    Q = br.shape[0]
    for p in range(P):
        q = 0
        while q + 3 < Q:
            outr[p, q] = 0.0
            s0 = outr[p, q]
            s1 = s0
            s2 = s0
            s3 = s0
            t0 = s0
            t1 = s0
            t2 = s0
            t3 = s0
            for r in range(R):
                a = ar[p, r]
                b = ai[p, r]
                s0 += a * br[q, r] + b * bi[q, r]
                t0 += b * br[q, r] - a * bi[q, r]
                s1 += a * br[q + 1, r] + b * bi[q + 1, r]
                t1 += b * br[q + 1, r] - a * bi[q + 1, r]
                s2 += a * br[q + 2, r] + b * bi[q + 2, r]
                t2 += b * br[q + 2, r] - a * bi[q + 2, r]
                s3 += a * br[q + 3, r] + b * bi[q + 3, r]
                t3 += b * br[q + 3, r] - a * bi[q + 3, r]
            outr[p, q] = s0
            outi[p, q] = t0
            outr[p, q + 1] = s1
            outi[p, q + 1] = t1
            outr[p, q + 2] = s2
            outi[p, q + 2] = t2
            outr[p, q + 3] = s3
            outi[p, q + 3] = t3
            q += 4
        while q < Q:
            outr[p, q] = 0.0
            s0 = outr[p, q]
            t0 = s0
            for r in range(R):
                s0 += ar[p, r] * br[q, r] + ai[p, r] * bi[q, r]
                t0 += ai[p, r] * br[q, r] - ar[p, r] * bi[q, r]
            outr[p, q] = s0
            outi[p, q] = t0
            q += 1


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
def fh_z_t(ftr, fti, ztr, zti, lo, hi, gvr, gvi):  # pragma: no cover - compiled
    """``gv[:, lo:hi] = -F^H z[:, lo:hi]`` from ``F^T`` [R_t, N_t] and ``z^T`` [D, N_t], each entry
    summed over the antennas in order; up to three columns per pass over the antennas
    (independent chains sharing the loads of F; one entry per pass waited on its own adds)."""
    Rt, Nt = ftr.shape
    for r in range(Rt):
        d = lo
        while d + 2 < hi:
            a_r = 0.0
            a_i = 0.0
            b_r = 0.0
            b_i = 0.0
            c_r = 0.0
            c_i = 0.0
            for n in range(Nt):
                fr = ftr[r, n]
                fi = fti[r, n]
                a_r += fr * ztr[d, n] + fi * zti[d, n]
                a_i += fr * zti[d, n] - fi * ztr[d, n]
                b_r += fr * ztr[d + 1, n] + fi * zti[d + 1, n]
                b_i += fr * zti[d + 1, n] - fi * ztr[d + 1, n]
                c_r += fr * ztr[d + 2, n] + fi * zti[d + 2, n]
                c_i += fr * zti[d + 2, n] - fi * ztr[d + 2, n]
            gvr[r, d] = -a_r
            gvi[r, d] = -a_i
            gvr[r, d + 1] = -b_r
            gvi[r, d + 1] = -b_i
            gvr[r, d + 2] = -c_r
            gvi[r, d + 2] = -c_i
            d += 3
        while d < hi:
            a_r = 0.0
            a_i = 0.0
            for n in range(Nt):
                a_r += ftr[r, n] * ztr[d, n] + fti[r, n] * zti[d, n]
                a_i += ftr[r, n] * zti[d, n] - fti[r, n] * ztr[d, n]
            gvr[r, d] = -a_r
            gvi[r, d] = -a_i
            d += 1


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
