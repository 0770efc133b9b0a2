"""Sum rate (eq. 4) and its closed-form gradients (Theorem 1, eq. 10-11), in real arithmetic.

Paper: ``upga_multiuser_hbf.txt``.  Shapes (batch first, complex as :class:`~hbf_edge.cplx.C`):

* ``H : [B, N, K]``, column ``k`` is ``h_k``;
* ``F : [B, N, M]`` analog precoder; ``W : [B, M, K]`` digital precoder;
* ``noise : [B]`` noise power ``sigma_n^2`` (linear).

Everything is built on ``E = H^H F W : [B, K, K]``, ``E[k, l] = h_k^H F w_l``: with ``G = H^H F``
(``[B, K, M]``, O(NMK)) the rate and both gradients cost O(NMK + MK^2) per channel, the
complexity the paper's Section III-B3 states.
"""

from __future__ import annotations

import math

import torch

from hbf_edge import cplx
from hbf_edge.cplx import C

__all__ = ["sum_rate", "per_user_rate", "grad_F", "grad_W"]

_LN2 = math.log(2.0)


def _interference_terms(E: C, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a_k = sum_l |E_kl|^2 + s2`` and ``b_k = sum_{l != k} |E_kl|^2 + s2``, each [B, K]."""
    p = cplx.abs2(E)  # [B, K, K]
    total = p.sum(dim=-1) + noise[:, None]
    signal = torch.diagonal(p, dim1=-2, dim2=-1)
    return total, total - signal


def per_user_rate(H: C, F: C, W: C, noise: torch.Tensor) -> torch.Tensor:
    """Rate of each user in bit/s/Hz, the summand of eq. (4); ``[B, K]``."""
    E = cplx.matmul(cplx.matmul_ah(H, F), W)
    a, b = _interference_terms(E, noise)
    # log2(1 + S/(I+s2)) = log2(a) - log2(b): no division, and exact when S << I + s2.
    return (torch.log(a) - torch.log(b)) / _LN2


def sum_rate(H: C, F: C, W: C, noise: torch.Tensor) -> torch.Tensor:
    """Sum rate eq. (4) in bit/s/Hz, ``[B]``.  ``F`` may be the identity-free product: pass
    ``F = X`` (``[B, N, K]``) and ``W = I`` to rate a fully digital precoder ``X``."""
    return per_user_rate(H, F, W, noise).sum(dim=-1)


def _weighted_E(G: C, W: C, noise: torch.Tensor) -> C:
    """``C_kl = E_kl / a_k - [l != k] E_kl / b_k`` with ``E = G W``, ``[B, K, K]``.

    The k-th term of eq. (10)/(11) differentiates ``ln a_k - ln b_k``; ``a_k`` depends on every
    column of ``E[k]`` and ``b_k`` on all but the k-th (``W_kbar`` zeroes column k), which gives
    this per-entry weight.
    """
    E = cplx.matmul(G, W)
    a, b = _interference_terms(E, noise)
    K = E.re.shape[-1]
    off = 1.0 - torch.eye(K, dtype=E.re.dtype, device=E.re.device)
    return cplx.scale(E, 1.0 / a[..., None] - off / b[..., None])


def grad_F(H: C, F: C, W: C, noise: torch.Tensor) -> C:
    """Eq. (10): gradient of the sum rate with respect to ``F^*``, ``[B, N, M]``.

    ``sum_k h_k (h_k^H F V / a_k - h_k^H F V_kbar / b_k) = H (C W^H)`` with ``C`` from
    :func:`_weighted_E`, in O(NMK).  As the paper's eq. (10) does, it is the derivative of the
    natural-log rate and omits the ``1/ln 2`` of the appendix (the step sizes absorb it):
    autograd of the log2 rate with respect to a complex ``F`` equals ``(2 / ln 2) * grad_F``
    (PyTorch's convention for real losses of complex inputs).
    """
    Cm = _weighted_E(cplx.matmul_ah(H, F), W, noise)
    return cplx.matmul(H, cplx.matmul_bh(Cm, W))


def grad_W(H: C, F: C, W: C, noise: torch.Tensor) -> C:
    """Eq. (11): gradient of the sum rate with respect to ``W^*``, ``[B, M, K]``.

    ``sum_k Hbar_k (W / a_k - W_kbar / b_k) = G^H C`` with ``G = H^H F`` and ``Hbar_k =
    g_k^H g_k``; same natural-log convention as :func:`grad_F`.
    """
    G = cplx.matmul_ah(H, F)
    return cplx.matmul_ah(G, _weighted_E(G, W, noise))
