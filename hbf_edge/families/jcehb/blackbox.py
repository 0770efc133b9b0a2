"""The black-box network of Sec. VII-A (Fig. 8): the paper's comparison for the unfolded one.

The long-term part is the unfolded network's -- trainable analog phases at the BS and the users,
a trainable pilot, the same observation -- so the two differ only in what runs per slot: here a
channel-estimation DNN and a digital DNN of fully connected layers with batch normalisation and
ReLU, trained on the sum rate.  The paper gives no layer sizes; the spec's choice [C]
(``../shared/specs/jcehb.md`` section 3, item 6):

* estimation DNN, one per slot and user with weights shared by the users (they are statistically
  alike): ``vec(Y_k)`` (2 N_r^RF L reals) -> 256 -> 256 -> ``H^_eq,k`` (2 N_r^RF N_t^RF);
* digital DNN: every user's estimate (2 K N_r^RF N_t^RF) -> 512 -> 512 -> F_BB (2 N_t^RF K N_s)
  and W_BB (2 K N_r^RF N_s), then F_BB's per-user power normalisation of (31c); W_BB's scale does
  not change the rate.

Batch normalisation makes the network's output depend on the mode: training runs in train
mode, validation and every other use in eval mode (running statistics).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hbf_edge.errors import ConfigError
from hbf_edge.families._nn import BatchNorm1d
from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.families.jcehb.system import JcehbSizes, check_boost, dft_phases, dft_pilots

__all__ = ["JcehbBlackBox", "CE_HIDDEN", "DIGITAL_HIDDEN"]

CE_HIDDEN, DIGITAL_HIDDEN = 256, 512


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in ((n_in, hidden), (hidden, hidden)):
        layers += [nn.Linear(a, b), BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, n_out)).double()


class JcehbBlackBox(nn.Module):
    """Analog phases, pilot and two DNNs (module notes); the interface of
    :class:`~hbf_edge.families.jcehb.model.JcehbNet` (``forward``, ``estimate``, ``digital``,
    the long-term methods), so training, evaluation and ``--compare`` take either."""

    # the long-term part is the unfolded network's own code
    analog = JcehbNet.analog
    pilots = JcehbNet.pilots
    equivalent = JcehbNet.equivalent
    observe = JcehbNet.observe
    _normalise = JcehbNet._normalise

    def __init__(self, sizes: JcehbSizes, n_pilots: int, pilot_power: str = "per-column",
                 pilot_boost_db: float = 0.0) -> None:
        super().__init__()
        self.sizes, self.n_pilots, self.pilot_power = sizes, n_pilots, pilot_power
        self.pilot_boost_db = check_boost(pilot_boost_db)
        self.n_hb, self.inverse = 0, "none"  # no HBDUN layers, no inverse
        N, R, K, S, L = sizes.n_rf_tx, sizes.n_rf_rx, sizes.n_users, sizes.n_streams, n_pilots
        self.phi_f = nn.Parameter(torch.from_numpy(dft_phases(sizes.n_tx, N)))
        self.phi_w = nn.Parameter(torch.from_numpy(np.stack([dft_phases(sizes.n_rx, R)] * K)))
        self.register_buffer("ssca_phi_f", self.phi_f.detach().clone())
        self.register_buffer("ssca_phi_w", self.phi_w.detach().clone())
        self.pilot = nn.Parameter(torch.view_as_real(torch.from_numpy(dft_pilots(N, L, pilot_power))).contiguous())
        self.bb_ce = _mlp(2 * R * L, CE_HIDDEN, 2 * R * N)
        self.bb_digital = _mlp(2 * K * R * N, DIGITAL_HIDDEN, 2 * N * K * S + 2 * K * R * S)

    def estimate(self, Y: torch.Tensor, layers: int | None = None) -> torch.Tensor:
        """``H^_eq [B, K, R, N]`` from the received pilots ``Y [B, K, R, L]``."""
        if layers is not None:
            raise ConfigError("the black-box network has no estimator layers to cut (--test-pilots is for the "
                              "unfolded network)")
        B, K, R, L = Y.shape
        N = self.sizes.n_rf_tx
        x = torch.view_as_real(Y).reshape(B * K, 2 * R * L)
        h = self.bb_ce(x).reshape(B, K, R, N, 2)
        return torch.view_as_complex(h.contiguous())

    def digital(self, He: torch.Tensor, nu: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``F_BB [B, N, K N_s]`` (power-normalised per user) and ``W_BB [B, K, R, N_s]`` from the
        estimates ``He [B, K, R, N]``; ``nu`` does not enter (the DNN was trained at one SNR)."""
        B, K, R, N = He.shape
        S = self.sizes.n_streams
        out = self.bb_digital(torch.view_as_real(He).reshape(B, 2 * K * R * N))
        nf = 2 * N * K * S
        F = torch.view_as_complex(out[:, :nf].reshape(B, N, K * S, 2).contiguous())
        W = torch.view_as_complex(out[:, nf:].reshape(B, K, R, S, 2).contiguous())
        F_rf, _ = self.analog()
        return self._normalise(F, F_rf.conj().transpose(-1, -2) @ F_rf), W

    def forward(self, H: torch.Tensor, noise: torch.Tensor | None, nu: float) -> dict[str, torch.Tensor]:
        """A slot, as :meth:`JcehbNet.forward` (``noise=None``: the DNNs on the true ``H_eq``)."""
        He = self.equivalent(H)
        H_hat = He if noise is None else self.estimate(self.observe(He, noise, nu))
        F, W = self.digital(H_hat, nu)
        return {"H_eq": He, "H_hat": H_hat, "F_bb": F, "W_bb": W}

    def with_users(self, k: int) -> "JcehbBlackBox":
        raise ConfigError("the black-box network's digital DNN is built for its K users: it cannot serve fewer "
                          "(--test-users is for the unfolded network)")

