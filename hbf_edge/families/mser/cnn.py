"""The benchmark CNN of Sec. V-B (Fig. 4): a black-box transceiver design, the paper's comparison
for the unfolded network (``mser_unfolding_hbf.txt``; spec section 3, item 6).

Four CNNs design the transceiver from the channel: ``theta_F_NN`` and ``P_NN`` at the BS (the
analog phases ``theta_F`` and the digital precoder ``V = [P_1 .. P_K]``), ``theta_U_NN`` and
``W_NN`` at the users (each user's analog phases ``theta_Uk`` and digital combiner ``W_k``).  The
channel enters as a real tensor ``2 x N_r x N_t`` per user, as the paper says; the SER is the loss
(the same exact-width SER as the unfolded network's, :func:`~hbf_edge.families.mser.model.ser_loss`);
``V`` is power-normalised by (26) and every combiner column by ``||U_k^H w|| = 1`` (the unfolded
network's normalisation, under which the SER is invariant).

The paper gives neither kernel sizes nor channel counts nor pooling ("17 layers each: conv,
pooling, FC, batch norm"); the choices [C] (spec: "a small 2-D CNN per branch"):

* every branch is the same stack -- three 3 x 3 convolutions with 16, 32, 32 channels, each with
  batch normalisation and ReLU, the last two followed by a 1 x 2 max pooling along the antennas,
  then a fully connected layer of ``hidden`` units with batch normalisation and ReLU and the
  output layer: 17 layers when flattening counts as one (:data:`LAYERS_PER_BRANCH`);
* the input is every user's channel, ``2K x N_r x N_t``: the BS branches need all of them, and a
  user's combiner that saw only its own channel could not know the precoder it receives.  The
  user branches are one network shared by the users (they are statistically alike), each user's
  input rolled so that its own channel comes first;
* the channel is divided by its RMS entry, and the SNR that remains, ``10 log10(|h|^2 / sigma^2)``
  in units of 10 dB, enters the fully connected layer: one CNN serves the training SNR range, as
  the unfolded network does (the paper trains per SNR);
* the paper's ``b_k`` input (Fig. 4 runs symbols end to end) is not an input here: a linear
  transceiver does not depend on the symbol it carries, and the loss averages over the symbols.

Batch normalisation makes the output depend on the mode: training runs in train mode, every
other use in eval mode (running statistics).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hbf_edge.families._nn import BatchNorm1d, BatchNorm2d
from hbf_edge.families.mser.gd import Design
from hbf_edge.families.mser.system import MserSizes

__all__ = ["MserCnn", "build_cnn", "CONV_CHANNELS", "HIDDEN", "LAYERS_PER_BRANCH"]

CONV_CHANNELS, HIDDEN = (16, 32, 32), 256
LAYERS_PER_BRANCH = 17
_POOL = (1, 2)  # along the antennas (N_r is small: 4 or 8)


def _dft(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64)
    return torch.exp(2j * math.pi * torch.outer(i, i) / n) / math.sqrt(n)


def _unit(z: torch.Tensor) -> torch.Tensor:
    """Unit-modulus entries ``e^{j theta}`` from (re, im) pairs ``[..., 2]``: ``theta`` is their angle."""
    return torch.exp(1j * torch.atan2(z[..., 1], z[..., 0]))


class _Branch(nn.Module):
    """One CNN of Fig. 4 (module notes): ``x [B, C, N_r, N_t]`` and ``snr [B, 1]`` -> ``[B, n_out]``."""

    def __init__(self, in_channels: int, n_rx: int, n_tx: int, n_out: int, conv: tuple[int, ...], hidden: int
                 ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, w = in_channels, n_tx
        for i, c_out in enumerate(conv):
            layers += [nn.Conv2d(c, c_out, 3, padding=1), BatchNorm2d(c_out), nn.ReLU()]
            if i > 0:
                layers.append(nn.MaxPool2d(_POOL, ceil_mode=True))
                w = -(-w // 2)
            c = c_out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c * n_rx * w + 1, hidden), BatchNorm1d(hidden), nn.ReLU(),
                                nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor, snr: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([self.conv(x.float()), snr.float()], dim=1)).double()


class MserCnn(nn.Module):
    """The four CNNs of Fig. 4 (module notes), float64, with :class:`~hbf_edge.families.mser.model.MserNet`'s
    interface: ``forward(H, start, sigma)`` returns the design ``[F, V, U, W]`` of ``H [B, K, N_r, N_t]``
    at noise std ``sigma [B]``; ``start`` is not used (a CNN designs from the channel alone) and may be None."""

    uses_start = False

    def __init__(self, sizes: MserSizes, conv: tuple[int, ...] = CONV_CHANNELS, hidden: int = HIDDEN,
                 power: float = 1.0) -> None:
        super().__init__()
        self.sizes, self.conv_channels, self.hidden, self.power = sizes, tuple(conv), hidden, power
        self.start = None
        K, Rt, Rr, Nr, Nt, Dk = (sizes.n_users, sizes.n_rf_tx, sizes.n_rf_rx, sizes.n_rx, sizes.n_tx,
                                 sizes.n_streams)

        def branch(n_out: int) -> _Branch:
            return _Branch(2 * K, Nr, Nt, n_out, self.conv_channels, hidden)

        self.theta_f_nn, self.p_nn = branch(2 * Nt * Rt), branch(2 * Rt * K * Dk)
        self.theta_u_nn, self.w_nn = branch(2 * Rr * Nr), branch(2 * Rr * Dk)
        self.register_buffer("dft_t", _dft(Nt), persistent=False)
        self.register_buffer("dft_r", _dft(Nr), persistent=False)

    def inputs(self, H: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The BS branches' input ``[B, 2K, N_r, N_t]`` (the channel over its RMS entry) and the
        remaining SNR ``[B, 1]`` in units of 10 dB (module notes)."""
        rms = torch.sqrt(torch.mean(torch.abs(H) ** 2, dim=(1, 2, 3)))
        Hn = self.dft_r.conj().T @ H @ self.dft_t / rms[:, None, None, None]
        x = torch.stack([Hn.real, Hn.imag], dim=2).reshape(H.shape[0], -1, *H.shape[2:])  # user k: 2k, 2k+1
        snr = (20.0 * torch.log10(rms / sigma) / 10.0)[:, None]
        return x, snr

    def forward(self, H: torch.Tensor, start: Design | None, sigma: torch.Tensor) -> Design:
        z = self.sizes
        B, K, Rt, Rr, Nr, Nt, Dk = H.shape[0], z.n_users, z.n_rf_tx, z.n_rf_rx, z.n_rx, z.n_tx, z.n_streams
        x, snr = self.inputs(H, sigma)
        F = _unit(self.theta_f_nn(x, snr).reshape(B, Nt, Rt, 2))
        V = torch.view_as_complex(self.p_nn(x, snr).reshape(B, Rt, K * Dk, 2).contiguous())
        V = V * (math.sqrt(self.power / z.power_divisor) / torch.linalg.matrix_norm(F @ V)[:, None, None])  # (26)
        # each user's input with its own channel first: user k sees users k, k+1, .., k-1
        xs = torch.stack([torch.cat([x[:, 2 * k:], x[:, :2 * k]], dim=1) for k in range(K)], dim=1)
        xs, snr_k = xs.reshape(B * K, *x.shape[1:]), snr.repeat_interleave(K, dim=0)
        U = _unit(self.theta_u_nn(xs, snr_k).reshape(B, K, Rr, Nr, 2))
        W = torch.view_as_complex(self.w_nn(xs, snr_k).reshape(B, K, Rr, Dk, 2).contiguous())
        W = W / torch.linalg.vector_norm(U.conj().transpose(-1, -2) @ W, dim=-2, keepdim=True)
        return Design(F, V, U, W)

    def parameter_count(self) -> int:
        """Trainable parameters of the four CNNs."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def build_cnn(sizes: MserSizes, seed: int) -> MserCnn:
    """A fresh :class:`MserCnn` with the initial weights of ``seed``."""
    torch.manual_seed(seed)
    return MserCnn(sizes)
