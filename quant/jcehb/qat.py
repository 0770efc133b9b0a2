"""Q-bit analog phases of the JCEHB network (``mixed_timescale_jcehb.txt`` Fig. 12, spec 6.2).

The analog phases Psi are weights, fixed for a superframe: QAT passes them through
:class:`~hbf_edge.quant._core.quantizers.PhaseQuant` (nearest Q-bit code, straight-through
gradient) in both training stages; PTQ rounds the trained ones.  The digital path stays float
here; the integer datapath (:mod:`kernels.jcehb.hardware`) runs the quantized directory with the
word lengths the quant stage stores.  A quantized model directory holds the code angles as
its phases, so the float network, the kernels and every command run it unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.quant._core.quantizers import PhaseQuant

__all__ = ["QuantJcehbNet", "code_model", "phase_codes"]


class QuantJcehbNet(JcehbNet):
    """A :class:`JcehbNet` whose analog phases pass through ``PhaseQuant(bits)``; starts from
    ``net``'s parameters."""

    def __init__(self, net: JcehbNet, bits: int) -> None:
        super().__init__(net.sizes, net.n_pilots, net.n_hb, net.pilot_power, net.inverse, net.delta, net.alpha,
                         net.pilot_boost_db)
        self.load_state_dict(net.state_dict())
        self.phase_quant = PhaseQuant(bits)

    def analog(self) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.sizes
        return (torch.exp(1j * self.phase_quant(self.phi_f)) / math.sqrt(z.n_tx),
                torch.exp(1j * self.phase_quant(self.phi_w)) / math.sqrt(z.n_rx))


def phase_codes(net: QuantJcehbNet) -> dict[str, np.ndarray]:
    """The integer codes ``0 .. 2^Q - 1`` of the BS and user phase shifters."""
    with torch.no_grad():
        return {name: net.phase_quant.codes(getattr(net, name)).numpy().astype(np.int64)
                for name in ("phi_f", "phi_w")}


def code_model(net: QuantJcehbNet) -> JcehbNet:
    """A float :class:`JcehbNet` whose phases are ``net``'s code angles (what a model directory
    stores)."""
    out = JcehbNet(net.sizes, net.n_pilots, net.n_hb, net.pilot_power, net.inverse, net.delta, net.alpha,
                   net.pilot_boost_db)
    state: dict[str, Any] = dict(net.state_dict())
    with torch.no_grad():
        state["phi_f"] = net.phase_quant(net.phi_f)
        state["phi_w"] = net.phase_quant(net.phi_w)
    out.load_state_dict(state)
    return out
