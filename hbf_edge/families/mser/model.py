"""The MSER deep-unfolding network (Section IV-A, eq. 27-30) in torch, and its loss.

Each layer is one pass of Algorithm 1 (:mod:`hbf_edge.families.mser.gd`) whose fixed step sizes
become trainable per-entry matrices ``alpha`` with trainable offsets ``O``, and whose kernel width
becomes a trainable width per update: ``rho_Pk, rho_Wk, rho_thetaUk, rho_thetaF`` (spec 2.3).

Choices where the paper is silent or garbled (``../shared/specs/mser.md``; each is tested):

* initialised at the GD steps (``alpha = mu``, ``O = 0``, ``rho = varrho``) the network **is**
  L iterations of GD with the same symbol sets (spec 5.15; the paper: "initialized randomly");
* the angle steps and offsets are real (the text says complex, which would make theta complex;
  spec 5.10); only the last layer's theta_F uses the plain GD step (25) (spec 5.11);
* widths are relative to the noise, ``rho = r sigma_n`` with ``log r`` trained, so one model
  serves every SNR (the paper trains one network per SNR with absolute widths);
* ``alpha = mu o a`` with ``a`` trained from 1 (relative, as UPGA's steps), offsets ``O`` in units
  of the step (``O = mu o o``), so Adam's step means the same for every kind of variable;
* a fixed seeded symbol set ``S^l`` per layer (a buffer), so the network is deterministic;
* the loss is the exact-width semi-analytic SER without the product term, ``p_R + p_I`` per
  stream over a fixed set of ``J_loss`` vectors (spec 2.5: eq. (31) lost its signs and width).

Not in the paper: **candidate layers** (``candidates``, a ``[C, 4]`` table of step factors).
Each layer then runs once per row, with the P, W, theta_U and theta_F steps times that row's
factors (a row of zeros keeps the layer's input), and keeps per channel the candidate whose
exact-width SER on a fixed seeded set of ``score_samples`` vectors (:meth:`MserNet.score`) is
lowest -- a line search over the layer's step, per channel, with a quantity the layer can
compute.  Why: on the paper's sizes the trained network stays near GD run for as many
iterations as it has layers, and a shared step schedule cannot do better, while the best step
differs from channel to channel by 1/4 .. 16x (README, "MSER").  With the ``line`` grid and a
zero row the score never rises from layer to layer.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from hbf_edge.families.mser.candidates import check_candidates
from hbf_edge.families.mser.gd import DEFAULT_STEPS, Design, GdSteps
from hbf_edge.families.mser.kde import neg_grad_e, rotate_streams
from hbf_edge.families.mser.system import MserSizes, all_symbol_vectors, levels, sample_symbol_vectors

__all__ = ["MserNet", "kde_gradients", "ser_loss", "loss_vectors", "LOSS_VECTORS", "SCORE_SAMPLES"]

LOSS_VECTORS = 256
SCORE_SAMPLES = 512
STEP_SHAPES = ("matrix", "scalar")


def _h(x: torch.Tensor) -> torch.Tensor:
    return x.conj().transpose(-1, -2)


def _normalise(U: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return W / torch.linalg.vector_norm(_h(U) @ W, dim=-2, keepdim=True)


def _scale(F: torch.Tensor, V: torch.Tensor, power: float) -> torch.Tensor:
    return V * (math.sqrt(power) / torch.linalg.matrix_norm(F @ V)[:, None, None])


def kde_gradients(H: torch.Tensor, F: torch.Tensor, V: torch.Tensor, U: torch.Tensor, W: torch.Tensor,
                  S: torch.Tensor, rho: torch.Tensor, which: str, constellation: str = "qpsk") -> torch.Tensor:
    """The closed-form gradient (spec 2.1, :func:`hbf_edge.families.mser.gd.gradient`) of the
    KDE objective with kernel width ``rho [B, K]`` (per user) for one variable: ``V`` (user k's
    columns weighted by ``rho[:, k]`` for every user's samples), ``W``, ``theta_U`` (per user
    with that user's width) or ``theta_F`` (``rho [B, 1]``, one width)."""
    K, Dk = W.shape[1], W.shape[3]
    A = F @ V
    G = U @ H @ A[:, None]  # [B, K, Rr, D]
    E = _h(W) @ G  # [B, K, Dk, D]
    Y = E @ S

    def neg_grad(r: torch.Tensor) -> torch.Tensor:  # -grad_E (kde.neg_grad_e), r broadcast [B, K or 1, 1, 1]
        return neg_grad_e(E, S, r, constellation, torch, Y)

    if which == "W":
        return -G @ _h(neg_grad(rho[:, :, None, None]))
    if which == "theta_U":
        grad_u = -W @ neg_grad(rho[:, :, None, None]) @ _h(A)[:, None] @ _h(H)
        return torch.imag(U.conj() * grad_u)
    back = _h(H) @ _h(U) @ W  # [B, K, Nt, Dk]
    if which == "theta_F":
        Z = torch.sum(back @ neg_grad(rho[:, :1, None, None]), dim=1)
        return torch.imag(F.conj() * (-Z @ _h(V)))
    if which == "V":  # user k's columns of grad_V, each with its own width rho_Pk
        cols = []
        for k in range(K):
            Z = torch.sum(back @ neg_grad(rho[:, k:k + 1, None, None]), dim=1)
            cols.append((-_h(F) @ Z)[..., k * Dk:(k + 1) * Dk])
        return torch.cat(cols, dim=-1)
    raise ValueError(which)


def ser_loss(H: torch.Tensor, F: torch.Tensor, V: torch.Tensor, U: torch.Tensor, W: torch.Tensor,
             sigma: torch.Tensor, S: torch.Tensor, constellation: str = "qpsk") -> torch.Tensor:
    """Exact-width semi-analytic SER without the product term, ``p_R + p_I`` per stream, averaged
    over the vectors ``S [D, J]`` and the streams: ``[B]`` (module notes; 16-QAM: both boundaries
    of the decision region (45) after the stream's rotation, as the metric)."""
    K, Dk = W.shape[1], W.shape[3]
    E = _h(W) @ U @ H @ (F @ V)[:, None]
    Y = E @ S
    rho = sigma[:, None, None, None] * torch.linalg.vector_norm(_h(U) @ W, dim=-2)[..., None] / math.sqrt(2.0)
    b = S.reshape(K, Dk, -1)[None]

    def q(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.erfc(x / rho / math.sqrt(2.0))

    if constellation == "qpsk":
        p = q(b.real * Y.real) + q(b.imag * Y.imag)
    else:
        _, mag, u = rotate_streams(E, Y, torch)
        top = float(levels(constellation)[-1])

        def part(z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
            return (q(z - mag * (level - 1.0)) * (level > -top) + q(mag * (level + 1.0) - z) * (level < top))

        p = part(u.real, b.real) + part(u.imag, b.imag)
    return p.mean(dim=(1, 2, 3))


class MserNet(nn.Module):
    """L unfolded layers of Algorithm 1 (module notes), QPSK or 16-QAM (``sizes.constellation``), float64.

    ``forward(H, start, sigma)`` maps the initial design (:mod:`~hbf_edge.families.mser.start`) to the output
    design; ``H [B, K, N_r, N_t]`` complex, ``sigma [B]`` the noise std.

    ``step_shape``: ``"matrix"`` (the paper's per-entry alpha, with offsets O when ``offsets``)
    or ``"scalar"`` (one alpha per layer, variable and user; no offsets).  Complex parameters and
    the symbol sets are stored as real arrays with a trailing (re, im) axis, so that a model
    directory holds real arrays only.
    """

    def __init__(self, sizes: MserSizes, n_layers: int, steps: GdSteps = DEFAULT_STEPS, n_samples: int = 128,
                 seed: int = 0, power: float = 1.0, step_shape: str = "scalar", offsets: bool = False,
                 candidates: np.ndarray | None = None, score_samples: int = SCORE_SAMPLES) -> None:
        super().__init__()
        if step_shape not in STEP_SHAPES:
            raise ValueError(f"step_shape must be one of {STEP_SHAPES}, got {step_shape!r}")
        if offsets and step_shape != "matrix":
            raise ValueError("offsets O need per-entry steps (step_shape='matrix')")
        self.sizes, self.steps, self.power = sizes, steps, power
        self.start: dict | None = None  # where the network starts (hbf_edge.families.mser.start; None: alignment)
        self.step_shape, self.offsets = step_shape, offsets
        K, Rt, Rr, Nr, Nt, Dk = (sizes.n_users, sizes.n_rf_tx, sizes.n_rf_rx, sizes.n_rx, sizes.n_tx,
                                 sizes.n_streams)
        L, Lf = n_layers, max(n_layers - 1, 0)

        def steps_of(*shape: int, complex_: bool = False) -> nn.Parameter:
            shape = shape if step_shape == "matrix" else shape[:-2] + (1, 1)
            one = torch.ones(shape + ((2,) if complex_ else ()), dtype=torch.float64)
            if complex_:
                one[..., 1] = 0.0
            return nn.Parameter(one)

        self.a_p = steps_of(L, K, Rt, Dk, complex_=True)  # (27), complex
        self.a_w = steps_of(L, K, Rr, Dk, complex_=True)  # (28), complex
        self.a_u = steps_of(L, K, Rr, Nr)  # (29), real (spec 5.10)
        self.a_f = steps_of(Lf, Nt, Rt)  # (30), layers 0..L-2
        if offsets:
            self.o_p = nn.Parameter(torch.zeros(L, K, Rt, Dk, 2, dtype=torch.float64))
            self.o_w = nn.Parameter(torch.zeros(L, K, Rr, Dk, 2, dtype=torch.float64))
            self.o_u = nn.Parameter(torch.zeros(L, K, Rr, Nr, dtype=torch.float64))
            self.o_f = nn.Parameter(torch.zeros(Lf, Nt, Rt, dtype=torch.float64))
        r0 = math.log(steps.kappa / math.sqrt(2.0))  # rho = r sigma, r = kappa / sqrt 2 (= varrho)
        self.log_r = nn.Parameter(torch.full((L, 3, K), r0, dtype=torch.float64))  # P_k, W_k, theta_Uk
        self.log_r_f = nn.Parameter(torch.full((Lf,), r0, dtype=torch.float64))
        rng = np.random.default_rng(seed)
        S = np.stack([sample_symbol_vectors(sizes.n_total_streams, n_samples, rng, sizes.constellation)
                      for _ in range(L)])
        self.register_buffer("symbols", torch.from_numpy(np.stack([S.real, S.imag], axis=-1)))  # [L, D, J, 2]
        self.register_buffer("candidates", None)
        self.register_buffer("score_symbols", None)
        if candidates is not None:
            self.register_buffer("candidates", torch.from_numpy(check_candidates(candidates)))  # [C, 4]
            Ss = sample_symbol_vectors(sizes.n_total_streams, score_samples, np.random.default_rng((seed, 1)),
                                       sizes.constellation)
            self.register_buffer("score_symbols", torch.from_numpy(np.stack([Ss.real, Ss.imag], axis=-1)))  # [D, Js, 2]

    @property
    def n_layers(self) -> int:
        return int(self.symbols.shape[0])

    def symbol_set(self, i: int) -> torch.Tensor:
        """The fixed symbol vectors of layer ``i``, ``[D, J]`` complex."""
        return torch.view_as_complex(self.symbols[i].contiguous())

    def _offset(self, name: str, i: int) -> torch.Tensor | float:
        if not self.offsets:
            return 0.0
        o = getattr(self, name)[i]
        return torch.view_as_complex(o.contiguous()) if o.shape[-1] == 2 and name in ("o_p", "o_w") else o

    def layer(self, i: int, H: torch.Tensor, d: Design, sigma: torch.Tensor, analog: bool = True,
              mult: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> Design:
        """Layer ``i``: eq. (27)-(30) then (26); ``analog=False``: the digital steps (27)-(28)
        only, the phases kept (a layer after the phases are fixed to codes, :mod:`quant.mser.qat`).
        ``mult``: factors on the P, W, theta_U and theta_F steps (and offsets), a candidate of
        :meth:`candidate_layer`."""
        S, K, z = self.symbol_set(i), self.sizes.n_users, self.sizes.constellation
        st = self.steps if mult == (1.0, 1.0, 1.0, 1.0) else dataclasses.replace(
            self.steps, mu_p=self.steps.mu_p * mult[0], mu_w=self.steps.mu_w * mult[1],
            mu_theta_u=self.steps.mu_theta_u * mult[2], mu_theta_f=self.steps.mu_theta_f * mult[3])
        F, V, U, W = d
        g = st.factor(sigma)[:, None, None]  # the steps scale with the noise (GdSteps), [B, 1, 1]
        gk = g[:, None]  # per user, [B, 1, 1, 1]
        r = torch.exp(self.log_r[i])[None] * sigma[:, None, None]  # [B, 3, K]
        Rt, Dk = V.shape[-2], self.sizes.n_streams
        mu_p = st.mu_p * torch.view_as_complex(self.a_p[i].contiguous())  # [K, Rt, Dk] (or [K, 1, 1])
        step_p = torch.cat([mu_p[k].expand(Rt, Dk) for k in range(K)], dim=-1)
        o_p = self._offset("o_p", i)
        off_p = torch.cat([st.mu_p * o_p[k] for k in range(K)], dim=-1) if self.offsets else 0.0
        V = V - g * step_p * kde_gradients(H, F, V, U, W, S, r[:, 0], "V", z) + off_p  # (27)
        a_w = torch.view_as_complex(self.a_w[i].contiguous())
        W = (W - gk * st.mu_w * a_w * kde_gradients(H, F, V, U, W, S, r[:, 1], "W", z)
             + st.mu_w * self._offset("o_w", i))  # (28)
        W = _normalise(U, W)
        if not analog:
            return Design(F, _scale(F, V, self.power / self.sizes.power_divisor), U, W)
        theta_u = (torch.angle(U) - gk * st.mu_theta_u * self.a_u[i]
                   * kde_gradients(H, F, V, U, W, S, r[:, 2], "theta_U", z)
                   + st.mu_theta_u * self._offset("o_u", i))  # (29)
        U = torch.exp(1j * theta_u)
        W = _normalise(U, W)
        if i < self.n_layers - 1:  # (30)
            rf = torch.exp(self.log_r_f[i]) * sigma[:, None]
            theta_f = (torch.angle(F) - g * st.mu_theta_f * self.a_f[i]
                       * kde_gradients(H, F, V, U, W, S, rf, "theta_F", z)
                       + st.mu_theta_f * self._offset("o_f", i))
        else:  # the last layer: the plain GD step (25) with the fixed mu and varrho (spec 5.11)
            varrho = st.kappa / math.sqrt(2.0) * sigma[:, None]
            theta_f = torch.angle(F) - g * st.mu_theta_f * kde_gradients(H, F, V, U, W, S, varrho, "theta_F", z)
        F = torch.exp(1j * theta_f)
        return Design(F, _scale(F, V, self.power / self.sizes.power_divisor), U, W)

    def score(self, H: torch.Tensor, d: Design, sigma: torch.Tensor) -> torch.Tensor:
        """What a candidate layer minimises: the exact-width SER without the product term
        (:func:`ser_loss`) on the fixed scoring vectors ``score_symbols``, ``[B]``."""
        S = torch.view_as_complex(self.score_symbols.contiguous())
        return ser_loss(H, *d, sigma, S, self.sizes.constellation)

    def candidate_layer(self, i: int, H: torch.Tensor, d: Design, sigma: torch.Tensor,
                        score: torch.Tensor) -> tuple[Design, torch.Tensor]:
        """Layer ``i`` once per row of ``candidates`` (the steps times that row's factors; a row of
        zeros keeps ``d``, whose ``score`` is known), and per channel the candidate of lowest
        :meth:`score` (the first on ties); returns it and its score.  The gradient reaches the
        steps through the candidate each channel keeps."""
        best, best_score = d, None
        for c in self.candidates.tolist():
            if not any(c):
                dc, sc = d, score
            else:
                dc = self.layer(i, H, d, sigma, mult=tuple(c))
                sc = self.score(H, dc, sigma)
            if best_score is None:
                best, best_score = dc, sc
                continue
            better = sc < best_score
            best = Design(*(torch.where(better.reshape((-1,) + (1,) * (a.ndim - 1)), a, b) for a, b in zip(dc, best)))
            best_score = torch.where(better, sc, best_score)
        return best, best_score

    def forward(self, H: torch.Tensor, start: Design, sigma: torch.Tensor) -> Design:
        d = Design(*start)
        if self.candidates is None:
            for i in range(self.n_layers):
                d = self.layer(i, H, d, sigma)
            return d
        score = self.score(H, d, sigma)
        for i in range(self.n_layers):
            d, score = self.candidate_layer(i, H, d, sigma, score)
        return d


def loss_vectors(sizes: MserSizes, seed: int = 0) -> torch.Tensor:
    """The fixed transmit vectors of the training loss: all of them when ``M^D <= 1024``, else
    ``LOSS_VECTORS`` seeded samples, ``[D, J]``."""
    D, z = sizes.n_total_streams, sizes.constellation
    if len(levels(z)) ** (2 * D) <= 1024:
        return torch.from_numpy(all_symbol_vectors(D, z))
    return torch.from_numpy(sample_symbol_vectors(D, LOSS_VECTORS, np.random.default_rng(seed + 7), z))
