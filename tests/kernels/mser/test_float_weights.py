"""The MSER float kernel's Gaussian weight and its transposed F V product."""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.linalg import matmul
from hbf_edge.kernels._core.simd import padded_copy
from hbf_edge.kernels.mser import _float, _float_kde


def test_gauss_is_exp_above_the_flush_and_zero_below():
    inv2 = 1.0 / (2.0 * 0.01 ** 2)
    for x in np.concatenate([np.linspace(-0.4, 0.4, 801), [0.0, 0.3033, -0.3034, 1e3, -1e150]]):
        a = -x * x * inv2
        want = math.exp(a) if a > _float_kde._FLUSH_BELOW else 0.0
        assert _float_kde._gauss(x, inv2) == want  # exactly: above the flush it is exp itself
    assert _float_kde._gauss(0.3032, inv2) > 0.0 and _float_kde._gauss(0.3034, inv2) == 0.0  # e^-460 at x = 0.30331


def test_precode_is_matmul_bit_for_bit():
    rng = np.random.default_rng(3)
    K, Nt, Rt, Dk, Rr, Nr, J = 2, 64, 8, 3, 4, 8, 16
    D = K * Dk
    work = _float.channel_work(K, Nt, Rt, D, Rr, Dk, Nr, J)
    fr, fi = rng.standard_normal((Nt, Rt)), rng.standard_normal((Nt, Rt))
    vr, vi = rng.standard_normal((Rt, D)), rng.standard_normal((Rt, D))
    for a in work[30:34] + work[38:40]:
        a.fill(np.nan)  # uninitialised in channel_work
    _float._precode(fr, fi, vr, vi, work)
    padded_copy(fr, fi, work[30], work[31])
    ar, ai = np.empty((Nt, D)), np.empty((Nt, D))
    matmul(fr, fi, vr, vi, ar, ai)
    assert np.array_equal(work[0], ar.T) and np.array_equal(work[1], ai.T)  # A^T (theta_U's step, the scaling)
    assert np.array_equal(work[38][:, :D], ar) and np.array_equal(work[39][:, :D], ai)  # A, G's product reads
    assert not work[38][:, D:].any() and not work[39][:, D:].any()  # zero past D
    assert np.array_equal(work[30][:, :Rt], fr) and np.array_equal(work[31][:, :Rt], fi)  # F, which F^H z reads


def test_effective_is_matmul_bit_for_bit():
    """``G_k = (U_k H_k) A`` by the vector sums, then ``E_k = W_k^H G_k``: linalg's bits."""
    from hbf_edge.kernels._core.linalg import mm_ah

    rng = np.random.default_rng(5)
    K, Nt, Rt, Dk, Rr, Nr, J = 2, 64, 8, 3, 4, 8, 16
    D = K * Dk
    work = _float.channel_work(K, Nt, Rt, D, Rr, Dk, Nr, J)
    fr, fi = rng.standard_normal((Nt, Rt)), rng.standard_normal((Nt, Rt))
    vr, vi = rng.standard_normal((Rt, D)), rng.standard_normal((Rt, D))
    uhr, uhi = rng.standard_normal((K, Rr, Nt)), rng.standard_normal((K, Rr, Nt))
    wr, wi = rng.standard_normal((K, Rr, Dk)), rng.standard_normal((K, Rr, Dk))
    gr, gi, er, ei = np.empty((K, Rr, D)), np.empty((K, Rr, D)), np.empty((K, Dk, D)), np.empty((K, Dk, D))
    _float._precode(fr, fi, vr, vi, work)
    ar, ai = np.empty((Nt, D)), np.empty((Nt, D))
    matmul(fr, fi, vr, vi, ar, ai)
    for k in range(K):
        _float._effective(uhr, uhi, work, wr, wi, k, gr, gi, er, ei)
        want_g = [np.empty((Rr, D)) for _ in range(2)]
        matmul(uhr[k], uhi[k], ar, ai, *want_g)
        want_e = [np.empty((Dk, D)) for _ in range(2)]
        mm_ah(wr[k], wi[k], *want_g, *want_e, 0.0)
        assert np.array_equal(gr[k], want_g[0]) and np.array_equal(gi[k], want_g[1])
        assert np.array_equal(er[k], want_e[0]) and np.array_equal(ei[k], want_e[1])


def test_the_products_are_linalg_s_bit_for_bit():
    """The MSER float kernel's products in transposed layouts and with chains side by side
    (kernels/mser/_float_products.py) give kernels._core.linalg's bits, on sizes that leave
    every block remainder (1..3 entries after the blocks of 4)."""
    from hbf_edge.kernels._core.linalg import mm_ah_wide, mm_bh
    from hbf_edge.kernels._core.simd import LANES, block_conj_sums
    from hbf_edge.kernels.mser import _float_products as fp

    rng = np.random.default_rng(4)
    c = lambda *s: (rng.standard_normal(s), rng.standard_normal(s))  # noqa: E731
    for p_, r_, q_ in ((4, 64, 6), (3, 17, 7), (2, 5, 8), (1, 9, 4), (4, 33, 5)):
        a = c(p_, r_)
        want, got, got_t = [np.empty((p_, q_)) for _ in range(2)], [np.empty((p_, q_)) for _ in range(2)], [
            np.empty((p_, q_)) for _ in range(2)]
        bq = c(q_, r_)  # A B^H
        mm_bh(*a, *bq, *want, 0.0)
        fp.mm_bh_t(*a, bq[0].T.copy(), bq[1].T.copy(), *got_t)
        # the theta_U step's T H_k^H: the vector sums on B^T padded (kernels.mser._float.h_t)
        W = -(-q_ // LANES) * LANES
        bt = [np.zeros((r_, W)) for _ in range(2)]
        bt[0][:, :q_], bt[1][:, :q_] = bq[0].T, bq[1].T
        pad = [np.empty((p_, W)) for _ in range(2)]
        block_conj_sums(*a, *bt, 0, p_, 0, q_, *pad)
        got = [x[:, :q_] for x in pad]
        assert all(np.array_equal(x, y) for x, y in zip(want + want, got + got_t))
    uh, w = c(4, 64), c(4, 3)  # B_k^T = ((U_k H_k)^H W_k)^T
    want, got = [np.empty((64, 3)) for _ in range(2)], [np.empty((3, 64)) for _ in range(2)]
    mm_ah_wide(*uh, *w, *want)
    fp.bh_w_t(*uh, *w, *got)
    assert np.array_equal(got[0], want[0].T) and np.array_equal(got[1], want[1].T)
    z, v = c(64, 6), c(8, 6)  # (z V^H)^T
    want, got = [np.empty((64, 8)) for _ in range(2)], [np.empty((8, 64)) for _ in range(2)]
    mm_bh(*z, *v, *want, 0.0)
    fp.zvh_t(z[0].T.copy(), z[1].T.copy(), *v, *got)
    assert np.array_equal(got[0], want[0].T) and np.array_equal(got[1], want[1].T)


def test_gauss_keeps_nan_and_reads_no_table_out_of_range():
    """A NaN exponent once reached ``exp_neg``'s table index through ``max`` and crashed the
    process; now it is NaN as ``math.exp`` gave it, an infinite output a zero weight, and
    ``exp_neg`` outside its range a wrong number, never a read outside its tables."""
    from hbf_edge.kernels._core.exp import exp_neg

    assert math.isnan(_float_kde._gauss(float("nan"), 1.0))
    assert _float_kde._gauss(float("inf"), 1.0) == 0.0 and _float_kde._gauss(-float("inf"), 1.0) == 0.0
    for x in (float("nan"), 1e4, -1e6, float("inf"), -float("inf")):
        exp_neg(x)  # returns; the value is unspecified outside (-512, 0]


def test_the_gradient_sums_over_the_antennas_keep_their_order():
    """``add_bm_t`` and the V gradient's ``F^H z`` (the vector sums of ``z^T conj(F)``) against
    plain Python loops in the order the kernel summed them before (z[n, d] += B[n, i] M[i, d] over
    i; gv[r, d] = -sum_n conj(F[n, r]) z[n, d]): Python's float operations are the same IEEE double
    operations, so the bits must agree."""
    from hbf_edge.kernels._core.simd import LANES, block_conj_sums
    from hbf_edge.kernels.mser import _float_products as fp

    rng = np.random.default_rng(5)
    Nt, Dk, D, Rt, lo, hi = 16, 3, 7, 5, 2, 7
    br, bi, mr, mi = rng.standard_normal((Nt, Dk)), rng.standard_normal((Nt, Dk)), rng.standard_normal((Dk, D)), \
        rng.standard_normal((Dk, D))
    z0r, z0i = rng.standard_normal((Nt, D)), rng.standard_normal((Nt, D))
    zr, zi = z0r.tolist(), z0i.tolist()
    for n in range(Nt):
        for i in range(Dk):
            for d in range(lo, hi):
                zr[n][d] += float(br[n, i]) * float(mr[i, d]) - float(bi[n, i]) * float(mi[i, d])
                zi[n][d] += float(br[n, i]) * float(mi[i, d]) + float(bi[n, i]) * float(mr[i, d])
    ztr, zti = z0r.T.copy(), z0i.T.copy()
    fp.add_bm_t(br.T.copy(), bi.T.copy(), mr, mi, lo, hi, ztr, zti)
    assert np.array_equal(ztr.T, np.array(zr)) and np.array_equal(zti.T, np.array(zi))
    W = -(-Rt // LANES) * LANES
    fr, fi = np.zeros((Nt, W)), np.zeros((Nt, W))  # F padded, as v_gradient leaves it
    fr[:, :Rt], fi[:, :Rt] = rng.standard_normal((Nt, Rt)), rng.standard_normal((Nt, Rt))
    fz_r, fz_i = np.empty((D, W)), np.empty((D, W))
    block_conj_sums(ztr, zti, fr, fi, lo, hi, 0, Rt, fz_r, fz_i)
    for r in range(Rt):
        for d in range(lo, hi):
            sr = si = 0.0
            for n in range(Nt):
                sr += float(fr[n, r]) * zr[n][d] + float(fi[n, r]) * zi[n][d]
                si += float(fr[n, r]) * zi[n][d] - float(fi[n, r]) * zr[n][d]
            assert fz_r[d, r] == sr and fz_i[d, r] == si



def test_h_t_and_padded_copy_leave_zeros_past_the_sizes():
    rng = np.random.default_rng(9)
    K, Nt, Rt, Dk, Rr, Nr, J = 2, 12, 6, 3, 2, 5, 8  # R_t and N_r not multiples of LANES
    work = _float.channel_work(K, Nt, Rt, K * Dk, Rr, Dk, Nr, J)
    hr, hi = rng.standard_normal((K, Nr, Nt)), rng.standard_normal((K, Nr, Nt))
    fr, fi = rng.standard_normal((Nt, Rt)), rng.standard_normal((Nt, Rt))
    for a in (work[30], work[31], work[42], work[43]):
        a.fill(np.nan)  # channel_work leaves them uninitialised: the fills write the zeros
    _float.h_t(hr, hi, work)
    padded_copy(fr, fi, work[30], work[31])
    for k in range(K):
        assert np.array_equal(work[42][k][:, :Nr], hr[k].T) and np.array_equal(work[43][k][:, :Nr], hi[k].T)
    assert not work[42][:, :, Nr:].any() and not work[43][:, :, Nr:].any()
    assert np.array_equal(work[30][:, :Rt], fr) and not work[30][:, Rt:].any() and not work[31][:, Rt:].any()
