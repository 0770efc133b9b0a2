"""QAT of MSER's digital words: the loss scores the integer datapath's design, the gradient passes
each rounding, table and code inside it (``hbf-edge quantize --qat-loss words``).

:func:`twin_words` gives the layer constants of the datapath as
:class:`~hbf_edge.quant._core.twin.Twin` words: the int64 words are
:func:`kernels.mser.hardware.pack_hw`'s (the kernel's, the bundle's: the forward pass is theirs
code for code and word for word), the float twins the same constants in torch from the
network's parameters (:func:`packed`, the torch twin of :func:`kernels.mser.forward.pack_mser`:
the steps times the step sizes, the offsets, the kernel widths' ``1 / (sqrt 2 r)`` and ``1 /
(J sqrt(2 pi) r)``), in each format's units.  :class:`~hbf_edge.quant.mser.datapath.MserInt`
built on them runs the layers on both tracks from the host's input words (channel, start, step
factor: no gradient); :func:`words_in_the_loop` is QAT's design hook.

Against :func:`quant.mser.qat.datapath_in_the_loop` (``--qat-loss datapath``, the default):
both score the datapath's design, but there the gradient is the float quantized network's at
its own design; here it is the float computation's at the datapath's values, through the
cos/sin and ``e^{-u}`` tables, every rounding and saturation, and the codes (straight through).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge.families.mser.gd import Design
from hbf_edge.quant._core.twin import Twin, word_units as _unit

__all__ = ["packed", "twin_words", "design_twins", "words_in_the_loop"]


def packed(net: Any, family_config: dict) -> dict[str, torch.Tensor]:
    """The trained arrays of :func:`kernels.mser.forward.pack_mser` (``ap_r`` .. ``of_``,
    ``widths``, ``widths_f``) in torch, from ``net``'s parameters (the same formulas)."""
    st = family_config["steps"]
    Nt, Rt, K, Nr, Rr, Dk = (net.sizes.n_tx, net.sizes.n_rf_tx, net.sizes.n_users, net.sizes.n_rx,
                             net.sizes.n_rf_rx, net.sizes.n_streams)
    L = net.n_layers
    c = lambda x: torch.view_as_complex(x.contiguous())  # noqa: E731
    ap = torch.cat([(st["mu_p"] * c(net.a_p)[:, k]).expand(L, Rt, Dk) for k in range(K)], dim=-1)
    aw = (st["mu_w"] * c(net.a_w)).expand(L, K, Rr, Dk)
    au = (st["mu_theta_u"] * net.a_u).expand(L, K, Rr, Nr)
    mu_f = float(st["mu_theta_f"])
    af = torch.cat([(mu_f * net.a_f).expand(L - 1, Nt, Rt), torch.full((1, Nt, Rt), mu_f, dtype=torch.float64)])
    zero = lambda *shape: torch.zeros(shape, dtype=torch.float64)  # noqa: E731
    if family_config["offsets"]:
        op = st["mu_p"] * torch.cat([c(net.o_p)[:, k] for k in range(K)], dim=-1)
        ow = st["mu_w"] * c(net.o_w)
        ou = st["mu_theta_u"] * net.o_u
        of_ = torch.cat([mu_f * net.o_f, zero(1, Nt, Rt)])
    else:
        op, ow = torch.complex(zero(L, Rt, K * Dk), zero(L, Rt, K * Dk)), torch.complex(zero(L, K, Rr, Dk),
                                                                                        zero(L, K, Rr, Dk))
        ou, of_ = zero(L, K, Rr, Nr), zero(L, Nt, Rt)
    widths_f = torch.cat([torch.exp(net.log_r_f), torch.full((1,), st["kappa"] / math.sqrt(2.0), dtype=torch.float64)])
    return {"ap_r": ap.real, "ap_i": ap.imag, "aw_r": aw.real, "aw_i": aw.imag, "au": au, "af": af,
            "op_r": op.real, "op_i": op.imag, "ow_r": ow.real, "ow_i": ow.imag, "ou": ou, "of_": of_,
            "widths": torch.exp(net.log_r), "widths_f": widths_f}


def twin_words(net: Any, hw: Any, family_config: dict) -> dict[str, Twin]:
    """The trained constants of ``hw`` (packed from ``net``) as Twins whose gradient reaches
    ``net``'s parameters (module notes); the symbols and tables stay plain words."""
    f, w = hw.formats, hw.words
    p = packed(net, family_config)
    J = int(w["sym_r"].shape[2])
    S = f.step
    turn = (1 << f.angle_bits) / (2.0 * math.pi)  # radians -> angle words (they wrap: no clamp)
    units = {"ap_r": S, "ap_i": S, "aw_r": S, "aw_i": S, "au": S, "af": S, "op_r": f.precoder, "op_i": f.precoder,
             "ow_r": f.combiner, "ow_i": f.combiner}
    out = {}
    for name, fmt in units.items():
        out[name] = Twin.words(w[name], _unit(fmt, p[name]))
    for name in ("ou", "of_"):
        out[name] = Twin.words(w[name], p[name] * turn)
    for name, r in (("ws", p["widths"]), ("wsf", p["widths_f"])):
        out[name] = Twin.words(w[name], _unit(S, 1.0 / (math.sqrt(2.0) * r)))
    for name, r in (("wc", p["widths"]), ("wcf", p["widths_f"])):
        out[name] = Twin.words(w[name], _unit(S, 1.0 / (J * math.sqrt(2.0 * math.pi) * r)))
    return out


def design_twins(net: Any, hw: Any, family_config: dict, H: np.ndarray, start: tuple[np.ndarray, ...],
                 sigma: np.ndarray) -> Design:
    """The integer datapath's design ``(F, V, U, W)`` from the float start: the values are the
    datapath's (the codes' phases, the words' values), the gradient the twins' (module notes)."""
    from hbf_edge.kernels.mser.hardware import MserHwSession
    from hbf_edge.quant.mser.datapath import MSER_INT_INPUTS, MserInt

    ins = MserHwSession(hw, H, start, sigma).input_words()
    dp = MserInt(hw, twin_words(net, hw, family_config))
    cf, cu, V, W, tf, tu = dp.run(*(torch.from_numpy(np.ascontiguousarray(ins[k], np.int64)) for k in MSER_INT_INPUTS))
    f = hw.formats
    b = f.angle_bits

    def phases(code: torch.Tensor, theta: Any, q: int) -> torch.Tensor:
        angle = code.to(torch.float64) * (2.0 * math.pi / (1 << q))
        if isinstance(theta, Twin):  # straight through the code, the gradient of the angle word
            a = theta.f * (2.0 * math.pi / (1 << b))
            angle = angle + (a - a.detach())
        return torch.exp(1j * angle)

    value = lambda x, fmt: torch.complex(x.re.f, x.im.f) * math.ldexp(1.0, -fmt.frac_bits)  # noqa: E731
    return Design(phases(cf, tf, hw.q_bs), value(V, f.precoder), phases(cu, tu, hw.q_ue), value(W, f.combiner))


def words_in_the_loop(family_config: dict, n_layers: int, names: set[str], formats: Any, q_bs: int, q_ue: int,
                      refit: int) -> Callable[..., Design]:
    """A design hook for :func:`~hbf_edge.families.mser.train.train_mser` (the signature of
    :func:`quant.mser.qat.datapath_in_the_loop`): the design is the integer datapath's, packed
    from the network's current parameters ``names`` with these formats, bits and refit layers,
    with the gradient through every rounding of its words (module notes)."""
    from hbf_edge.kernels.mser.forward import pack_mser
    from hbf_edge.kernels.mser.hardware import pack_hw

    def hook(model: torch.nn.Module, H: torch.Tensor, start: Any, sigma: torch.Tensor, design: Design) -> Design:
        arrays = {k: v.detach().numpy() for k, v in model.state_dict().items() if k in names}
        hw = pack_hw(pack_mser(arrays, family_config, n_layers), formats, q_bs, q_ue, refit)
        return design_twins(model, hw, family_config, H.detach().numpy(), tuple(x.detach().numpy() for x in start),
                            sigma.detach().numpy())

    return hook
