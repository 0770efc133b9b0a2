"""DeepFP: FastFP unfolded into L layers whose step is chosen by a small complex DNN, in real
arithmetic (paper ``deepfp.txt`` Section IV).

Layer ``l`` (eq. 48-52): ``Z = V`` (36), ``Gamma`` (28) and ``Y`` (27) at ``Z``, ``Lambda`` (26)
and ``L`` (30), the step from the layer's DNN (51), then ``V = Z + s (Lambda - L Z)`` (38) and
the power scaling of (37).  Shapes as in :mod:`hbf_edge.families.deepfp.wsr`: ``H : [B, L, K, L, N_r, N_t]``,
``V : [B, L, K, N_t, d]``; complex values are :class:`hbf_edge.cplx.C` pairs so the network
traces to a real ONNX graph.

Choices where the paper is silent (each tested):

* the DNN chooses the **step** ``s = 1/lambda`` per user, relative to Remark 9's
  ``1/||L_l||_F``: ``s = exp(Re(out)) / ||L_l||_F``, and it sees ``(Z_lk, (Lambda_lk - L_l
  Z_lk) / ||L_l||_F)`` (eq. 46 flattened, length ``2 N_t d``), the direction in the units of a
  FastFP step (unscaled: entries about 1/27 at N_t=64, K=6, d=2; measured, rescaling the inputs
  to O(1) entries made training unstable and ended lower, 16.2 against 17.2 bit/s/Hz validation WSR
  on the single-cell Table I problem).  An untrained network (``out`` near 0) thus starts at FastFP with the Frobenius
  step and learns how much more aggressive to be.  Measured with the paper's literal form
  (``s = Re(out)`` on the raw pair; the authors' code also outputs the step): single cell,
  N_t=8, K=3, N_r=2, d=1, 3 layers, 40 training channels, 8 + 10 epochs at lr 5e-3: validation
  WSR 5.39 -> 5.78 bit/s/Hz, below FastFP's 6.63 after 3 iterations;
* the hidden layers are complex linear maps with the complex ReLU of eq. (47) applied to
  real and imaginary parts;
* the weights ``w_lk`` are ones and every budget ``P_l`` and the noise are 1 (the dataset units
  of :mod:`hbf_edge.families.deepfp.network`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hbf_edge import cplx
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError, ShapeError

__all__ = ["ComplexLinear", "StepNet", "DeepFP", "fp_state", "direction", "fastfp_update", "power_scale_t", "wsr_t",
           "fastfp_t", "to_c", "DEFAULT_HIDDEN"]

DEFAULT_HIDDEN = 64
STEP_LOG_RANGE = 10.0  # the DNN scales its base step by exp(out), out clamped to +-10
STEP_BASES = ("frobenius", "exact")


def to_c(z: np.ndarray, dtype: torch.dtype = torch.float64) -> C:
    z = np.ascontiguousarray(z)
    return C(torch.from_numpy(z.real.copy()).to(dtype), torch.from_numpy(z.imag.copy()).to(dtype))


def _ein(eq: str, a: C, b: C, conj_a: bool = False) -> C:
    """``einsum(eq, a, b)`` of complex pairs (``conj(a)`` with ``conj_a``)."""
    ai = -a.im if conj_a else a.im
    return C(torch.einsum(eq, a.re, b.re) - torch.einsum(eq, ai, b.im),
             torch.einsum(eq, a.re, b.im) + torch.einsum(eq, ai, b.re))


def _received(H: C, V: C) -> tuple[C, C, C]:
    """``HV[b,l,k,i,j] = H_{lk,i} V_ij``; ``A = H_{lk,l} V_lk``; ``D`` of eq. (10) (unit noise)."""
    HV = _ein("blkirn,bijnd->blkijrd", H, V)
    D = C(torch.einsum("blkijrd,blkijsd->blkrs", HV.re, HV.re) + torch.einsum("blkijrd,blkijsd->blkrs", HV.im, HV.im),
          torch.einsum("blkijrd,blkijsd->blkrs", HV.im, HV.re) - torch.einsum("blkijrd,blkijsd->blkrs", HV.re, HV.im))
    Nr = H.re.shape[4]
    D = D + cplx.eye(Nr, H.re)
    A = C(torch.einsum("blklkrd->blkrd", HV.re), torch.einsum("blklkrd->blkrd", HV.im))
    return HV, A, D


def _herm(a: C) -> C:
    t = cplx.conj_t(a)
    return C(0.5 * (a.re + t.re), 0.5 * (a.im + t.im))


def fp_state(H: C, Z: C) -> tuple[C, C, C, C]:
    """``(Y, Gamma, Lambda, L)`` at ``Z``: eq. (27), (28), (26), (30) (unit weights)."""
    _, A, D = _received(H, Z)
    d = Z.re.shape[-1]
    Dinv = cplx.inv(_herm(D))
    Y = cplx.matmul(Dinv, A)  # (27)
    F = _herm(D - cplx.matmul_bh(A, A))
    Gam = _herm(cplx.matmul_ah(A, cplx.matmul(cplx.inv(F), A)))  # (28)
    YG = cplx.matmul(Y, Gam + cplx.eye(d, Z.re))
    H_own = C(torch.einsum("blklrn->blkrn", H.re), torch.einsum("blklrn->blkrn", H.im))
    Lam = cplx.matmul_ah(H_own, YG)  # (26)
    M = cplx.matmul_bh(YG, Y)  # Y (I + Gamma) Y^H, [B, L, K, N_r, N_r]
    HM = _ein("bijlrn,bijrs->bijlns", H, M, conj_a=True)  # H^H M
    Lmat = _herm(_ein("bijlns,bijlsm->blnm", HM, H))  # (30)
    return Y, Gam, Lam, Lmat


def power_scale_t(V: C, budget: float = 1.0) -> C:
    """Eq. (37): scale each cell down onto its budget if it exceeds it."""
    p = cplx.abs2(V).sum(dim=(2, 3, 4))
    s = torch.clamp(torch.sqrt(budget / torch.clamp(p, min=torch.finfo(p.dtype).tiny)), max=1.0)[:, :, None, None, None]
    return C(V.re * s, V.im * s)


def direction(Z: C, Lam: C, Lmat: C) -> C:
    """``Lambda_lk - L_l Z_lk``, the ascent direction of eq. (38), ``[B, L, K, N_t, d]``."""
    return Lam - cplx.matmul(C(Lmat.re[:, :, None], Lmat.im[:, :, None]), Z)


def fastfp_update(Z: C, G: C, step: torch.Tensor) -> C:
    """Eq. (38) and (37): ``V = Z + s G`` with a step per user ``[B, L, K]``, power-scaled."""
    s = step[..., None, None]
    return power_scale_t(C(Z.re + s * G.re, Z.im + s * G.im))


def fastfp_t(H: C, V0: C, iterations: int) -> C:
    """FastFP (eq. 36-38, ``lambda = lambda_max(L_l)`` of eq. 34) in the same real arithmetic as
    a DeepFP layer, the eigenvalue in place of the DNN: the like-for-like CPU-time baseline."""
    V = V0
    K = V0.re.shape[2]
    for _ in range(iterations):
        _, _, Lam, Lmat = fp_state(H, V)
        lam = torch.linalg.eigvalsh(cplx.to_complex(Lmat))[..., -1]  # (34)
        V = fastfp_update(V, direction(V, Lam, Lmat), (1.0 / lam)[:, :, None].expand(-1, -1, K))
    return V


def wsr_t(H: C, V: C) -> torch.Tensor:
    """Weighted sum rate eq. (2)-(4a), unit weights and noise, log2, ``[B]``."""
    _, A, D = _received(H, V)
    F = _herm(D - cplx.matmul_bh(A, A))
    G = cplx.matmul_ah(A, cplx.matmul(cplx.inv(F), A))
    d = V.re.shape[-1]
    Mc = cplx.to_complex(G + cplx.eye(d, V.re))
    return torch.linalg.slogdet(Mc)[1].sum(dim=(1, 2)) / math.log(2.0)


class ComplexLinear(nn.Module):
    """``y = W x + b`` with complex ``W [out, in]`` and ``b``, in real arithmetic."""

    def __init__(self, n_in: int, n_out: int, seed_gen: torch.Generator | None = None, imag_bias: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(2 * n_in)  # the complex analogue of PyTorch's default scale

        def uniform(*shape: int) -> nn.Parameter:
            return nn.Parameter((torch.rand(*shape, generator=seed_gen, dtype=torch.float64) * 2 - 1) * bound)

        self.w_re, self.w_im, self.b_re = uniform(n_out, n_in), uniform(n_out, n_in), uniform(n_out)
        # a layer read through Re(.) only has no use for an imaginary bias
        self.b_im = uniform(n_out) if imag_bias else None

    def forward(self, x: C) -> C:
        wr, wi = self.w_re.to(x.re.dtype), self.w_im.to(x.re.dtype)
        im = x.re @ wi.T + x.im @ wr.T
        return C(x.re @ wr.T - x.im @ wi.T + self.b_re.to(x.re.dtype),
                 im + self.b_im.to(x.re.dtype) if self.b_im is not None else im)


class StepNet(nn.Module):
    """The DNN theta_l of eq. (46)/(51): complex linear layers with the complex ReLU (47)
    between them, ``Re`` of the output: the step ``s = 1/lambda`` per user."""

    def __init__(self, n_in: int, hidden: int = DEFAULT_HIDDEN, n_hidden: int = 2,
                 seed_gen: torch.Generator | None = None) -> None:
        super().__init__()
        sizes = [n_in] + [hidden] * n_hidden + [1]
        last = len(sizes) - 2
        self.layers = nn.ModuleList(ComplexLinear(a, b, seed_gen, imag_bias=i < last)
                                    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    def forward(self, x: C) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = C(torch.relu(x.re), torch.relu(x.im))  # eq. (47)
        return x.re[..., 0]


class DeepFP(nn.Module):
    """L unfolded FastFP layers, each with its own :class:`StepNet` (Fig. 2).

    Parameters
    ----------
    n_layers : int
        Unfolded layers (8 in the paper).
    n_tx, n_streams : int
        ``N_t`` and ``d`` the DNN inputs are sized for (smaller problems are zero-padded,
        Section IV-E).
    hidden, n_hidden : int
        Width and number of hidden layers of each DNN (64 and 2).
    seed : int
        Seed of the DNN initialisation.
    step_base : {"frobenius", "exact"}
        The step the DNN's ``exp(out)`` scales: Remark 9's ``1 / ||L_l||_F`` (default), or the
        maximiser of the FP surrogate (eq. 29) along each user's direction,
        ``||G_lk||_F^2 / Re tr(G_lk^H L_l G_lk)`` (the surrogate is separable over users, so this
        is an exact line search per user before the power scaling of eq. 37).
    """

    def __init__(self, n_layers: int = 8, n_tx: int = 64, n_streams: int = 2, hidden: int = DEFAULT_HIDDEN,
                 n_hidden: int = 2, seed: int = 0, step_base: str = "frobenius") -> None:
        super().__init__()
        if step_base not in STEP_BASES:
            raise ConfigError(f"step_base must be one of {STEP_BASES}, got {step_base!r}")
        self.step_base = step_base
        for name, v in (("n_layers", n_layers), ("n_tx", n_tx), ("n_streams", n_streams), ("hidden", hidden),
                        ("n_hidden", n_hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        self.n_layers, self.n_tx, self.n_streams = n_layers, n_tx, n_streams
        self.hidden, self.n_hidden = hidden, n_hidden
        gen = torch.Generator().manual_seed(seed)
        self.steps = nn.ModuleList(StepNet(2 * n_tx * n_streams, hidden, n_hidden, gen) for _ in range(n_layers))

    def pad(self, H: C, V: C) -> tuple[C, C, int, int]:
        """Section IV-E: zero-pad ``N_t`` and ``d`` up to the sizes the DNNs were built for."""
        Nt, d = V.re.shape[-2], V.re.shape[-1]
        if Nt > self.n_tx or d > self.n_streams:
            raise ShapeError(f"the network was built for N_t <= {self.n_tx} and d <= {self.n_streams}, "
                             f"got N_t = {Nt}, d = {d}")
        pn, pd = self.n_tx - Nt, self.n_streams - d
        if pn or pd:
            H = C(nn.functional.pad(H.re, (0, pn)), nn.functional.pad(H.im, (0, pn)))
            V = C(nn.functional.pad(V.re, (0, pd, 0, pn)), nn.functional.pad(V.im, (0, pd, 0, pn)))
        return H, V, Nt, d

    def layer(self, i: int, H: C, V: C) -> tuple[C, torch.Tensor]:
        """Layer ``i`` (eq. 48-52) on padded inputs: the new V and the steps ``[B, L, K]``."""
        Z = V  # (48)
        _, _, Lam, Lmat = fp_state(H, Z)  # (49), (50), with (26) and (30)
        G = direction(Z, Lam, Lmat)
        step = self.step(i, Z, G, Lmat)  # (51)
        V = fastfp_update(Z, G, step)  # (52) = (38) + (37)
        return V, step

    def step(self, i: int, Z: C, G: C, Lmat: C) -> torch.Tensor:
        """Eq. (51): layer ``i``'s DNN on ``(Z, G / ||L_l||_F)``, the step per user ``[B, L, K]``."""
        B, L, K = Z.re.shape[:3]
        fro = torch.sqrt(cplx.abs2(Lmat).sum(dim=(-2, -1)))[:, :, None]  # ||L_l||_F, Remark 9's lambda
        x = C(torch.cat([Z.re.reshape(B, L, K, -1), G.re.reshape(B, L, K, -1) / fro[..., None]], dim=-1),
              torch.cat([Z.im.reshape(B, L, K, -1), G.im.reshape(B, L, K, -1) / fro[..., None]], dim=-1))
        scale = torch.exp(torch.clamp(self.steps[i](x), -STEP_LOG_RANGE, STEP_LOG_RANGE))
        if self.step_base == "frobenius":
            return scale / fro
        LG = cplx.matmul(C(Lmat.re[:, :, None], Lmat.im[:, :, None]), G)
        curvature = (G.re * LG.re + G.im * LG.im).sum(dim=(-2, -1))  # Re tr(G^H L G) > 0 for G != 0
        # a switched-off user (Z = 0, so G = 0) gets step 0: dividing by 1 there keeps the value and
        # the gradient finite (a clamp at 1e-300 underflows to 0 in float32, and 0/0 is NaN)
        return scale * cplx.abs2(G).sum(dim=(-2, -1)) / torch.where(curvature > 0, curvature, torch.ones_like(curvature))

    def forward(self, H: C, V0: C, trajectory: bool = False) -> tuple[C, list[C]]:
        """All layers from ``V0`` (power-feasible); returns ``V`` (unpadded) and, with
        ``trajectory``, every layer's output."""
        if H.re.ndim != 6 or V0.re.ndim != 5 or V0.re.shape[:3] != H.re.shape[:3]:
            raise ShapeError(f"H must be [B, L, K, L, N_r, N_t] and V0 [B, L, K, N_t, d], got "
                             f"{list(H.re.shape)} and {list(V0.re.shape)}")
        H, V, Nt, d = self.pad(H, V0)
        outs = []
        for i in range(self.n_layers):
            V, _ = self.layer(i, H, V)
            if trajectory:
                outs.append(C(V.re[..., :Nt, :d], V.im[..., :Nt, :d]))
        return C(V.re[..., :Nt, :d], V.im[..., :Nt, :d]), outs
