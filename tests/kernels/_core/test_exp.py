"""``kernels._core.exp.exp_neg`` gives glibc's ``exp`` bit for bit on its range."""

from __future__ import annotations

import math
import platform

import numpy as np
import pytest

from hbf_edge.kernels._core.exp import exp_neg


def _glibc_with_fma() -> bool:
    libc, version = platform.libc_ver()
    if libc != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 28):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return " fma " in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_with_fma(), reason="the reference is glibc's exp on a CPU with FMA")
def test_exp_neg_is_glibc_exp_bit_for_bit():
    rng = np.random.default_rng(5)
    x = np.concatenate([-rng.random(400_000) * 511.9, -rng.random(300_000) * 3.0, -rng.random(100_000) * 1e-6,
                        -np.abs(rng.standard_normal(200_000)) * 40, [0.0, -0.0, -1e-300, -2.0 ** -60, -460.0,
                                                                     -511.9, -math.log(2) / 256]])
    from numba import njit

    @njit
    def run(x, out):
        for i in range(x.size):
            out[i] = exp_neg(x[i])

    got = np.empty_like(x)
    run(x, got)
    want = np.array([math.exp(v) for v in x])
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} differ, first at x = {x[bad[0]]!r}: {got[bad[0]]!r} against {want[bad[0]]!r}"
