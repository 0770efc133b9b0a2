"""The MSER float kernel's Gaussian weight and its transposed F V product."""

from __future__ import annotations

import math

import numpy as np

from hbf_edge.kernels._core.linalg import matmul
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
    _float._precode(fr, fi, vr, vi, work)
    ar, ai = np.empty((Nt, D)), np.empty((Nt, D))
    matmul(fr, fi, vr, vi, ar, ai)
    assert np.array_equal(work[0], ar) and np.array_equal(work[1], ai)


def test_gauss_keeps_nan_and_reads_no_table_out_of_range():
    """A NaN exponent once reached ``exp_neg``'s table index through ``max`` and crashed the
    process; now it is NaN as ``math.exp`` gave it, an infinite output a zero weight, and
    ``exp_neg`` outside its range a wrong number, never a read outside its tables."""
    from hbf_edge.kernels._core.exp import exp_neg

    assert math.isnan(_float_kde._gauss(float("nan"), 1.0))
    assert _float_kde._gauss(float("inf"), 1.0) == 0.0 and _float_kde._gauss(-float("inf"), 1.0) == 0.0
    for x in (float("nan"), 1e4, -1e6, float("inf"), -float("inf")):
        exp_neg(x)  # returns; the value is unspecified outside (-512, 0]
