"""Q-bit analog phases of the JCEHB network (``mixed_timescale_jcehb.txt`` Fig. 12, spec 6.2).

The analog phases Psi are weights, fixed for a superframe: QAT passes them through
:class:`~hbf_edge.quant._core.quantizers.PhaseQuant` (nearest Q-bit code, straight-through
gradient) in both training stages; PTQ rounds the trained ones.  The digital path is float
here; the integer datapath (:mod:`kernels.jcehb.hardware`) runs the quantized directory with the
word lengths the quant stage stores, and :func:`datapath_in_the_loop` puts it in stage 2's loss
(:mod:`quant.jcehb.words`: with the gradient through its words).
A quantized model directory holds the code angles as its phases, so the float network, the
kernels and every command run it unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.quant._core.quantizers import PhaseQuant

__all__ = ["QuantJcehbNet", "code_model", "phase_codes", "datapath_in_the_loop"]


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


def datapath_in_the_loop(family_config: dict, formats: Any, phase_bits: int) -> Callable[..., dict]:
    """A slot hook for :func:`~hbf_edge.families.jcehb.train.train_jcehb`: the loss scores the
    integer datapath's ``F_BB`` and ``W_BB`` (:func:`kernels.jcehb.hardware.jcehb_forward_hw`,
    packed from the network's current parameters and code phases with these formats, on the
    same channels and pilot noise), and the gradient is the quantized network's, straight
    through: ``F_BB = datapath + (net - net.detach())``, the same for ``W_BB``.

    Why: the words of the digital path are rounded at every operation, which the float network
    does not see (at 8-bit words the datapath keeps 98 % of its rate, README "JCEHB hardware
    kernel"); with the hook, stage 2's loss and the validation that picks its epoch are the
    datapath's.  Stage 1 (HBDUN on the true equivalent channel, no pilots) has no datapath
    counterpart and keeps the network's loss.  The gradient does not pass through the
    roundings themselves; :func:`quant.jcehb.words.words_in_the_loop` (``--qat-loss words``)
    passes it through each of them.
    """
    from hbf_edge.kernels.jcehb.forward import pack_jcehb
    from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, pack_hw

    def hook(model: QuantJcehbNet, H: torch.Tensor, noise: torch.Tensor, nu: float,
             out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        arrays = {k: v.detach().numpy() for k, v in code_model(model).state_dict().items()}
        hw = pack_hw(pack_jcehb(arrays, family_config), formats, phase_bits)
        got = jcehb_forward_hw(hw, H.detach().numpy(), noise.detach().numpy(), nu).values()
        return {**out, **{k: torch.from_numpy(got[k]) + (out[k] - out[k].detach()) for k in ("F_bb", "W_bb")}}

    return hook
