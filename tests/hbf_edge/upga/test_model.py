import numpy as np
import pytest
import torch

from hbf_edge import ConfigError, ShapeError
from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.objectives import sum_rate
from hbf_edge.families.upga.model import (
    UPGA,
    check_powers,
    init_precoders,
    normalize_power,
    pga_forward,
    pga_iterates,
    project_unit_modulus,
)


def _channels(B=8, N=16, K=4, seed=0):
    H = saleh_valenzuela_miso(B, N, K, seed=seed)
    return H, cplx.from_complex(torch.from_numpy(H))


def _pt(B, snr_db=10.0):
    return torch.full((B,), 10 ** (snr_db / 10), dtype=torch.float64), torch.ones(B, dtype=torch.float64)


def test_projection_unit_modulus_and_zero():
    F = cplx.C(torch.tensor([[3.0, 0.0, -2.0]]), torch.tensor([[4.0, 0.0, 0.0]]))
    P = cplx.to_complex(project_unit_modulus(F))
    assert torch.allclose(P, torch.tensor([[0.6 + 0.8j, 1.0 + 0j, -1.0 + 0j]], dtype=P.dtype))


def test_normalize_power_meets_budget():
    _, Hc = _channels()
    p_t, _ = _pt(8, 17.0)
    F, W = init_precoders(Hc, p_t, 4)
    W2 = normalize_power(F, cplx.scale(W, torch.tensor(3.7, dtype=torch.float64)), p_t)
    X = cplx.to_complex(cplx.matmul(F, W2))
    assert torch.allclose((X.abs() ** 2).sum(dim=(1, 2)), p_t)


def test_init_matches_eq12_13_with_numpy_pinv():
    H, Hc = _channels(B=5, N=16, K=4, seed=3)
    p_t, _ = _pt(5, 7.0)
    F, W = init_precoders(Hc, p_t, 4)
    F, W = cplx.to_complex(F).numpy(), cplx.to_complex(W).numpy()
    assert np.allclose(F, np.exp(1j * np.angle(H)))  # eq. (12): F0[:, k] aligned with h_k
    for b in range(5):
        # coherent: |h_k^H f_k| = ||h_k||_1
        assert np.allclose(np.abs(np.einsum("nk,nk->k", H[b].conj(), F[b])), np.abs(H[b]).sum(0))
        W0 = np.linalg.pinv(F[b]) @ np.linalg.pinv(H[b].conj().T)  # eq. (13)
        W0 *= np.sqrt(p_t[b].item()) / np.linalg.norm(F[b] @ W0)
        assert np.allclose(W[b], W0, atol=1e-10)


def test_init_more_rf_chains_than_users():
    H, Hc = _channels(B=3, N=16, K=2, seed=4)
    p_t, _ = _pt(3)
    F, W = init_precoders(Hc, p_t, 5)
    F = cplx.to_complex(F).numpy()
    assert F.shape == (3, 16, 5) and np.allclose(np.abs(F), 1)
    n = np.arange(16)[:, None]
    dft = np.exp(-2j * np.pi * n * np.arange(3)[None, :] / 16)
    assert np.allclose(F[:, :, 2:], dft)
    assert all(np.linalg.matrix_rank(F[b]) == 5 for b in range(3))
    with pytest.raises(ConfigError):
        init_precoders(Hc, p_t, 1)


def test_pga_is_feasible_and_improves():
    _, Hc = _channels(B=16, N=32, K=4, seed=5)
    p_t, noise = _pt(16, 10.0)
    mu = torch.full((30, 1), 0.01, dtype=torch.float64)
    lam = torch.full((30,), 1e-4, dtype=torch.float64)
    (F, W), rates = pga_forward(Hc, p_t, noise, mu, lam, 4, trajectory=True)
    assert torch.allclose(cplx.abs2(F), torch.ones_like(F.re))  # constraint (5b)
    X = cplx.to_complex(cplx.matmul(F, W))
    assert torch.allclose((X.abs() ** 2).sum(dim=(1, 2)), p_t)  # constraint (5c)
    means = torch.stack(rates).mean(dim=1)
    assert len(rates) == 31 and means[-1] > means[0] + 0.1
    assert torch.all(means[1:] >= means[:-1] - 1e-9)  # small fixed steps: monotone on average


def test_each_iterate_of_a_long_pga_is_the_shorter_pga_bit_for_bit():
    """What evaluate relies on to take PGA-30 from its PGA-100 run."""
    _, Hc = _channels(B=6, N=16, K=4, seed=8)
    p_t, noise = _pt(6, 15.0)
    mu = torch.full((12, 2), 0.01, dtype=torch.float64)
    lam = torch.full((12,), 1e-4, dtype=torch.float64)
    iterates = list(pga_iterates(Hc, p_t, noise, mu, lam, 4))
    assert len(iterates) == 13
    for i in (0, 5, 12):
        (F, W), rates = pga_forward(Hc, p_t, noise, mu[:i], lam[:i], 4, trajectory=True)
        assert all(torch.equal(a, b) for a, b in zip((F.re, F.im, W.re, W.im), (*iterates[i].F, *iterates[i].W)))
        assert len(rates) == i + 1 and torch.equal(rates[-1], sum_rate(Hc, *iterates[i], noise))


def test_upga_with_initial_steps_is_conventional_pga():
    _, Hc = _channels(B=4, N=16, K=4, seed=6)
    p_t, noise = _pt(4)
    net = UPGA(n_layers=5, n_inner=2, n_rf=4)
    f_re, f_im, w_re, w_im = net(Hc.re, Hc.im, p_t, noise)
    (F, W), _ = pga_forward(Hc, p_t, noise, torch.full((5, 2), 0.01, dtype=torch.float64),
                            torch.full((5,), 1e-4, dtype=torch.float64), 4)
    assert torch.equal(f_re, F.re) and torch.equal(w_im, W.im)


def test_upga_float32_runs_close_to_float64():
    _, Hc = _channels(B=4, N=16, K=4, seed=7)
    p_t, noise = _pt(4)
    net = UPGA(3, 1, 4)
    H32 = cplx.C(Hc.re.float(), Hc.im.float())
    (F32, W32), _ = net.run(H32, p_t.float(), noise.float())
    (F64, W64), _ = net.run(Hc, p_t, noise)
    r32 = sum_rate(Hc, cplx.C(F32.re.double(), F32.im.double()), cplx.C(W32.re.double(), W32.im.double()), noise)
    assert F32.re.dtype == torch.float32
    assert torch.allclose(r32, sum_rate(Hc, F64, W64, noise), rtol=1e-4)


@pytest.mark.parametrize("p_t,noise,err", [(-1.0, 1.0, ConfigError), (0.0, 1.0, ConfigError),
                                           (1.0, -0.5, ConfigError), (1.0, 0.0, ConfigError),
                                           (float("nan"), 1.0, ConfigError)])
def test_bad_powers_rejected(p_t, noise, err):
    with pytest.raises(err):
        check_powers(torch.tensor([p_t], dtype=torch.float64), torch.tensor([noise], dtype=torch.float64), 1)


def test_bad_sizes_rejected():
    for bad in [dict(n_layers=0, n_inner=1, n_rf=4), dict(n_layers=2, n_inner=0, n_rf=4)]:
        with pytest.raises(ConfigError):
            UPGA(**bad)
    net = UPGA(2, 1, 4)
    _, Hc = _channels(B=2)
    with pytest.raises(ShapeError):
        net.run(cplx.C(Hc.re[0], Hc.im[0]), *_pt(2))
    with pytest.raises(ShapeError):
        net.run(Hc, *_pt(3))
