"""Q-bit phase shifters at the BS and the users of the MSER network (spec 6.6).

The phases are per-channel outputs, not weights: QAT passes the last layer's ``theta_F`` (before
the final scaling (26), so the power holds for the applied codes, as in the integer datapath)
and the output ``theta_U`` through :class:`~hbf_edge.quant._core.quantizers.PhaseQuant`
(nearest code, straight-through gradient) and retrains the layer parameters on the SER of the
quantized design; PTQ rounds the float network's output the same way.  The digital words and the
internal angles are the integer datapath's (:mod:`kernels.mser.hardware`), checked against its
own reference, so this network is not a bit-exact model of it (``hardware_exact = False``).
"""

from __future__ import annotations

from hbf_edge.families.mser.model import MserNet
from hbf_edge.quant._core.quantizers import PhaseQuant

__all__ = ["QuantMserNet"]


class QuantMserNet(MserNet):
    """A :class:`MserNet` whose output phases are ``q_bs``-bit (BS) and ``q_ue``-bit (users)
    codes; starts from ``net``'s parameters and symbol sets."""

    def __init__(self, net: MserNet, q_bs: int, q_ue: int) -> None:
        super().__init__(net.sizes, net.n_layers, net.steps, int(net.symbols.shape[2]), power=net.power,
                         step_shape=net.step_shape, offsets=net.offsets)
        self.load_state_dict(net.state_dict())
        self.quant_f = PhaseQuant(q_bs)
        self.quant_u = PhaseQuant(q_ue)
