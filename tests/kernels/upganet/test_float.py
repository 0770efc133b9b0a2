"""UPGANet float kernel against the slow reference (tests/naive.py) and the torch network."""

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.errors import ConfigError, DTypeError, InvalidChannelError, ShapeError
from hbf_edge.families.upganet.model import UPGANet
from hbf_edge.families.upganet.sensing import SensingScenario, benchmark_covariance, steering
from hbf_edge.kernels.upganet.forward import UpganetModel, upganet_forward
import naive

N, M, K = 16, 4, 3
SC = SensingScenario(targets_deg=(-40.0, 0.0, 40.0), delta_deg=6.0, grid_points=181)


@pytest.fixture(scope="module")
def setup():
    psi1 = benchmark_covariance(SC, N).psi
    steer = steering(np.array(SC.targets_deg), N).T.copy()
    rng = np.random.default_rng(3)
    mu = rng.uniform(5e-4, 3e-3, size=(4, 3))
    lam = rng.uniform(5e-4, 3e-3, size=4)
    model = UpganetModel(mu, lam, psi1, steer, SC.omega, 1.0 / N, M)
    H = saleh_valenzuela_miso(6, N, K, 5, seed=11)
    p_t = np.array([1.0, 2.0, 4.0, 8.0, 12.0, 15.8])
    return model, H, p_t, np.ones(6)


def _run(model, H, p_t, noise, dtype=np.float64):
    f_re, f_im, w_re, w_im = upganet_forward(np.ascontiguousarray(H.real, dtype), np.ascontiguousarray(H.imag, dtype),
                                             p_t.astype(dtype), noise.astype(dtype), model)
    return f_re + 1j * f_im, w_re + 1j * w_im


def test_kernel_equals_the_naive_reference(setup):
    model, H, p_t, noise = setup
    F, W = _run(model, H, p_t, noise)
    Fn, Wn = naive.jcas_forward(H, p_t, noise, model.psi1, model.steer, model.mu, model.lam, M, model.omega, model.eta)
    assert np.max(np.abs(F - Fn)) < 1e-10
    assert np.max(np.abs(W - Wn)) < 1e-10
    assert np.allclose(np.abs(F), 1.0)
    assert np.allclose(np.linalg.norm(F @ W, axis=(1, 2)) ** 2, p_t)


def test_kernel_equals_the_torch_network(setup):
    model, H, p_t, noise = setup
    net = UPGANet(4, 3, M, model.psi1, SC)
    with torch.no_grad():
        net.mu.copy_(torch.from_numpy(model.mu))
        net.lam.copy_(torch.from_numpy(model.lam))
        (Ft, Wt), _ = net.run(cplx.from_complex(torch.from_numpy(H)), torch.from_numpy(p_t), torch.from_numpy(noise))
    F, W = _run(model, H, p_t, noise)
    assert np.max(np.abs(F - cplx.to_complex(Ft).numpy())) < 1e-10
    assert np.max(np.abs(W - cplx.to_complex(Wt).numpy())) < 1e-10


def test_float32_kernel_tracks_float64(setup):
    model, H, p_t, noise = setup
    F64, W64 = _run(model, H, p_t, noise)
    F32, W32 = _run(model, H, p_t, noise, np.float32)
    assert F32.dtype == np.complex64
    assert np.max(np.abs(F32 - F64)) < 1e-3
    assert np.max(np.abs(W32 - W64)) < 1e-3 * np.max(np.abs(W64))


def test_kernel_refuses_bad_inputs(setup):
    model, H, p_t, noise = setup
    hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
    with pytest.raises(DTypeError):
        upganet_forward(hr.astype(np.int64), hi, p_t, noise, model)
    bad = hr.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidChannelError):
        upganet_forward(bad, hi, p_t, noise, model)
    with pytest.raises(ConfigError):
        upganet_forward(hr, hi, -p_t, noise, model)
    with pytest.raises(ShapeError):
        upganet_forward(np.ascontiguousarray(hr[:, :-1]), np.ascontiguousarray(hi[:, :-1]), p_t, noise, model)
    many_rf = UpganetModel(model.mu, model.lam, model.psi1, model.steer[:, :1], model.omega, model.eta, M + 1)
    with pytest.raises(ConfigError):
        upganet_forward(hr, hi, p_t, noise, many_rf)  # M - K = 2 > P = 1
