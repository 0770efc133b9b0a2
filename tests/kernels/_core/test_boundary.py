"""The compiled value check against a slow obvious reference, on random batches with problems
planted at random places (every value kind: NaN, +-inf, all-zero users, bad powers)."""

import numpy as np
import pytest

from hbf_edge.kernels._core.boundary import BAD_CHANNEL, BAD_POWER, ZERO_USER, value_problem


def _reference(h_re, h_im, p_t, noise):
    """Per channel in order: the powers, then any value not finite, then an all-zero user."""
    for b in range(h_re.shape[0]):
        if not (np.isfinite(p_t[b]) and np.isfinite(noise[b]) and p_t[b] > 0 and noise[b] > 0):
            return BAD_POWER
        if not (np.isfinite(h_re[b]).all() and np.isfinite(h_im[b]).all()):
            return BAD_CHANNEL
        if ((h_re[b] == 0) & (h_im[b] == 0)).all(axis=0).any():
            return ZERO_USER
    return 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_problem_equals_the_reference(dtype):
    rng = np.random.default_rng(7)
    seen = set()
    for trial in range(300):
        B, N, K = rng.integers(1, 6), rng.integers(1, 9), rng.integers(1, 5)
        h_re = rng.standard_normal((B, N, K)).astype(dtype)
        h_im = rng.standard_normal((B, N, K)).astype(dtype)
        p_t, noise = np.full(B, 10.0, dtype), np.ones(B, dtype)
        for _ in range(rng.integers(0, 3)):  # plant problems
            b, n, k = rng.integers(B), rng.integers(N), rng.integers(K)
            kind = rng.integers(6)
            if kind == 0:
                h_re[b, n, k] = np.nan
            elif kind == 1:
                h_im[b, n, k] = np.inf * rng.choice([-1, 1])
            elif kind == 2:
                h_re[b, :, k] = 0
                h_im[b, :, k] = 0
            elif kind == 3:  # zero but for one value: not an all-zero user
                h_re[b, :, k] = 0
                h_im[b, :, k] = 0
                h_im[b, n, k] = 1e-30
            elif kind == 4:
                (p_t if rng.integers(2) else noise)[b] = rng.choice([0, -1, np.nan, np.inf])
            else:
                h_re[b, n, k] = -0.0
        got = value_problem(h_re, h_im, p_t, noise)
        assert got == _reference(h_re, h_im, p_t, noise), trial
        seen.add(got)
    assert seen == {0, BAD_CHANNEL, ZERO_USER, BAD_POWER}
