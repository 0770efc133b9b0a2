"""UPGANet: unfolded PGA for joint communications and sensing (JCAS), in real arithmetic.

Paper: ``upganet_jcas.txt``.  The paper's analog and digital precoders ``A, D`` are this
package's ``F, W``.  Objective (5a): ``R - omega tau`` with the sum rate R of eq. (2) (log2) and
the beampattern error ``tau = ||F W W^H F^H - Psi||_F^2`` of eq. (3); ``Psi = P_t Psi_1`` with
``Psi_1`` the unit-power benchmark covariance of eq. (4) (:mod:`hbf_edge.families.upganet.sensing`).

Shapes: ``H : [B, N, K]``, ``F : [B, N, M]``, ``W : [B, M, K]`` (``C`` pairs), ``psi1 : C``
``[N, N]``, ``p_t, noise : [B]``.

Choices where the paper is silent or slips (each is tested):

* eq. (10)-(11) carry ``xi = 1/ln 2``: they are the Wirtinger derivatives ``dR/dF^*`` of the
  log2 rate, the same convention as eq. (12)-(13) for tau, so ``R - omega tau`` is weighed as
  printed.  (:mod:`hbf_edge.objectives` omits ``xi``; it is applied here.)
* eq. (9) normalises with ``sqrt(P_BS)`` so that ``||F W||_F^2 = P_BS`` (5c) holds;
* eq. (14) says the update "is followed by the projection in (7)"; Algorithm 1 lists (7) once,
  after the J inner steps.  We project after every inner step, so each gradient (10), (12) is
  taken at a feasible F, as in the UPGA paper.  Measured with the once-per-layer reading: F
  grows during the inner steps and the cubic term of (12) with it, so conventional PGA with
  ``J = 10, mu = 0.2, lambda = 2e-4`` returned NaN on 1 of 1000 channels at 12 dB and UPGANet
  training from ``mu = 0.1`` turned NaN in its second epoch;
* eq. (17): ``[F_0]_nm = e^{+j theta_nm}`` (not ``e^{-j}``), so RF chain k adds user k's paths
  coherently, ``|h_k^H f_k| = ||h_k||_1``, as in the UPGA module; RF chains ``K..M-1`` take the
  phases of the first ``M - K`` target steering vectors (``M <= K + P`` is required);
* random and SVD initialisations (Fig. 2): random phases with ``W_0 = (H^H F_0)^+``, and the
  phases of ``[u_1..u_K, a(theta_1)..]`` (u_k the left singular vectors of ``H``, projected by (7)
  so that F_0 is feasible) with ``W_0`` as in (17); all normalised to ``P_t``;
* step sizes: Section IV starts UPGANet at ``mu = lambda = 0.01`` and uses them as conventional
  PGA's fixed steps.  With these channels (``E ||h_k||^2 = 10``) the two scales differ by orders
  of magnitude -- measured at the initialisation (17), N=64, mean entry magnitudes:
  ``|W| = 0.02 / 0.08`` and ``xi |grad_W R| = 5.0 / 4.7`` at 0 / 12 dB, while
  ``xi |grad_F R| = 0.015 / 0.05`` and ``omega |grad_F tau| = 0.0007 / 0.18`` -- so
  ``lambda = 0.01`` moves W by 2.5 times its size per step and ``mu = 0.01`` barely moves F.
  Conventional PGA keeps 0.01 (the baseline the paper defines); UPGANet's training starts from
  ``mu = 0.3``, ``lambda = 2e-4`` (:mod:`hbf_edge.cli`) and learns each kind of step relative to
  its own scale (:func:`hbf_edge.training.train_upganet`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hbf_edge import cplx
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.objectives import grad_F as _grad_F_ln
from hbf_edge.objectives import grad_W as _grad_W_ln
from hbf_edge.objectives import sum_rate
from hbf_edge.families.upganet.sensing import SensingScenario, steering
from hbf_edge.families.upga.model import Precoders, check_powers, normalize_power, project_unit_modulus

__all__ = [
    "JCAS_MU0",
    "JCAS_LAMBDA0",
    "INITS",
    "beampattern_error",
    "jcas_objective",
    "grad_tau",
    "grad_objective_F",
    "grad_objective_W",
    "init_jcas",
    "jcas_f_steps",
    "jcas_w_step",
    "jcas_layer",
    "jcas_forward",
    "UPGANet",
]

JCAS_MU0 = 0.01  # Section IV: mu_(0,0) = lambda_(0) = 0.01, also conventional PGA's fixed steps
JCAS_LAMBDA0 = 0.01
INITS = ("proposed", "random", "svd")
_XI = 1.0 / math.log(2.0)


def _psi_x(psi1: C, X: C, p_t: torch.Tensor) -> C:
    """``Psi X = P_t Psi_1 X``, ``[B, N, K]``."""
    return cplx.scale(cplx.matmul(psi1, X), p_t[:, None, None])


def beampattern_error(F: C, W: C, psi1: C, p_t: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``tau = ||X X^H - Psi||_F^2`` with ``X = F W``, ``[B]``.

    Expanded as ``||X^H X||_F^2 - 2 Re tr(X^H Psi X) + ||Psi||_F^2`` so that no N x N matrix
    is formed besides ``Psi`` itself: O(N^2 K).
    """
    X = cplx.matmul(F, W)
    gram = cplx.abs2(cplx.matmul_ah(X, X)).sum(dim=(-2, -1))
    PX = _psi_x(psi1, X, p_t)
    cross = (X.re * PX.re + X.im * PX.im).sum(dim=(-2, -1))
    psi_sq = cplx.abs2(psi1).sum() * p_t**2
    return gram - 2.0 * cross + psi_sq


def jcas_objective(H: C, F: C, W: C, noise: torch.Tensor, psi1: C, p_t: torch.Tensor, omega: float) -> torch.Tensor:
    """Objective (5a), ``R - omega tau``, ``[B]``."""
    return sum_rate(H, F, W, noise) - omega * beampattern_error(F, W, psi1, p_t)


def _tau_residual(F: C, W: C, psi1: C, p_t: torch.Tensor) -> C:
    """``Y = (X X^H - Psi) X = X (X^H X) - Psi X`` with ``X = F W``, ``[B, N, K]``."""
    X = cplx.matmul(F, W)
    return cplx.matmul(X, cplx.matmul_ah(X, X)) - _psi_x(psi1, X, p_t)


def grad_tau(F: C, W: C, psi1: C, p_t: torch.Tensor) -> tuple[C, C]:
    """Theorem 1: ``(d tau / d F^*, d tau / d W^*)``, eq. (12) and (13).

    With ``Y`` of :func:`_tau_residual`: eq. (12) ``2 (X X^H - Psi) F W W^H = 2 Y W^H`` and
    eq. (13) ``2 F^H (X X^H - Psi) F W = 2 F^H Y``; O(N^2 K) for ``Psi X``, the rest O(NMK).
    """
    Y = _tau_residual(F, W, psi1, p_t)
    return cplx.scale(cplx.matmul_bh(Y, W), 2.0), cplx.scale(cplx.matmul_ah(F, Y), 2.0)


def _ascent(g_rate: C, g_tau: C, weight: float) -> C:
    """``xi g_rate - weight g_tau``."""
    return C(_XI * g_rate.re - weight * g_tau.re, _XI * g_rate.im - weight * g_tau.im)


def grad_objective_F(H: C, F: C, W: C, noise: torch.Tensor, psi1: C, p_t: torch.Tensor, omega: float) -> C:
    """Ascent direction of (14b): ``xi grad_F R - omega grad_F tau`` (eq. 10, 12), ``[B, N, M]``."""
    g_tau = cplx.scale(cplx.matmul_bh(_tau_residual(F, W, psi1, p_t), W), 2.0)
    return _ascent(_grad_F_ln(H, F, W, noise), g_tau, omega)


def grad_objective_W(
    H: C, F: C, W: C, noise: torch.Tensor, psi1: C, p_t: torch.Tensor, omega: float, eta: float
) -> C:
    """Ascent direction of (15): ``xi grad_W R - omega eta grad_W tau`` (eq. 11, 13), ``[B, M, K]``."""
    g_tau = cplx.scale(cplx.matmul_ah(F, _tau_residual(F, W, psi1, p_t)), 2.0)
    return _ascent(_grad_W_ln(H, F, W, noise), g_tau, omega * eta)


def _pinv_wide(G: C) -> C:
    """``G^+ = G^H (G G^H)^{-1}`` of a full-row-rank ``G [B, K, M]`` (K <= M)."""
    return cplx.matmul(cplx.conj_t(G), cplx.inv(cplx.matmul_bh(G, G)))


def init_jcas(
    H: C, p_t: torch.Tensor, n_rf: int, sensing_steer: C, kind: str = "proposed", seed: int = 0
) -> Precoders:
    """Initial ``(F_0, W_0)``: eq. (17) (``"proposed"``), or the random / SVD starts of Fig. 2.

    Parameters
    ----------
    H : C, [B, N, K]
    sensing_steer : C, [N, P]
        Steering vectors ``a(theta_{a,p})`` of the targets; the first ``M - K`` are used.
    kind : {"proposed", "random", "svd"}
    seed : int
        Seed of the random phases (``"random"`` only).
    """
    B, N, K = H.re.shape
    extra = n_rf - K
    if extra < 0:
        raise ConfigError(f"n_rf (M={n_rf}) must be >= n_users (K={K})")
    if extra > sensing_steer.re.shape[-1]:
        raise ConfigError(f"eq. (17) needs M <= K + P: M={n_rf}, K={K}, P={sensing_steer.re.shape[-1]}")
    if kind not in INITS:
        raise ConfigError(f"init must be one of {INITS}, got {kind!r}")
    steer = C(sensing_steer.re[:, :extra].expand(B, N, extra), sensing_steer.im[:, :extra].expand(B, N, extra))
    zf = cplx.matmul(H, cplx.inv(cplx.matmul_ah(H, H)))  # X_ZF = (H^H)^+, [B, N, K]
    if kind == "random":
        gen = torch.Generator().manual_seed(seed)
        ang = 2.0 * math.pi * torch.rand(B, N, n_rf, generator=gen, dtype=torch.float64).to(H.re.dtype)
        F0 = C(torch.cos(ang), torch.sin(ang))
        W0 = _pinv_wide(cplx.matmul_ah(H, F0))  # (H^H F_0)^+, [B, M, K]
        return Precoders(F0, normalize_power(F0, W0, p_t))
    if kind == "svd":
        U, _, _ = torch.linalg.svd(cplx.to_complex(H), full_matrices=False)  # [B, N, K]
        first = cplx.from_complex(U)
    else:
        first = H
    G = C(torch.cat([first.re, steer.re], dim=-1), torch.cat([first.im, steer.im], dim=-1))
    F0 = project_unit_modulus(G)  # eq. (17), phases of G
    W0 = cplx.matmul(cplx.inv(cplx.matmul_ah(F0, F0)), cplx.matmul_ah(F0, zf))  # F_0^+ X_ZF
    return Precoders(F0, normalize_power(F0, W0, p_t))


def jcas_f_steps(H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, psi1: C, mu: torch.Tensor,
                 omega: float) -> C:
    """The ``J = len(mu)`` F-steps (14a)-(14c) of one layer, ``W`` fixed, each followed by (7)."""
    for j in range(mu.shape[0]):
        F = project_unit_modulus(F + cplx.scale(grad_objective_F(H, F, W, noise, psi1, p_t, omega), mu[j]))
    return F


def jcas_w_step(H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, psi1: C, lam: torch.Tensor,
                omega: float, eta: float) -> C:
    """The W-step (15) followed by the projection (9)."""
    return normalize_power(F, W + cplx.scale(grad_objective_W(H, F, W, noise, psi1, p_t, omega, eta), lam), p_t)


def jcas_layer(
    H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, psi1: C, mu: torch.Tensor,
    lam: torch.Tensor, omega: float, eta: float,
) -> Precoders:
    """One outer iteration / UPGANet layer (Algorithm 1 steps 3-10).

    ``J = len(mu)`` projected F-steps (14a)-(14c), (7) with ``W`` fixed, then one W-step (15)
    and the projection (9).

    Parameters
    ----------
    mu : Tensor [J]
    lam : Tensor []
    """
    F = jcas_f_steps(H, F, W, p_t, noise, psi1, mu, omega)  # eq. (14), (7)
    return Precoders(F, jcas_w_step(H, F, W, p_t, noise, psi1, lam, omega, eta))


def _check_psi(psi1: C, n: int) -> None:
    if psi1.re.shape != (n, n) or psi1.im.shape != (n, n):
        raise ShapeError(f"psi1 must be [N, N] = ({n}, {n}), got {tuple(psi1.re.shape)}")


def jcas_forward(
    H: C, p_t: torch.Tensor, noise: torch.Tensor, psi1: C, sensing_steer: C, mu: torch.Tensor,
    lam: torch.Tensor, n_rf: int, omega: float, eta: float, init: str = "proposed", seed: int = 0,
    trajectory: bool = False,
) -> tuple[Precoders, list[torch.Tensor] | None]:
    """Algorithm 1: initialisation, then ``I = len(lam)`` layers.  With fixed ``mu [I, J]`` and
    ``lam [I]`` this is the conventional PGA of the paper.

    Returns
    -------
    (F, W), objectives
        ``objectives``: with ``trajectory``, ``R - omega tau`` ``[B]`` after the initialisation
        and after every layer (``I + 1`` entries), else None.
    """
    check_powers(p_t, noise, H.re.shape[0])
    _check_psi(psi1, H.re.shape[1])
    F, W = init_jcas(H, p_t, n_rf, sensing_steer, init, seed)
    objs = [jcas_objective(H, F, W, noise, psi1, p_t, omega)] if trajectory else None
    for i in range(lam.shape[0]):
        F, W = jcas_layer(H, F, W, p_t, noise, psi1, mu[i], lam[i], omega, eta)
        if objs is not None:
            objs.append(jcas_objective(H, F, W, noise, psi1, p_t, omega))
    return Precoders(F, W), objs


class _LayerStage(nn.Module):
    """One :func:`jcas_layer` as a submodule so exported nodes carry the scope ``layers.<i>``."""

    def forward(self, H: C, F: C, W: C, p_t: torch.Tensor, noise: torch.Tensor, psi1: C, mu: torch.Tensor,
                lam: torch.Tensor, omega: float, eta: float) -> Precoders:
        return jcas_layer(H, F, W, p_t, noise, psi1, mu, lam, omega, eta)


class UPGANet(nn.Module):
    """UPGANet (Section III-B): I outer layers of J inner F-steps and one W-step, trainable
    step sizes ``mu [I, J]`` and ``lam [I]``.

    Parameters
    ----------
    n_layers, n_inner, n_rf : int
        I, J, M.
    psi1 : ndarray of complex, [N, N]
        Unit-power benchmark covariance (eq. 4); a buffer, saved with the model.
    scenario : SensingScenario
        Targets (the init's steering vectors) and omega.
    eta : float, optional
        Weight of ``grad_W tau`` in (15); default ``1/N``.
    """

    def __init__(self, n_layers: int, n_inner: int, n_rf: int, psi1: np.ndarray, scenario: SensingScenario,
                 eta: float | None = None, mu0: float = JCAS_MU0, lambda0: float = JCAS_LAMBDA0) -> None:
        super().__init__()
        for name, v in (("n_layers (I)", n_layers), ("n_inner (J)", n_inner), ("n_rf (M)", n_rf)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        psi1 = np.asarray(psi1)
        if psi1.ndim != 2 or psi1.shape[0] != psi1.shape[1] or not np.all(np.isfinite(psi1)):
            raise ShapeError(f"psi1 must be a finite [N, N] matrix, got shape {psi1.shape}")
        n = psi1.shape[0]
        self.n_rf = n_rf
        self.scenario = scenario
        self.eta = 1.0 / n if eta is None else float(eta)
        self.mu = nn.Parameter(torch.full((n_layers, n_inner), float(mu0), dtype=torch.float64))
        self.lam = nn.Parameter(torch.full((n_layers,), float(lambda0), dtype=torch.float64))
        self.register_buffer("psi_re", torch.from_numpy(np.ascontiguousarray(psi1.real, dtype=np.float64)))
        self.register_buffer("psi_im", torch.from_numpy(np.ascontiguousarray(psi1.imag, dtype=np.float64)))
        a = steering(np.asarray(scenario.targets_deg), n).T  # [N, P]
        self.register_buffer("steer_re", torch.from_numpy(np.ascontiguousarray(a.real)), persistent=False)
        self.register_buffer("steer_im", torch.from_numpy(np.ascontiguousarray(a.imag)), persistent=False)
        self.layers = nn.ModuleList([_LayerStage() for _ in range(n_layers)])

    @property
    def n_layers(self) -> int:
        return int(self.lam.shape[0])

    @property
    def n_inner(self) -> int:
        return int(self.mu.shape[1])

    @property
    def omega(self) -> float:
        return self.scenario.omega

    def psi1(self, dtype: torch.dtype = torch.float64) -> C:
        return C(self.psi_re.to(dtype), self.psi_im.to(dtype))

    def forward(self, h_re: torch.Tensor, h_im: torch.Tensor, p_t: torch.Tensor, noise: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(f_re, f_im, w_re, w_im)`` for channels ``h [B, N, K]`` and powers ``[B]``."""
        (F, W), _ = self.run(C(h_re, h_im), p_t, noise)
        return F.re, F.im, W.re, W.im

    def run(self, H: C, p_t: torch.Tensor, noise: torch.Tensor, trajectory: bool = False,
            init: str = "proposed", seed: int = 0) -> tuple[Precoders, list[torch.Tensor] | None]:
        """Algorithm 1 with the trained steps; optionally the objective after every layer."""
        if H.re.ndim != 3 or H.re.shape != H.im.shape:
            raise ShapeError(f"H must be [B, N, K] real/imag pairs, got {tuple(H.re.shape)}")
        dtype = H.re.dtype
        check_powers(p_t, noise, H.re.shape[0])
        psi1 = self.psi1(dtype)
        _check_psi(psi1, H.re.shape[1])
        mu, lam = self.mu.to(dtype), self.lam.to(dtype)
        F, W = init_jcas(H, p_t, self.n_rf, C(self.steer_re.to(dtype), self.steer_im.to(dtype)), init, seed)
        objs = [jcas_objective(H, F, W, noise, psi1, p_t, self.omega)] if trajectory else None
        for i, layer in enumerate(self.layers):
            F, W = layer(H, F, W, p_t, noise, psi1, mu[i], lam[i], self.omega, self.eta)
            if objs is not None:
                objs.append(jcas_objective(H, F, W, noise, psi1, p_t, self.omega))
        return Precoders(F, W), objs
