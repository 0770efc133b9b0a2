"""The mixed-timescale network in torch: trainable analog phases and pilots (long term), CEDUN
(unfolded RLS, eq. 16-17) and HBDUN (unfolded SCA, eq. 29-31) per slot; the sum rate (3).

Parameters are real tensors (a complex one has a trailing (re, im) axis), flat names, so a model
directory stores them as they are.  Choices where the paper is silent or garbled
(``../shared/specs/jcehb.md``; each tested or measured):

* multipliers ``T`` and offsets ``q`` are element-wise (Hadamard) of the output's shape
  (spec 5.10), per layer and user; ``gamma = exp(log_gamma)`` keeps the forgetting factor > 0;
* initialised as built, CEDUN **is** RLS with ``beta = 1`` on the same pilots (the ridge
  estimate) and HBDUN with ``exact=True`` **is** SCA (:mod:`hbf_edge.families.jcehb.baselines`);
  (17b) keeps the printed complex ``g^H x`` (the RLS baseline takes its real part; over the
  network's at most a few dozen layers the two agree to roundoff at initialisation);
* (31b) uses ``t^{i-1}`` (spec 5.16); ``lambda`` is clamped at 1e-4 (the spec: 0; see
  ``LAMBDA_FLOOR``) and ``t`` to [-4, 16]; the
  diagonal loading ``v`` of ``C`` is the SCA closed form ``tau`` (spec 5.15); ``D^-`` zeroes the
  imaginary part of D's diagonal (30); the final combiner is the MMSE one (24) of the final
  precoder, without (31a)'s multipliers (spec 2.5 [C]);
* the pilot network scales every column to norm 1 (``per-column``, (7e) as printed) or
  ``sqrt(N_t^RF)`` (``per-chain``), spec 1.3.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.system import JcehbSizes, check_boost, dft_phases, dft_pilots, pilot_noise_power

__all__ = ["JcehbNet", "sum_rate", "nmse", "parameter_shapes", "INVERSES"]

INVERSES = ("paper", "exact")
# lambda's floor: the spec clamps at 0, but a batch element whose every weight reached 0 made C
# singular in stage 2 at the paper's size (exact inverse); the floor keeps C positive definite
LAMBDA_FLOOR = 1e-4


def _h(x: torch.Tensor) -> torch.Tensor:
    return x.conj().transpose(-1, -2)


def _c(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(x)


def parameter_shapes(sizes: JcehbSizes, n_pilots: int, n_ce: int, n_hb: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter (spec 2.2 and 2.5 tables)."""
    N, R, S, K = sizes.n_rf_tx, sizes.n_rf_rx, sizes.n_streams, sizes.n_users
    return {"phi_f": (sizes.n_tx, N), "phi_w": (K, sizes.n_rx, R), "ssca_phi_f": (sizes.n_tx, N),
            "ssca_phi_w": (K, sizes.n_rx, R), "pilot": (N, n_pilots, 2),
            "ce_tg": (n_ce, K, N, 2), "ce_qg": (n_ce, K, N, 2), "ce_tv": (n_ce, K, N, 2), "ce_qv": (n_ce, K, N, 2),
            "ce_tp": (n_ce, K, N, N, 2), "ce_qp": (n_ce, K, N, N, 2), "ce_tw": (n_ce, K, N, R, 2),
            "ce_qw": (n_ce, K, N, R, 2), "ce_log_gamma": (n_ce, K),
            "hb_b": (n_hb, K, N, N, 2), "hb_d": (n_hb, K, N, N, 2), "hb_tw": (n_hb, K, R, S, 2),
            "hb_qw": (n_hb, K, R, S, 2), "hb_tf": (n_hb, K, N, 2), "hb_qf": (n_hb, K, N, 2), "hb_lam": (n_hb, K, 2),
            "hb_t": (n_hb, K, 2), "hb_mu": (n_hb, K)}


def _complex_ones(*shape: int) -> torch.Tensor:
    return torch.stack([torch.ones(shape, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64)], -1)


def sum_rate(H_eq: torch.Tensor, F_bb: torch.Tensor, W_bb: torch.Tensor, W_rf: torch.Tensor, nu: float) -> torch.Tensor:
    """Eq. (3) summed: ``[B]`` bit/s/Hz (the numpy twin is :func:`hbf_edge.families.jcehb.system.sum_rate`)."""
    K, S = W_bb.shape[1], W_bb.shape[3]
    G = _h(W_bb) @ H_eq @ F_bb[:, None]  # [B, K, S, K S]
    power = G.real ** 2 + G.imag ** 2
    idx = torch.arange(S)
    signal = torch.stack([power[:, k, idx, k * S + idx] for k in range(K)], dim=1)
    gram = _h(W_rf) @ W_rf  # [K, R, R]
    noise = nu * torch.einsum("bkrs,krq,bkqs->bks", W_bb.conj(), gram, W_bb).real
    den = power.sum(-1) - signal + noise
    # a stream whose combiner is all zero (a fixed-point W_BB can round to it) receives nothing:
    # SINR 0, as the numpy twin, and a zero gradient rather than 0/0's NaN
    live = den > 0
    sinr = torch.where(live, signal / torch.where(live, den, torch.ones_like(den)), torch.zeros_like(den))
    return torch.log2(1.0 + sinr).sum(dim=(1, 2))


def nmse(H_hat: torch.Tensor, H_eq: torch.Tensor) -> torch.Tensor:
    """Eq. (33) averaged over users: ``[B]``."""
    err = (H_hat - H_eq).abs().square().sum(dim=(2, 3))
    return (err / H_eq.abs().square().sum(dim=(2, 3))).mean(dim=1)


class JcehbNet(nn.Module):
    """Analog phases ``Psi``, pilot ``X~``, CEDUN (``n_ce`` layers, one per pilot column) and
    HBDUN (``n_hb`` layers); see the module notes for what the initial parameters equal."""

    def __init__(self, sizes: JcehbSizes, n_pilots: int, n_hb: int, pilot_power: str = "per-column",
                 inverse: str = "paper", delta: float = 1e-2, alpha: float = 2.0, pilot_boost_db: float = 0.0) -> None:
        super().__init__()
        if inverse not in INVERSES:
            raise ConfigError(f"inverse must be one of {', '.join(INVERSES)}, got {inverse!r}")
        self.sizes, self.n_pilots, self.n_hb, self.inverse = sizes, n_pilots, n_hb, inverse
        self.pilot_power, self.delta, self.alpha = pilot_power, delta, alpha
        self.pilot_boost_db = check_boost(pilot_boost_db)  # the pilots' SNR above the data's (system)
        N, R, K, L = sizes.n_rf_tx, sizes.n_rf_rx, sizes.n_users, n_pilots
        f64 = torch.float64
        self.phi_f = nn.Parameter(torch.from_numpy(dft_phases(sizes.n_tx, N)))
        self.phi_w = nn.Parameter(torch.from_numpy(np.stack([dft_phases(sizes.n_rx, R)] * K)))
        # the SSCA beams of the RLS-SSCA baseline, designed on the same training channels (a record)
        self.register_buffer("ssca_phi_f", self.phi_f.detach().clone())
        self.register_buffer("ssca_phi_w", self.phi_w.detach().clone())
        self.pilot = nn.Parameter(torch.view_as_real(torch.from_numpy(dft_pilots(N, L, pilot_power))).contiguous())
        for name, shape in parameter_shapes(sizes, L, L, n_hb).items():
            if not name.startswith(("ce_", "hb_")):
                continue
            if name in ("ce_log_gamma",):
                value = torch.zeros(shape, dtype=f64)
            elif name == "hb_mu":
                value = torch.full(shape, 1.0 / math.log(alpha), dtype=f64)
            elif name == "hb_b":
                value = torch.view_as_real(torch.eye(N, dtype=torch.complex128).expand(n_hb, K, N, N)).clone()
            elif name[3] == "t" or name in ("hb_lam",):  # multipliers: 1 + 0j (hb_lam, hb_t: (T, q) = (1, 0))
                value = _complex_ones(*shape[:-1])
            else:  # offsets and D: 0
                value = torch.zeros(shape, dtype=f64)
            setattr(self, name, nn.Parameter(value))

    def with_users(self, k: int) -> "JcehbNet":
        """The network for the first ``k`` of its users (Fig. 14a, a network trained for K users
        serving fewer): every per-user parameter (the users' phases, CEDUN's and HBDUN's
        multipliers, offsets and steps) cut to users ``0..k-1``; the BS phases, the pilots and the
        RF chains unchanged.  A choice: the paper does not say how its network is applied at
        another K; users are interchangeable in both the model and the channel, so the first k
        stand for any k."""
        import copy

        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.sizes.n_users:
            raise ConfigError(f"the network serves 1..{self.sizes.n_users} users, not {k!r}")
        net = copy.deepcopy(self)
        net.sizes = dataclasses.replace(self.sizes, n_users=k)
        shapes = parameter_shapes(self.sizes, self.n_pilots, self.n_pilots, self.n_hb)
        K = self.sizes.n_users
        with torch.no_grad():
            for name, shape in shapes.items():
                axis = 0 if name in ("phi_w", "ssca_phi_w") else 1 if name.startswith(("ce_", "hb_")) else None
                if axis is None:
                    continue
                assert shape[axis] == K, name  # the user axis, as parameter_shapes lays it out
                cut = getattr(self, name).detach().narrow(axis, 0, k).clone()
                if isinstance(getattr(self, name), nn.Parameter):
                    setattr(net, name, nn.Parameter(cut))
                else:
                    net.register_buffer(name, cut)
        return net

    # -- long term ----------------------------------------------------------------------------

    def analog(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``F_RF [N_t, N]`` and ``W_RF [K, N_r, R]`` (eq. 18)."""
        z = self.sizes
        return torch.exp(1j * self.phi_f) / math.sqrt(z.n_tx), torch.exp(1j * self.phi_w) / math.sqrt(z.n_rx)

    def pilots(self) -> torch.Tensor:
        """``X~ [N, L]``, every column scaled to the pilot power (7e)."""
        X = _c(self.pilot)
        scale = 1.0 if self.pilot_power == "per-column" else math.sqrt(self.sizes.n_rf_tx)
        return X * (scale / torch.linalg.vector_norm(X, dim=0, keepdim=True))

    def equivalent(self, H: torch.Tensor) -> torch.Tensor:
        """``H_eq [B, K, R, N]`` of channels ``H [B, K, N_r, N_t]`` through the trained beams."""
        F_rf, W_rf = self.analog()
        return _h(W_rf)[None] @ H @ F_rf

    def observe(self, H_eq: torch.Tensor, noise: torch.Tensor, nu: float) -> torch.Tensor:
        """Received pilots ``Y [B, K, R, L]`` with unit antenna noise ``noise [B, K, N_r, >= L]`` at
        the pilot stage's noise power (``nu`` lowered by ``pilot_boost_db``)."""
        _, W_rf = self.analog()
        nu_p = pilot_noise_power(nu, self.pilot_boost_db)
        return H_eq @ self.pilots() + math.sqrt(nu_p) * (_h(W_rf)[None] @ noise[..., :self.n_pilots])

    # -- per slot -----------------------------------------------------------------------------

    def cedun_gains(self, layers: int | None = None) -> list[torch.Tensor]:
        """CEDUN's gains ``v_n [K, N]`` of (17a)-(17c), one per layer (the first ``layers``).
        They depend on the pilots and the trained constants only, never on the received data:
        the same for every slot of a superframe (the integer datapath and the ONNX graph hold
        them as constants)."""
        N, K = self.sizes.n_rf_tx, self.sizes.n_users
        X = self.pilots()
        P = (torch.eye(N, dtype=torch.complex128) / self.delta).expand(K, N, N)
        gains = []
        for n in range(self.n_pilots if layers is None else layers):
            x = X[:, n]
            gamma = torch.exp(self.ce_log_gamma[n])  # [K]
            g = _c(self.ce_tg[n]) * (P @ x) + _c(self.ce_qg[n])  # (17a)
            den = gamma + (g.conj() * x).sum(-1)
            v = _c(self.ce_tv[n]) * (g / den[..., None]) + _c(self.ce_qv[n])  # (17b)
            P = _c(self.ce_tp[n]) * ((P - v[..., :, None] * g.conj()[..., None, :]) / gamma[..., None, None]) \
                + _c(self.ce_qp[n])  # (17c)
            gains.append(v)
        return gains

    def estimate(self, Y: torch.Tensor, layers: int | None = None) -> torch.Tensor:
        """CEDUN (17a)-(17d), one layer per pilot column (the first ``layers``): ``H^_eq [B, K, R, N]``."""
        B, K, R, L = Y.shape
        N = self.sizes.n_rf_tx
        X = self.pilots()
        W = torch.zeros(B, K, N, R, dtype=torch.complex128)
        for n, v in enumerate(self.cedun_gains(L if layers is None else layers)):
            e = Y[..., n] - (W.conj() * X[:, n][:, None]).sum(-2)  # Algorithm 1 step 7
            W = _c(self.ce_tw[n]) * (W + v[..., :, None] * e.conj()[..., None, :]) + _c(self.ce_qw[n])  # (17d)
        return _h(W).resolve_conj()

    def _normalise(self, F: torch.Tensor, G_f: torch.Tensor) -> torch.Tensor:
        B, N, KS = F.shape
        S = self.sizes.n_streams
        Fk = F.reshape(B, N, KS // S, S)
        power = torch.einsum("bnks,nm,bmks->bk", Fk.conj(), G_f, Fk).real
        return (Fk * torch.sqrt(S / power)[:, None, :, None]).reshape(B, N, KS)

    def _mmse(self, He: torch.Tensor, F: torch.Tensor, nu: float) -> torch.Tensor:
        K, R, S = He.shape[1], He.shape[2], self.sizes.n_streams
        A = He @ F[:, None]
        cov = A @ _h(A) + nu * torch.eye(R, dtype=A.dtype)
        own = torch.stack([A[:, k, :, k * S:(k + 1) * S] for k in range(K)], dim=1)
        return torch.linalg.solve(cov, own)

    def _mse(self, He: torch.Tensor, F: torch.Tensor, W: torch.Tensor, nu: float) -> torch.Tensor:
        K, S = W.shape[1], W.shape[3]
        G = _h(W) @ He @ F[:, None]
        power = G.real ** 2 + G.imag ** 2
        idx = torch.arange(S)
        d = torch.stack([G[:, k, idx, k * S + idx] for k in range(K)], dim=1)
        return (1 - d).abs().square() + power.sum(-1) - d.abs().square() + nu * W.abs().square().sum(dim=2)

    def digital(self, He: torch.Tensor, nu: float, exact: bool | None = None,
                capture: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """HBDUN (31a)-(31d) on equivalent channels ``He``: ``F_BB [B, N, K N_s]`` and the MMSE
        ``W_BB [B, K, R, N_s]`` of it.  ``exact``: ``C^-1`` instead of ``C^+ B + D^-`` (the
        layers then compute SCA when the other parameters are at their initial values).
        ``capture``: a list that receives every layer's ``C [B, N, N]``."""
        B, K, R, N = He.shape
        S, a = self.sizes.n_streams, self.alpha
        exact = self.inverse == "exact" if exact is None else exact
        F_rf, _ = self.analog()
        G_f = _h(F_rf) @ F_rf
        F = self._normalise(torch.cat([_h(He[:, k])[..., :S] for k in range(K)], dim=2), G_f)
        t = torch.zeros(B, K, S, dtype=torch.float64)
        eye = torch.eye(N, dtype=torch.complex128)
        for i in range(self.n_hb):
            W = _c(self.hb_tw[i]) * self._mmse(He, F, nu) + _c(self.hb_qw[i])  # (31a)
            mu = self.hb_mu[i][None, :, None]
            lam = torch.clamp(self.hb_lam[i, :, 0][None, :, None] * mu * a ** t + self.hb_lam[i, :, 1][None, :, None],
                              min=LAMBDA_FLOOR)  # (31b)
            hw = _h(He) @ W  # [B, K, N, S]
            tau = nu * (lam * W.abs().square().sum(dim=2)).sum(dim=(1, 2)) / (K * S)
            C = torch.einsum("bks,bkns,bkms->bnm", lam.to(hw.dtype), hw, hw.conj()) + tau[:, None, None] * eye
            if capture is not None:
                capture.append(C)
            if exact:
                d = torch.linalg.solve(C[:, None], hw)
            else:  # (29)-(30): diag(C)^-1 B + D^-
                Dm = _c(self.hb_d[i]) - 1j * torch.diag_embed(torch.diagonal(_c(self.hb_d[i]), dim1=-2, dim2=-1).imag)
                M = _c(self.hb_b[i])[None] / torch.diagonal(C, dim1=-2, dim2=-1).real[:, None, :, None] + Dm[None]
                d = M @ hw
            f = _c(self.hb_tf[i])[None, :, :, None] * (lam[:, :, None, :] * d) + _c(self.hb_qf[i])[None, :, :, None]
            F = self._normalise(torch.cat([f[:, k] for k in range(K)], dim=2), G_f)  # (31c)
            eps = self._mse(He, F, W, nu)
            t = torch.clamp(self.hb_t[i, :, 0][None, :, None] * (t + mu * (1 - eps * a ** t))
                            + self.hb_t[i, :, 1][None, :, None], -4.0, 16.0)  # (31d)
        return F, self._mmse(He, F, nu)

    def forward(self, H: torch.Tensor, noise: torch.Tensor | None, nu: float) -> dict[str, torch.Tensor]:
        """A slot: ``H_eq`` (true), pilots through the beams, CEDUN, HBDUN (``noise=None``: HBDUN on
        the true ``H_eq``, stage 1).  Returns ``H_eq``, ``H_hat``, ``F_bb``, ``W_bb``."""
        He = self.equivalent(H)
        H_hat = He if noise is None else self.estimate(self.observe(He, noise, nu))
        F, W = self.digital(H_hat, nu)
        return {"H_eq": He, "H_hat": H_hat, "F_bb": F, "W_bb": W}
