import numpy as np
import pytest

from hbf_edge import ConfigError, InvalidChannelError
from hbf_edge.baselines import omp_hybrid, sum_rate_np, zero_forcing
from hbf_edge.channels import saleh_valenzuela_miso, ula_response


def test_zero_forcing_nulls_interference_and_meets_power():
    H = saleh_valenzuela_miso(5, 16, 4, seed=1)
    X = zero_forcing(H, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    G = np.einsum("bnk,bnl->bkl", H.conj(), X)
    off = G - np.einsum("bkk->bk", G)[:, :, None] * np.eye(4)
    assert np.abs(off).max() < 1e-10
    assert np.allclose(np.sum(np.abs(X) ** 2, axis=(1, 2)), [1, 2, 3, 4, 5])
    with pytest.raises(ConfigError):
        zero_forcing(H, -1.0)
    bad = H.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidChannelError):
        zero_forcing(bad, 1.0)


def test_omp_recovers_on_grid_single_path_channels():
    # known answer: each user has one path exactly on the dictionary grid, so OMP picks those M=K
    # atoms, F spans H, F_BB reproduces ZF exactly, and the rate equals fully digital ZF.
    N, K = 16, 3
    grid = 4 * N
    u = -1.0 + 2.0 * np.array([5, 30, 50]) / grid
    H = (ula_response(np.arcsin(u), N).T * np.array([1.0, 0.7j, -1.3]))[None]
    F, W = omp_hybrid(H, 10.0, n_rf=K)
    assert np.allclose(np.abs(F), 1)
    assert np.allclose(np.sum(np.abs(F @ W) ** 2), 10.0)
    zf = zero_forcing(H, 10.0)
    assert sum_rate_np(H, F @ W, 1.0)[0] == pytest.approx(sum_rate_np(H, zf, 1.0)[0], rel=1e-9)


def test_omp_on_random_channels_is_feasible_and_below_zf():
    H = saleh_valenzuela_miso(20, 32, 4, seed=2)
    F, W = omp_hybrid(H, 10.0, n_rf=4)
    assert F.shape == (20, 32, 4) and W.shape == (20, 4, 4)
    assert np.allclose(np.abs(F), 1)
    assert np.allclose(np.sum(np.abs(F @ W) ** 2, axis=(1, 2)), 10.0)
    assert sum_rate_np(H, F @ W, 1.0).mean() < sum_rate_np(H, zero_forcing(H, 10.0), 1.0).mean()
