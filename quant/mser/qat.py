"""Q-bit phase shifters at the BS and the users of the MSER network (spec 6.6).

The phases are per-channel outputs, not weights.  The quantized network runs the float one's L
layers, rounds ``theta_F`` and ``theta_U`` to their codes
(:class:`~hbf_edge.quant._core.quantizers.PhaseQuant`: nearest code, straight-through gradient),
rescales ``V`` by (26) on the codes' ``F``, then runs ``refit`` digital layers: (27)-(28) and
(26) with the last layer's steps, widths and symbols, the phases fixed, so that ``V`` and ``W``
adapt to the codes (``refit = 0`` is the spec's PTQ "round").  QAT retrains the layer
parameters on the SER of this quantized design; PTQ keeps them.

The refit layers are a choice of ours (the paper and the spec are silent; the spec's PTQ
"refit" runs 50 GD iterations on V and W after the rounding): rounding after the last layer
leaves ``V`` and ``W`` designed for other phases, which at Q = 4 and 25 dB multiplies the SER by
5; replacing the last layers' analog steps by digital ones instead ("code layers") was measured
worse at 5 and 15 dB (README "MSER hardware datapath").  The digital words and the internal
angles are the integer datapath's (:mod:`kernels.mser.hardware`), checked against its own
reference, so this network is not a bit-exact model of it; the bit-exact torch model of the
datapath is :mod:`quant.mser.datapath` (the stage's ``torch_forward_hw``), which
:mod:`quant.mser.words` runs with gradients for ``--qat-loss words``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.gd import Design
from hbf_edge.families.mser.model import MserNet, _scale
from hbf_edge.quant._core.quantizers import PhaseQuant

__all__ = ["QuantMserNet", "datapath_in_the_loop"]


class QuantMserNet(MserNet):
    """A :class:`MserNet` whose output phases are ``q_bs``-bit (BS) and ``q_ue``-bit (users)
    codes and ``refit`` digital layers after the rounding (module notes); starts from ``net``'s
    parameters and symbol sets."""

    def __init__(self, net: MserNet, q_bs: int, q_ue: int, refit: int = 0) -> None:
        super().__init__(net.sizes, net.n_layers, net.steps, int(net.symbols.shape[2]), power=net.power,
                         step_shape=net.step_shape, offsets=net.offsets)
        if isinstance(refit, bool) or not isinstance(refit, int) or refit < 0:
            raise ConfigError(f"refit layers must be an integer >= 0, got {refit!r}")
        self.load_state_dict(net.state_dict())
        self.start = getattr(net, "start", None)
        self.quant_f = PhaseQuant(q_bs)
        self.quant_u = PhaseQuant(q_ue)
        self.refit = refit

    def to_codes(self, d: Design) -> Design:
        """``theta_F``, ``theta_U`` rounded to their codes; ``V`` rescaled (26) on the codes' ``F``."""
        F = torch.exp(1j * self.quant_f(torch.angle(d.F)))
        U = torch.exp(1j * self.quant_u(torch.angle(d.U)))
        return Design(F, _scale(F, d.V, self.power / self.sizes.power_divisor), U, d.W)

    def forward(self, H: torch.Tensor, start: Design, sigma: torch.Tensor) -> Design:
        d = Design(*start)
        for i in range(self.n_layers):
            d = self.layer(i, H, d, sigma)
        d = self.to_codes(d)
        for _ in range(self.refit):
            d = self.layer(self.n_layers - 1, H, d, sigma, analog=False)
        return d


def datapath_in_the_loop(family_config: dict, n_layers: int, names: set[str], formats: Any, q_bs: int, q_ue: int,
                         refit: int) -> Callable[..., Design]:
    """A design hook for :func:`~hbf_edge.families.mser.train.train_mser`: the loss scores the
    integer datapath's design (:func:`kernels.mser.hardware.mser_forward_hw`, packed from the
    network's current parameters ``names`` with these formats, bits and refit layers), and the
    gradient is the quantized network's, straight through: ``design = datapath + (net - net.detach())``.

    Why: this network is not the datapath (module notes); at 25 dB their SERs differ by up to 14 %,
    and QAT that improved this network's SER there made the datapath's worse (README "PTQ against
    QAT").  With the hook QAT's loss, and the validation that picks its epoch, are the datapath's.
    """
    from hbf_edge.kernels.mser.forward import pack_mser
    from hbf_edge.kernels.mser.hardware import mser_forward_hw, pack_hw

    def hook(model: torch.nn.Module, H: torch.Tensor, start: Any, sigma: torch.Tensor, design: Design) -> Design:
        arrays = {k: v.detach().numpy() for k, v in model.state_dict().items() if k in names}
        hw = pack_hw(pack_mser(arrays, family_config, n_layers), formats, q_bs, q_ue, refit)
        res = mser_forward_hw(hw, H.detach().numpy(), tuple(x.detach().numpy() for x in start),
                              sigma.detach().numpy())
        return Design(*[torch.from_numpy(np.ascontiguousarray(h)) + (f - f.detach())
                        for h, f in zip(res.design(), design)])

    return hook
