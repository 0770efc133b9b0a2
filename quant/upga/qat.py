"""The quantized UPGA network: the hardware datapath in torch, trainable through STEs.

:class:`QuantUPGA` computes what ``kernels.upga_forward_hw`` computes -- Q-bit phase codes read
through the spec's (cos, sin) table, every intermediate in its fixed-point format, W kept
power-normalised with P_t entering as ``s2 N / P_t`` and ``lambda N / P_t`` -- op for op (see
``kernels/upga/_fixed.py`` for the datapath and :mod:`quant._core.datapath` for how each operation
is emulated), with per-layer precision from a :class:`~hbf_edge.hw.precision.PrecisionConfig`.  Its
trainable parameters are the step sizes ``mu [I, J]`` and ``lambda [I]``, as in the float
network, held as factors of the float model's steps, and the output stage's regularisation
factor ``xi`` when the model has one; gradients reach them through Brevitas' straight-through
estimators (the integer-only steps pass the gradient of their float counterparts).

The output stage (optional; ``kernels.upga._output.output_fx``) replaces the last layer's W by
the transmit Wiener filter on the effective channel of the final codes: after 10 gradient steps
W is not yet fitted to the quantized F, which is what PTQ's zero-forcing refit does exactly.

Agreement with the kernel: codes and W words are the kernel's whenever float64 holds every
integer product exactly (below 2**53); the tests measure the agreement.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from hbf_edge import cplx
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.hw.spec import HardwareSpec
from hbf_edge.families.upga.model import check_powers

from hbf_edge.quant._core import datapath as dp
from hbf_edge.quant._core.quantizers import FixedPointQuant, PhaseQuant

__all__ = ["QuantUPGA", "QuantOutput"]


class QuantOutput(NamedTuple):
    codes: torch.Tensor  # [B, N, M] int64, the last layer's phase bits
    F: C  # [B, N, M] applied analog precoder exp(j 2 pi c / 2**Q) (STE gradient)
    W: C  # [B, M, K] true digital precoder sqrt(P_t / N) W_hw
    W_hw: C  # [B, M, K] power-normalised words (dequantised), ||F W_hw||^2 = N


class QuantUPGA(nn.Module):
    """Quantization-aware unfolded PGA.

    Parameters
    ----------
    layer_specs : list of HardwareSpec
        One per layer (``PrecisionConfig.layer_specs()``); formats other than the precoder's
        must be equal across layers, phase bits 1..8.
    n_inner : int
        J.
    mu, lam : Tensor [I, J], [I]
        Initial step sizes (typically the trained float model's).
    xi : float, optional
        Initial regularisation factor of the output stage (1: the transmit Wiener filter, 0:
        zero forcing); ``None`` (default): no output stage.
    """

    def __init__(self, layer_specs: list[HardwareSpec], n_inner: int, mu: torch.Tensor, lam: torch.Tensor,
                 xi: float | None = None) -> None:
        super().__init__()
        if not layer_specs:
            raise ConfigError("need at least one layer")
        base = layer_specs[0]
        for i, ls in enumerate(layer_specs):
            if ls.phase_bits is None or not 1 <= ls.phase_bits <= 8:
                raise ConfigError(f"layer {i}: phase_bits must be 1..8 for the hardware datapath, got {ls.phase_bits}")
            for name in ("channel", "lut", "gradient", "step", "accumulator"):
                if getattr(ls, name) != getattr(base, name):
                    raise ConfigError(f"layer {i}: the {name} format is model-wide and cannot change per layer")
        I = len(layer_specs)
        if tuple(mu.shape) != (I, n_inner) or tuple(lam.shape) != (I,):
            raise ShapeError(f"mu must be [{I}, {n_inner}] and lam [{I}], got {list(mu.shape)}, {list(lam.shape)}")
        self.layer_specs = list(layer_specs)
        self.spec = base
        # trained as relative factors of the float steps: Adam's step is then a relative change
        # for every step size (lambda ~1e-3 and mu ~0.1 would otherwise move by the same amount)
        self.register_buffer("mu0", mu.detach().clone().to(torch.float64))
        self.register_buffer("lam0", lam.detach().clone().to(torch.float64))
        self.mu_rel = nn.Parameter(torch.ones_like(self.mu0))
        self.lam_rel = nn.Parameter(torch.ones_like(self.lam0))
        if xi is not None and not (math.isfinite(xi) and xi >= 0):
            raise ConfigError(f"the output stage's xi must be finite and >= 0, got {xi}")
        # shape [1], not a 0-dim tensor, which the ONNX exporter would promote like a float32 scalar
        self.xi = None if xi is None else nn.Parameter(torch.tensor([float(xi)], dtype=torch.float64))
        self.q_ch = FixedPointQuant(base.channel)
        self.q_acc = FixedPointQuant(base.accumulator)
        self.q_grd = FixedPointQuant(base.gradient)
        self.q_stp = FixedPointQuant(base.step)
        self.q_pre = nn.ModuleList([FixedPointQuant(ls.precoder) for ls in layer_specs])
        self.phase = nn.ModuleList([PhaseQuant(ls.phase_bits) for ls in layer_specs])
        self.f_lut = base.lut.frac_bits
        lsb = math.ldexp(1.0, -self.f_lut)
        for i, ls in enumerate(layer_specs):
            c, s = ls.phase_table()
            self.register_buffer(f"lut_c{i}", torch.from_numpy(c).to(torch.float64) * lsb)
            self.register_buffer(f"lut_s{i}", torch.from_numpy(s).to(torch.float64) * lsb)

    @property
    def mu(self) -> torch.Tensor:
        """Step sizes ``mu [I, J]`` (float, before the step format)."""
        return self.mu0 * self.mu_rel

    @property
    def lam(self) -> torch.Tensor:
        """Step sizes ``lambda [I]`` (float, before the step format)."""
        return self.lam0 * self.lam_rel

    @property
    def n_layers(self) -> int:
        return len(self.layer_specs)

    @property
    def output_xi(self) -> float | None:
        """The output stage's regularisation factor as the hardware gets it (``None``: no stage)."""
        return None if self.xi is None else max(float(self.xi.detach()[0]), 0.0)

    @property
    def n_inner(self) -> int:
        return int(self.mu.shape[1])

    def _lut(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"lut_c{i}"), getattr(self, f"lut_s{i}")

    # -- datapath pieces ---------------------------------------------------------------------
    def _store(self, q: FixedPointQuant, z: C) -> C:
        return C(q(z.re), q(z.im))

    def _choose(self, x: C, i: int) -> tuple[torch.Tensor, C, C]:
        """Nearest codes of ``x`` in layer ``i``'s table: codes, table words, applied F (STE)."""
        lut_c, lut_s = self._lut(i)
        codes = dp.nearest_codes(x, lut_c, lut_s, (self.q_grd.fmt.frac_bits, self.f_lut))
        words = C(lut_c[codes], lut_s[codes])
        angle = codes.to(x.re.dtype) * (2.0 * math.pi / lut_c.shape[0])
        applied = C(torch.cos(angle), torch.sin(angle))
        if torch.is_grad_enabled():  # the Brevitas STE surrogate of the choice, for training only
            angle_sur = self.phase[i](torch.atan2(x.im, x.re))
            cos_sur, sin_sur = torch.cos(angle_sur), torch.sin(angle_sur)
            words = C(dp.ste(words.re, cos_sur), dp.ste(words.im, sin_sur))
            applied = C(dp.ste(applied.re, cos_sur), dp.ste(applied.im, sin_sur))
        return codes, words, applied

    def _weighted_e(self, H: C, Fw: C, W: C, noise: torch.Tensor) -> tuple[C, C]:
        G = self._store(self.q_acc, cplx.matmul_ah(H, Fw))
        E = self._store(self.q_acc, cplx.matmul(G, W))
        p = self.q_acc(cplx.abs2(E))
        a = self.q_acc(noise[:, None] + p.sum(dim=-1))
        K = E.re.shape[-1]
        eye = torch.eye(K, dtype=E.re.dtype)
        b = self.q_acc(a - (p * eye).sum(dim=-1))  # a - |E_kk|^2 (a masked sum: diagonal() exports as a conditional)
        ra = dp.recip(a, self.q_acc, self.q_grd)
        rb = dp.recip(b, self.q_acc, self.q_grd)
        off = self.q_grd(ra - rb)
        coef = ra[..., None] * eye + off[..., None] * (1 - eye)
        return G, self._store(self.q_grd, cplx.scale(E, coef))

    def _normalize(self, Fw: C, W_acc: C, i: int) -> C:
        X = self._store(self.q_acc, cplx.matmul(Fw, W_acc))
        norm2 = self.q_acc(self.q_acc(cplx.abs2(X)).sum(dim=(-2, -1)))
        s = dp.norm_scale(norm2, Fw.re.shape[-2], self.q_acc, self.q_grd)
        return self._store(self.q_pre[i], cplx.scale(W_acc, s[:, None, None]))

    def _init(self, H: C) -> tuple[torch.Tensor, C, C, C]:
        """Eq. (12)-(13) at layer 0's precision (no parameters: no gradient needed)."""
        B, N, K = H.re.shape
        M = self.spec.n_rf
        with torch.no_grad():
            lut_c, lut_s = self._lut(0)
            n_codes = lut_c.shape[0]
            codes = dp.nearest_codes(H, lut_c, lut_s, (self.q_ch.fmt.frac_bits, self.f_lut))
            if M > K:
                n = torch.arange(N)[:, None]
                m = torch.arange(M - K)[None, :]
                dft = torch.div(-2 * n * m * n_codes + N, 2 * N, rounding_mode="floor") % n_codes
                codes = torch.cat([codes, dft.expand(B, N, M - K)], dim=-1)
            Fw = C(lut_c[codes], lut_s[codes])
            A = self._store(self.q_acc, cplx.matmul_ah(H, H))
            Ai = self._cinv(A)
            Z = self._store(self.q_acc, cplx.matmul(H, Ai))
            Bm = self._store(self.q_acc, cplx.matmul_ah(Fw, Fw))
            T = self._store(self.q_acc, cplx.matmul_ah(Fw, Z))
            W_acc = self._store(self.q_acc, cplx.matmul(self._cinv(Bm), T))
            W = self._normalize(Fw, W_acc, 0)
            angle = codes.to(H.re.dtype) * (2.0 * math.pi / n_codes)
        return codes, Fw, C(torch.cos(angle), torch.sin(angle)), W

    def _cinv(self, A: C) -> C:
        n = A.re.shape[-1]
        big = torch.cat([torch.cat([A.re, -A.im], -1), torch.cat([A.im, A.re], -1)], -2)
        inv = dp.gj_inverse(big, self.q_acc)
        out = C(inv[:, :n, :n], inv[:, n:, :n])
        if torch.is_grad_enabled():  # the float inverse's gradient through the STE
            sur = cplx.from_complex(torch.linalg.inv(cplx.to_complex(A)))
            out = C(dp.ste(out.re, sur.re), dp.ste(out.im, sur.im))
        return out

    def _output(self, H: C, Fw: C, noise_e: torch.Tensor) -> C:
        """The output stage (``kernels.upga._output.output_fx``): ``(G^H G + r F^H F)^-1 G^H``
        with ``G = H^H F`` and ``r = xi K / N * s2 N / P_t`` in block floating point, then eq. (9)."""
        N, M, K = self.spec.n_antennas, self.spec.n_rf, self.spec.n_users  # constants: traced shapes export as float32
        G = self._store(self.q_acc, cplx.matmul_ah(H, Fw))
        A = self._store(self.q_acc, cplx.matmul_ah(G, G))
        Bm = self._store(self.q_acc, cplx.matmul_ah(Fw, Fw))
        xi = self.q_stp(torch.clamp(self.xi, min=0.0) * (K / N))
        reg = self.q_acc(xi * noise_e)[:, None, None]  # [B, 1, 1]
        A = C(self.q_acc(A.re + dp.round_only(self.q_acc, reg * Bm.re)),
              self.q_acc(A.im + dp.round_only(self.q_acc, reg * Bm.im)))
        diag = (A.re * torch.eye(M, dtype=A.re.dtype)).sum(dim=-1).max(dim=-1).values  # masked: exports plainly
        t = dp.half_exponent(diag, self.q_acc).to(A.re.dtype)[:, None, None]
        two = torch.full_like(t, 2.0)  # a float64 base: ONNX's Pow takes its type from the base (no exp2 in opset 17)
        sa, sg = torch.pow(two, -2 * t), torch.pow(two, -t)  # exact powers of two
        A = C(self.q_acc(A.re * sa), self.q_acc(A.im * sa))
        Gh = C(self.q_acc(G.re.transpose(-1, -2) * sg), self.q_acc(-G.im.transpose(-1, -2) * sg))
        W_acc = self._store(self.q_acc, cplx.matmul(self._cinv(A), Gh))
        return self._normalize(Fw, W_acc, self.n_layers - 1)

    # -- forward -------------------------------------------------------------------------------
    def run(self, H: C, p_t: torch.Tensor, noise: torch.Tensor) -> QuantOutput:
        """Quantized forward of channels ``H [B, N, K]`` (float64 ``C``) at powers ``p_t, noise [B]``."""
        if H.re.ndim != 3 or H.re.shape[1:] != (self.spec.n_antennas, self.spec.n_users):
            raise ShapeError(f"H must be [B, {self.spec.n_antennas}, {self.spec.n_users}], got {list(H.re.shape)}")
        B, N, _ = H.re.shape
        check_powers(p_t, noise, B)
        H = self._store(self.q_ch, C(H.re.to(torch.float64), H.im.to(torch.float64)))
        noise_e = self.q_acc((noise * N / p_t).to(torch.float64))
        if torch.any(noise_e <= 0):
            raise ConfigError("noise * N / P_t is below one accumulator LSB: the SNR is too high for the format")
        mu = self.q_stp(self.mu)
        lam = self.q_stp(self.lam[None, :] * (N / p_t.to(torch.float64))[:, None])
        codes, Fw, F, W = self._init(H)
        for i in range(self.n_layers):
            if i > 0 and self.layer_specs[i].precoder != self.layer_specs[i - 1].precoder:
                W = self._store(self.q_pre[i], W)
            for j in range(self.n_inner):
                _, Cm = self._weighted_e(H, Fw, W, noise_e)
                D = self._store(self.q_grd, cplx.matmul_bh(Cm, W))
                g = self._store(self.q_grd, cplx.matmul(H, D))
                x = C(self.q_grd(Fw.re + dp.round_only(self.q_grd, mu[i, j] * g.re)),
                      self.q_grd(Fw.im + dp.round_only(self.q_grd, mu[i, j] * g.im)))
                codes, Fw, F = self._choose(x, i)
            G, Cm = self._weighted_e(H, Fw, W, noise_e)
            gw = self._store(self.q_grd, cplx.matmul_ah(G, Cm))
            step = lam[:, i, None, None]
            W_acc = C(self.q_acc(W.re + dp.round_only(self.q_acc, step * gw.re)),
                      self.q_acc(W.im + dp.round_only(self.q_acc, step * gw.im)))
            W = self._normalize(Fw, W_acc, i)
        if self.xi is not None:
            W = self._output(H, Fw, noise_e)
        rho = torch.sqrt(p_t.to(torch.float64) / N)[:, None, None]
        return QuantOutput(codes, F, cplx.scale(W, rho), W)

    def forward(self, h_re: torch.Tensor, h_im: torch.Tensor, p_t: torch.Tensor, noise: torch.Tensor):
        """``(f_re, f_im, w_re, w_im)`` like :class:`hbf_edge.families.upga.model.UPGA`, quantized."""
        out = self.run(C(h_re, h_im), p_t, noise)
        return out.F.re, out.F.im, out.W.re, out.W.im
