"""UPGANet (JCAS): objective, closed-form gradients against autograd, Algorithm 1, inits."""

import math

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.upganet.model import (
    UPGANet,
    beampattern_error,
    grad_objective_F,
    grad_objective_W,
    grad_tau,
    init_jcas,
    jcas_forward,
    jcas_objective,
)
from hbf_edge.objectives import sum_rate
from hbf_edge.families.upganet.sensing import SensingScenario, benchmark_covariance, steering

N, M, K = 16, 4, 3
SC = SensingScenario(targets_deg=(-40.0, 0.0, 40.0), delta_deg=6.0, grid_points=181)


@pytest.fixture(scope="module")
def psi1():
    return benchmark_covariance(SC, N).psi


def _c(z):
    return cplx.from_complex(torch.as_tensor(z, dtype=torch.complex128))


def _rand(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex128, generator=g)


def _steer(n=N):
    return _c(steering(np.array(SC.targets_deg), n).T.copy())


def test_tau_is_eq_3(psi1):
    F, W = _rand((2, N, M), 1), _rand((2, M, K), 2)
    p = torch.tensor([1.0, 5.0], dtype=torch.float64)
    X = F @ W
    want = ((X @ X.conj().transpose(1, 2) - p[:, None, None] * torch.from_numpy(psi1)).abs() ** 2).sum((1, 2))
    got = beampattern_error(_c(F), _c(W), _c(psi1), p)
    assert torch.allclose(got, want, rtol=1e-12)


def test_closed_form_gradients_equal_autograd(psi1):
    # PyTorch's gradient of a real loss with respect to a complex z is 2 dL/dz^*
    H, F, W = _rand((3, N, K), 3), _rand((3, N, M), 4), _rand((3, M, K), 5)
    p = torch.tensor([1.0, 4.0, 15.8], dtype=torch.float64)
    noise = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    omega, eta = 0.3, 1.0 / N
    Fr, Wr = F.clone().requires_grad_(), W.clone().requires_grad_()
    tau = beampattern_error(C(Fr.real, Fr.imag), C(Wr.real, Wr.imag), _c(psi1), p)
    rate = sum_rate(_c(H), C(Fr.real, Fr.imag), C(Wr.real, Wr.imag), noise)
    gF_tau, gW_tau = torch.autograd.grad(tau.sum(), (Fr, Wr), retain_graph=True)
    gF_R, gW_R = torch.autograd.grad(rate.sum(), (Fr, Wr))
    tF, tW = grad_tau(_c(F), _c(W), _c(psi1), p)  # eq. (12), (13)
    assert torch.allclose(cplx.to_complex(tF), gF_tau / 2, rtol=1e-10, atol=1e-10)
    assert torch.allclose(cplx.to_complex(tW), gW_tau / 2, rtol=1e-10, atol=1e-10)
    aF = grad_objective_F(_c(H), _c(F), _c(W), noise, _c(psi1), p, omega)  # eq. (10) - omega (12)
    aW = grad_objective_W(_c(H), _c(F), _c(W), noise, _c(psi1), p, omega, eta)  # eq. (11) - omega eta (13)
    assert torch.allclose(cplx.to_complex(aF), (gF_R - omega * gF_tau) / 2, rtol=1e-10, atol=1e-10)
    assert torch.allclose(cplx.to_complex(aW), (gW_R - omega * eta * gW_tau) / 2, rtol=1e-10, atol=1e-10)


def test_init_eq_17_aligns_with_users_and_targets(psi1):
    H = _c(saleh_valenzuela_miso(4, N, K, 5, seed=0))
    p = torch.full((4,), 3.0, dtype=torch.float64)
    F, W = init_jcas(H, p, M, _steer())
    assert torch.allclose(cplx.abs2(F), torch.ones_like(F.re))
    # RF chain k adds user k's entries coherently: |h_k^H f_k| = ||h_k||_1
    Hc, Fc = cplx.to_complex(H), cplx.to_complex(F)
    for k in range(K):
        got = (Hc[:, :, k].conj() * Fc[:, :, k]).sum(-1).abs()
        assert torch.allclose(got, Hc[:, :, k].abs().sum(-1))
    # RF chain K takes the phases of the first target's steering vector (M - K = 1)
    a = steering([SC.targets_deg[0]], N)[0]
    assert np.allclose(Fc[:, :, K].numpy(), np.broadcast_to(a, (4, N)))
    X = cplx.matmul(F, W)
    assert torch.allclose(cplx.abs2(X).sum((1, 2)), p)  # (5c)
    for kind in ("random", "svd"):
        F2, W2 = init_jcas(H, p, M, _steer(), kind, seed=3)
        assert torch.allclose(cplx.abs2(F2), torch.ones_like(F2.re))
        assert torch.allclose(cplx.abs2(cplx.matmul(F2, W2)).sum((1, 2)), p)


def test_init_needs_m_at_most_k_plus_p():
    H = _c(saleh_valenzuela_miso(1, N, 1, 5, seed=0))
    with pytest.raises(ConfigError):
        init_jcas(H, torch.ones(1, dtype=torch.float64), 5, _steer())  # M - K = 4 > P = 3
    with pytest.raises(ConfigError):
        init_jcas(H, torch.ones(1, dtype=torch.float64), 2, _steer(), kind="bogus")


def test_network_with_fixed_steps_is_algorithm_1(psi1):
    H = _c(saleh_valenzuela_miso(3, N, K, 5, seed=1))
    p = torch.tensor([1.0, 4.0, 15.0], dtype=torch.float64)
    noise = torch.ones(3, dtype=torch.float64)
    net = UPGANet(4, 3, M, psi1, SC, mu0=1e-3, lambda0=1e-3)
    (F, W), objs = net.run(H, p, noise, trajectory=True)
    mu = torch.full((4, 3), 1e-3, dtype=torch.float64)
    lam = torch.full((4,), 1e-3, dtype=torch.float64)
    (F2, W2), objs2 = jcas_forward(H, p, noise, _c(psi1), _steer(), mu, lam, M, SC.omega, 1.0 / N, trajectory=True)
    assert torch.equal(F.re, F2.re) and torch.equal(W.im, W2.im)
    assert len(objs) == 5 and all(torch.equal(a, b) for a, b in zip(objs, objs2))
    assert torch.allclose(cplx.abs2(F), torch.ones_like(F.re))  # (7)
    assert torch.allclose(cplx.abs2(cplx.matmul(F, W)).sum((1, 2)), p)  # (9) with sqrt(P)
    assert torch.allclose(objs[-1], jcas_objective(H, F, W, noise, _c(psi1), p, SC.omega))


def test_one_inner_step_is_projected_gradient_ascent_by_hand(psi1):
    # Algorithm 1 for I = J = 1 written out with autograd gradients (an independent route)
    H = _c(saleh_valenzuela_miso(2, N, K, 5, seed=2))
    p = torch.tensor([2.0, 8.0], dtype=torch.float64)
    noise = torch.ones(2, dtype=torch.float64)
    mu, lam, omega, eta = 2e-3, 5e-3, SC.omega, 1.0 / N
    F0, W0 = init_jcas(H, p, M, _steer())
    Fz = cplx.to_complex(F0).requires_grad_()
    obj = jcas_objective(H, C(Fz.real, Fz.imag), W0, noise, _c(psi1), p, omega).sum()
    (gF,) = torch.autograd.grad(obj, Fz)
    F1 = Fz.detach() + mu * gF / 2
    F1 = F1 / F1.abs()
    Wz = cplx.to_complex(W0).requires_grad_()
    rate = sum_rate(H, cplx.from_complex(F1), C(Wz.real, Wz.imag), noise).sum()
    tau = beampattern_error(cplx.from_complex(F1), C(Wz.real, Wz.imag), _c(psi1), p).sum()
    (gW,) = torch.autograd.grad(rate - omega * eta * tau, Wz)
    W1 = Wz.detach() + lam * gW / 2
    W1 = W1 * (p.sqrt() / (F1 @ W1).abs().pow(2).sum((1, 2)).sqrt())[:, None, None]
    (F, W), _ = jcas_forward(H, p, noise, _c(psi1), _steer(), torch.tensor([[mu]], dtype=torch.float64),
                             torch.tensor([lam], dtype=torch.float64), M, omega, eta)
    assert torch.allclose(cplx.to_complex(F), F1, atol=1e-12)
    assert torch.allclose(cplx.to_complex(W), W1, atol=1e-12)


def test_bad_inputs_are_refused(psi1):
    net = UPGANet(2, 1, M, psi1, SC)
    H = _c(saleh_valenzuela_miso(2, N, K, 5, seed=0))
    one = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ConfigError):
        net.run(H, -one, one)
    with pytest.raises(ConfigError):
        net.run(H, one, torch.full((2,), math.nan, dtype=torch.float64))
    with pytest.raises(ShapeError):
        net.run(_c(saleh_valenzuela_miso(2, N + 1, K, 5, seed=0)), one, one)  # Psi is N x N
    with pytest.raises(ShapeError):
        UPGANet(2, 1, M, np.ones((N, N + 1)), SC)
    with pytest.raises(ConfigError):
        UPGANet(0, 1, M, psi1, SC)
