"""Theorem 1 against autograd, and eq. (4) against a direct per-user SINR computation."""

import math

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.baselines import sum_rate_np
from hbf_edge.objectives import grad_F, grad_W, per_user_rate, sum_rate


def _random(shape, gen):
    return torch.randn(*shape, dtype=torch.complex128, generator=gen)


def _autograd_rate(H, F, W, noise):
    """log2 sum rate with complex autograd, written independently of objectives.py."""
    E = H.conj().transpose(-1, -2) @ F @ W
    p = E.abs() ** 2
    sig = torch.diagonal(p, dim1=-2, dim2=-1)
    return torch.log2(1 + sig / (p.sum(-1) - sig + noise[:, None])).sum()


@pytest.mark.parametrize("N,M,K", [(8, 4, 4), (16, 6, 3), (5, 2, 1), (64, 4, 4)])
def test_gradients_equal_autograd(N, M, K):
    gen = torch.Generator().manual_seed(N * 100 + M * 10 + K)
    B = 4
    H, F, W = _random((B, N, K), gen), _random((B, N, M), gen), _random((B, M, K), gen)
    noise = torch.rand(B, dtype=torch.float64, generator=gen) + 0.05
    Fa, Wa = F.clone().requires_grad_(), W.clone().requires_grad_()
    _autograd_rate(H, Fa, Wa, noise).backward()
    c = cplx.from_complex
    gF = cplx.to_complex(grad_F(c(H), c(F), c(W), noise))
    gW = cplx.to_complex(grad_W(c(H), c(F), c(W), noise))
    # PyTorch's gradient of a real loss w.r.t. complex z is 2 dL/dz*; eq. (10)-(11) drop 1/ln 2
    factor = 2.0 / math.log(2.0)
    for auto, closed in ((Fa.grad, gF), (Wa.grad, gW)):
        rel = (auto - factor * closed).abs().max() / auto.abs().max()
        assert rel < 1e-10


def test_sum_rate_equals_direct_sinr():
    gen = torch.Generator().manual_seed(1)
    B, N, M, K = 6, 12, 5, 4
    H, F, W = _random((B, N, K), gen), _random((B, N, M), gen), _random((B, M, K), gen)
    noise = torch.rand(B, dtype=torch.float64, generator=gen) + 0.1
    c = cplx.from_complex
    ours = sum_rate(c(H), c(F), c(W), noise).numpy()
    direct = sum_rate_np(H.numpy(), (F @ W).numpy(), noise.numpy())
    assert np.allclose(ours, direct, rtol=1e-12)
    # per-user: user k's rate is log2(1 + SINR_k), computed here entry by entry
    per_user = per_user_rate(c(H), c(F), c(W), noise).numpy()
    X = (F @ W).numpy()
    h = H.numpy()
    for b in range(B):
        for k in range(K):
            g = [abs(np.vdot(h[b, :, k], X[b, :, l])) ** 2 for l in range(K)]
            sinr = g[k] / (sum(g) - g[k] + noise[b].item())
            assert per_user[b, k] == pytest.approx(np.log2(1 + sinr), rel=1e-12)


def test_cplx_helpers_match_complex_torch():
    gen = torch.Generator().manual_seed(2)
    A, Bm = _random((3, 4, 5), gen), _random((3, 4, 5), gen)
    R = _random((3, 4, 4), gen)
    S = R @ R.conj().transpose(-1, -2) + 0.1 * torch.eye(4)  # Hermitian positive definite
    c, z = cplx.from_complex, cplx.to_complex
    assert torch.allclose(z(cplx.matmul(c(A), c(Bm.transpose(-1, -2)))), A @ Bm.transpose(-1, -2))
    assert torch.allclose(z(cplx.matmul_ah(c(A), c(Bm))), A.conj().transpose(-1, -2) @ Bm)
    assert torch.allclose(z(cplx.matmul_bh(c(A), c(Bm))), A @ Bm.conj().transpose(-1, -2))
    assert torch.allclose(z(cplx.conj_t(c(A))), A.conj().transpose(-1, -2))
    assert torch.allclose(cplx.abs2(c(A)), A.abs() ** 2)
    assert torch.allclose(z(cplx.inv(c(S))), torch.linalg.inv(S))
