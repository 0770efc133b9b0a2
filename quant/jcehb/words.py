"""QAT of JCEHB's digital words: the loss scores the integer datapath, the gradient passes each
rounding inside it (``hbf-edge quantize --qat-loss words``).

:func:`twin_words` gives every per-superframe constant of the datapath as a
:class:`~hbf_edge.quant._core.twin.Twin`: its int64 words are :func:`kernels.jcehb.hardware.pack_hw`'s
(the packing the kernel, the bundle and the controller use, so the forward pass is theirs word
for word), and its float twin is the same constant computed in torch from the network's
parameters (pilots, CEDUN's gains (17a)-(17c), the Gram of the code phases, HBDUN's multipliers
and offsets, ``T_lambda mu`` folded), in the format's units, saturating where the format does.
:func:`twin_received` does the same for the slot's ADC words (the pilots through the code beams,
:meth:`JcehbNet.observe`).  :class:`~hbf_edge.quant.jcehb.datapath.JcehbSlotInt` built on them
runs the datapath on both tracks; :func:`words_in_the_loop` is the slot hook of stage 2.

Against :func:`quant.jcehb.qat.datapath_in_the_loop` (``--qat-loss datapath``): both score the
datapath's words, but there the gradient is the float network's at its own design, here it is
the float computation's at the datapath's values, through every rounding, saturation and table
(a saturated word passes none).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge.quant._core.datapath import Words
from hbf_edge.quant._core.twin import Twin, word_units as _unit

__all__ = ["twin_words", "twin_received", "words_in_the_loop", "slot_twins"]


def _twin(words: np.ndarray, fmt: Any, x: torch.Tensor) -> Twin:
    return Twin.words(words, _unit(fmt, x))


def twin_words(net: Any, hw: Any) -> dict[str, Twin]:
    """The constants of ``hw`` (packed from ``net``'s code model) as Twins whose gradient reaches
    ``net``'s parameters (module notes).  ``net``: a :class:`~hbf_edge.quant.jcehb.qat.QuantJcehbNet`
    (its analog phases are code angles)."""
    f, w = hw.formats, hw.words
    C, A = f.coef, f.accumulator
    R = net.sizes.n_rf_rx
    X = net.pilots()
    v = torch.stack(net.cedun_gains())  # [L, K, N]
    F_rf, _ = net.analog()
    G = F_rf.conj().T @ F_rf
    c = torch.view_as_complex
    d = c(net.hb_d)
    d = d - 1j * torch.diag_embed(torch.diagonal(d, dim1=-2, dim2=-1).imag)  # D^- (30)

    def four(words: np.ndarray, mul: torch.Tensor, off: torch.Tensor) -> Twin:
        return Twin.words(words, torch.stack([_unit(C, mul.real), _unit(C, mul.imag), _unit(A, off.real),
                                              _unit(A, off.imag)]))

    lam, t = net.hb_lam, net.hb_t
    hbs = torch.stack([_unit(C, lam[..., 0] * net.hb_mu), _unit(A, lam[..., 1]), _unit(C, t[..., 0]),
                       _unit(A, t[..., 1]), _unit(C, net.hb_mu)])
    out = {"xr": _twin(w["xr"], f.pilot, X.real), "xi": _twin(w["xi"], f.pilot, X.imag),
           "vgr": _twin(w["vgr"], A, v.real), "vgi": _twin(w["vgi"], A, v.imag),
           "gfr": _twin(w["gfr"], A, G.real), "gfi": _twin(w["gfi"], A, G.imag),
           "ce": four(w["ce"][12:16, ..., :R], c(net.ce_tw), c(net.ce_qw)),
           "hb": four(w["hb"], c(net.hb_b), d), "hbw": four(w["hbw"], c(net.hb_tw), c(net.hb_qw)),
           "hbf": four(w["hbf"], c(net.hb_tf), c(net.hb_qf)),
           "hbs": Twin.words(w["hbs"], hbs)}
    return out


def twin_received(net: Any, hw: Any, H: torch.Tensor, noise: torch.Tensor, nu: float) -> Words:
    """The slot's ADC words ``Y [B, K, R, L]`` (:func:`kernels.jcehb.hardware.received_words`, the
    pilot words through the code beams) with the gradient of ``net.observe`` in the received
    format's units."""
    from hbf_edge.kernels.jcehb.hardware import received_words

    q, _ = received_words(hw, H.detach().numpy(), noise.detach().numpy(), nu)
    Y = net.observe(net.equivalent(H), noise, nu)
    fmt = hw.formats.received
    return Words(_twin(q[..., 0], fmt, Y.real), _twin(q[..., 1], fmt, Y.imag))


def slot_twins(net: Any, hw: Any, H: torch.Tensor, noise: torch.Tensor, nu: float) -> tuple[Words, Words]:
    """``F_BB [B, N, K S]`` and ``W_BB [B, K, R, S]`` of the integer datapath as Twin words."""
    from hbf_edge.kernels.jcehb.hardware import noise_word
    from hbf_edge.quant.jcehb.datapath import JcehbSlotInt

    y = twin_received(net, hw, H, noise, nu)
    nu_w = torch.full((H.shape[0],), noise_word(hw, nu), dtype=torch.int64)
    return JcehbSlotInt(hw, twin_words(net, hw)).slot(y, nu_w)


def words_in_the_loop(family_config: dict, formats: Any, phase_bits: int) -> Callable[..., dict]:
    """A slot hook for :func:`~hbf_edge.families.jcehb.train.train_jcehb`: ``F_BB`` and ``W_BB``
    are the integer datapath's words (packed from the network's current parameters and code
    phases with ``formats``), as values, with the gradient through every rounding (module notes).
    Stage 1 (no pilots) has no datapath counterpart and keeps the network's loss."""
    from hbf_edge.kernels.jcehb.forward import pack_jcehb
    from hbf_edge.kernels.jcehb.hardware import pack_hw
    from hbf_edge.quant.jcehb.qat import code_model

    def hook(model: Any, H: torch.Tensor, noise: torch.Tensor, nu: float,
             out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        arrays = {k: v.detach().numpy() for k, v in code_model(model).state_dict().items()}
        hw = pack_hw(pack_jcehb(arrays, family_config), formats, phase_bits)
        F, W = slot_twins(model, hw, H, noise, nu)
        value = lambda x, fmt: torch.complex(x.re.f, x.im.f) * math.ldexp(1.0, -fmt.frac_bits)  # noqa: E731
        return {**out, "F_bb": value(F, formats.precoder), "W_bb": value(W, formats.combiner)}

    return hook
