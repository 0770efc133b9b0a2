"""Projected gradient ascent (PGA) hybrid beamforming and its unfolded network (UPGA).

Paper: ``upga_multiuser_hbf.txt`` (Algorithm 1).  All layers are real arithmetic through
:mod:`hbf_edge.cplx`, so the same code runs as conventional PGA (fixed step sizes), as the
trainable :class:`UPGA` network, and traces to a real-only ONNX graph; ``kernels/`` mirrors it.

Shapes: ``H : [B, N, K]``, ``F : [B, N, M]``, ``W : [B, M, K]`` (complex as ``C`` pairs),
``p_t, noise : [B]`` linear powers.

Choices where the paper is silent or slips (each is tested):

* eq. (9) normalises with ``sqrt(P_t)`` (as eq. 13 does) so that ``||F W||_F^2 = P_t``;
* eq. (12) takes ``theta_nm`` as the phase of ``H = [h_1..h_K]^H`` (the ``H`` of the layer
  description), i.e. ``F_0[:, k] = exp(j angle h_k)``, which aligns RF chain k with user k so
  ``|h_k^H f_k| = ||h_k||_1``; the other reading sums incoherently;
* M > K: RF chains ``K..M-1`` start on the DFT beams ``exp(-j 2 pi n (m - K) / N)`` (a fixed,
  channel-independent, full-rank completion); M < K is rejected by :class:`HardwareSpec`;
* projection (7) of an entry that is exactly zero gives ``1`` (phase 0), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from hbf_edge import cplx
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.objectives import grad_F, grad_W, sum_rate

if TYPE_CHECKING:
    from hbf_edge.families.upga.snr_steps import SnrLaw

__all__ = [
    "PGA_MU0",
    "PGA_LAMBDA0",
    "Precoders",
    "init_precoders",
    "project_unit_modulus",
    "normalize_power",
    "pga_layer",
    "pga_forward",
    "pga_iterates",
    "UPGA",
    "check_powers",
]

PGA_MU0 = 0.01  # paper Section IV: mu_(0,0), also the fixed step of conventional PGA
PGA_LAMBDA0 = 1e-4  # lambda_(0,0)


class Precoders(NamedTuple):
    F: C  # [B, N, M]
    W: C  # [B, M, K]


def check_powers(p_t: torch.Tensor, noise: torch.Tensor, batch: int) -> None:
    """Reject transmit powers <= 0, noise powers <= 0, NaN, and wrong shapes.

    Skipped while tracing for ONNX export: data checks cannot be part of the graph (the
    runtime side validates its inputs itself).
    """
    if torch.jit.is_tracing():
        return
    for name, value in (("p_t", p_t), ("noise", noise)):
        if value.shape != (batch,):
            raise ShapeError(f"{name} must have shape [B]=({batch},), got {tuple(value.shape)}")
        if not torch.all(torch.isfinite(value)):
            raise ConfigError(f"{name} must be finite")
    if not torch.all(p_t > 0):
        raise ConfigError("transmit power P_t must be > 0")
    if not torch.all(noise > 0):
        raise ConfigError("noise power sigma_n^2 must be > 0 (negative or zero noise is not a channel)")


def project_unit_modulus(F: C) -> C:
    """Eq. (7): ``[F]_nm <- [F]_nm / |[F]_nm|``; an exact zero maps to 1."""
    mag = torch.sqrt(cplx.abs2(F))
    nonzero = mag > 0
    safe = torch.where(nonzero, mag, torch.ones_like(mag))
    return C(torch.where(nonzero, F.re / safe, torch.ones_like(mag)), F.im / safe)


def normalize_power(F: C, W: C, p_t: torch.Tensor) -> C:
    """Eq. (9) with the ``sqrt(P_t)`` fix: ``W <- sqrt(P_t) W / ||F W||_F``."""
    X = cplx.matmul(F, W)
    norm = torch.sqrt(cplx.abs2(X).sum(dim=(-2, -1)))
    return cplx.scale(W, (torch.sqrt(p_t) / norm)[:, None, None])


def init_precoders(H: C, p_t: torch.Tensor, n_rf: int) -> Precoders:
    """Initialisation eq. (12)-(13).

    ``F_0 = exp(j angle H)`` (first K RF chains; DFT beams beyond, see module notes) and
    ``W_0 = F_0^+ (H^H)^+ = (F_0^H F_0)^{-1} F_0^H H (H^H H)^{-1}``, normalised to
    ``||F_0 W_0||_F^2 = P_t``.  ``(H^H)^+ = H (H^H H)^{-1}`` is the zero-forcing precoder, so
    ``W_0`` is its least-squares fit through ``F_0``.

    Parameters
    ----------
    H : C, [B, N, K]
    p_t : Tensor [B]
    n_rf : int
        M >= K.
    """
    B, N, K = H.re.shape
    if n_rf < K:
        raise ConfigError(f"n_rf (M={n_rf}) must be >= n_users (K={K})")
    F0 = project_unit_modulus(H)  # eq. (12)
    if n_rf > K:
        n = torch.arange(N, dtype=H.re.dtype, device=H.re.device)[:, None]
        m = torch.arange(n_rf - K, dtype=H.re.dtype, device=H.re.device)[None, :]
        ang = -2.0 * math.pi * n * m / N
        extra = C(torch.cos(ang).expand(B, N, n_rf - K), torch.sin(ang).expand(B, N, n_rf - K))
        F0 = C(torch.cat([F0.re, extra.re], dim=-1), torch.cat([F0.im, extra.im], dim=-1))
    zf = cplx.matmul(H, cplx.inv(cplx.matmul_ah(H, H)))  # (H^H)^+ : [B, N, K]
    W0 = cplx.matmul(cplx.inv(cplx.matmul_ah(F0, F0)), cplx.matmul_ah(F0, zf))  # eq. (13)
    return Precoders(F0, normalize_power(F0, W0, p_t))


def pga_layer(
    H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, mu: torch.Tensor, lam: torch.Tensor
) -> Precoders:
    """One outer PGA iteration / UPGA layer: J projected F-steps then one W-step.

    Algorithm 1 steps 3-10: ``F <- P_unit(F + mu_j grad_F R(F, W))`` for ``j = 0..J-1``
    (eq. 6-7), then ``W <- P_power(W + lambda grad_W R(F, W))`` (eq. 8-9).

    Parameters
    ----------
    mu : Tensor [J]
        Inner F step sizes of this layer (``[J, B, 1, 1]``: one per channel).
    lam : Tensor []
        W step size of this layer (``[B, 1, 1]``: one per channel).
    """
    for j in range(mu.shape[0]):
        g = grad_F(H, F, W, noise)
        F = project_unit_modulus(F + cplx.scale(g, mu[j]))  # eq. (6)-(7)
    g = grad_W(H, F, W, noise)
    W = normalize_power(F, W + cplx.scale(g, lam), p_t)  # eq. (8)-(9)
    return Precoders(F, W)


def pga_forward(
    H: C,
    p_t: torch.Tensor,
    noise: torch.Tensor,
    mu: torch.Tensor,
    lam: torch.Tensor,
    n_rf: int,
    trajectory: bool = False,
) -> tuple[Precoders, list[torch.Tensor] | None]:
    """Algorithm 1: initialisation then ``I = len(lam)`` PGA layers.

    Parameters
    ----------
    mu : Tensor [I, J]
    lam : Tensor [I]
        Or one per channel, ``[I, J, B, 1, 1]`` and ``[I, B, 1, 1]``
        (:meth:`hbf_edge.families.upga.snr_steps.SnrLaw.steps`).
    trajectory : bool
        Also return the sum rate ``[B]`` after the initialisation and after every layer
        (``I + 1`` entries).
    """
    rates = [] if trajectory else None
    for design in pga_iterates(H, p_t, noise, mu, lam, n_rf):
        if rates is not None:
            rates.append(sum_rate(H, *design, noise))
    return design, rates


def pga_iterates(
    H: C, p_t: torch.Tensor, noise: torch.Tensor, mu: torch.Tensor, lam: torch.Tensor, n_rf: int
) -> Iterator[Precoders]:
    """Algorithm 1 one design at a time: the initialisation, then the design after each of the
    ``I = len(lam)`` layers (``I + 1`` in all), so that one run gives every shorter PGA too
    (the steps are fixed: PGA-30 is the 30th iterate of PGA-100, bit for bit)."""
    check_powers(p_t, noise, H.re.shape[0])
    F, W = init_precoders(H, p_t, n_rf)
    yield Precoders(F, W)
    for i in range(lam.shape[0]):
        F, W = pga_layer(H, F, W, p_t, noise, mu[i], lam[i])
        yield Precoders(F, W)


class _InitStage(nn.Module):
    """Eq. (12)-(13) as a submodule, so exported graph nodes carry the scope ``init``."""

    def __init__(self, n_rf: int) -> None:
        super().__init__()
        self.n_rf = n_rf

    def forward(self, H: C, p_t: torch.Tensor) -> Precoders:
        return init_precoders(H, p_t, self.n_rf)


class _LayerStage(nn.Module):
    """One :func:`pga_layer` as a submodule (no parameters of its own): exported graph nodes
    carry the scope ``layers.<i>``, which the profiler maps back to layers."""

    def forward(self, H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, mu: torch.Tensor,
                lam: torch.Tensor) -> Precoders:
        return pga_layer(H, F, W, p_t, noise, mu, lam)


class UPGA(nn.Module):
    """Unfolded PGA network: I layers of :func:`pga_layer` with trainable step sizes.

    Parameters
    ----------
    n_layers : int
        I >= 1 outer layers.
    n_inner : int
        J >= 1 F-steps per layer.
    n_rf : int
        M, RF chains.
    mu0, lambda0 : float
        Initial step sizes (paper: 0.01 and 1e-4, the conventional PGA values).
    snr_law : SnrLaw, optional
        Steps that depend on the SNR (:mod:`hbf_edge.families.upga.snr_steps`, not in the
        paper): ``mu`` and ``lam`` times the exponentials of the law's log-gains ``mu_snr [G, I,
        J]`` and ``lam_snr [G, I]`` (from 0).  None (default): the paper's steps, one set for
        every SNR.

    Attributes
    ----------
    mu : Parameter [I, J]
    lam : Parameter [I]
    """

    def __init__(
        self, n_layers: int, n_inner: int, n_rf: int, mu0: float = PGA_MU0, lambda0: float = PGA_LAMBDA0,
        snr_law: "SnrLaw | None" = None,
    ) -> None:
        super().__init__()
        for name, v in (("n_layers (I)", n_layers), ("n_inner (J)", n_inner), ("n_rf (M)", n_rf)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        self.n_rf = n_rf
        self.mu = nn.Parameter(torch.full((n_layers, n_inner), float(mu0), dtype=torch.float64))
        self.lam = nn.Parameter(torch.full((n_layers,), float(lambda0), dtype=torch.float64))
        self.snr_law = snr_law
        if snr_law is not None:
            G = snr_law.n_points
            self.mu_snr = nn.Parameter(torch.zeros((G, n_layers, n_inner), dtype=torch.float64))
            self.lam_snr = nn.Parameter(torch.zeros((G, n_layers), dtype=torch.float64))
        self.init = _InitStage(n_rf)
        self.layers = nn.ModuleList([_LayerStage() for _ in range(n_layers)])

    @property
    def n_layers(self) -> int:
        return int(self.lam.shape[0])

    @property
    def n_inner(self) -> int:
        return int(self.mu.shape[1])

    def forward(
        self, h_re: torch.Tensor, h_im: torch.Tensor, p_t: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Design ``(F, W)`` for a batch of channels.

        Parameters
        ----------
        h_re, h_im : Tensor [B, N, K]
            Real and imaginary parts of the channels (columns h_k).
        p_t, noise : Tensor [B]
            Transmit and noise powers (linear).

        Returns
        -------
        f_re, f_im : Tensor [B, N, M]
        w_re, w_im : Tensor [B, M, K]
        """
        (F, W), _ = self.run(C(h_re, h_im), p_t, noise)
        return F.re, F.im, W.re, W.im

    def run(
        self, H: C, p_t: torch.Tensor, noise: torch.Tensor, trajectory: bool = False
    ) -> tuple[Precoders, list[torch.Tensor] | None]:
        """Like :meth:`forward` on a ``C`` channel, optionally with the per-layer rates."""
        if H.re.ndim != 3 or H.re.shape != H.im.shape:
            raise ShapeError(f"H must be [B, N, K] real/imag pairs, got {tuple(H.re.shape)}")
        dtype = H.re.dtype
        check_powers(p_t, noise, H.re.shape[0])
        mu, lam = self.mu.to(dtype), self.lam.to(dtype)
        if self.snr_law is not None:
            mu, lam = self.snr_law.steps(mu, lam, self.mu_snr.to(dtype), self.lam_snr.to(dtype), p_t, noise)
        F, W = self.init(H, p_t)
        rates = [sum_rate(H, F, W, noise)] if trajectory else None
        for i, layer in enumerate(self.layers):  # the same steps as pga_forward, scoped per layer
            F, W = layer(H, F, W, p_t, noise, mu[i], lam[i])
            if rates is not None:
                rates.append(sum_rate(H, F, W, noise))
        return Precoders(F, W), rates
