"""QAT of JCEHB's digital words (quant.jcehb.words, quant._core.twin): the Twin datapath's words
are the integer kernel's, word for word, with saturating and wrapping formats and both inverses;
its float twin holds the same values; its gradient is the float network's (autograd of
JcehbNet, a computation written apart) where the words are fine, and a saturated word passes
none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import JCEHB_NARROW as NARROW, JCEHB_WRAP as WRAP, JCEHB_Z as Z, jcehb_quantized_dir
from hbf_edge.families.jcehb.config import pilot_noise_seeded
from hbf_edge.families.jcehb.core import CORE
from hbf_edge.families.jcehb.formats import JcehbFormats
from hbf_edge.families.jcehb.model import sum_rate
from hbf_edge.families.jcehb.system import jcehb_channels
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.kernels.jcehb.forward import pack_jcehb
from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, pack_hw
from hbf_edge.quant._core import datapath as dp
from hbf_edge.quant._core import twin
from hbf_edge.quant.jcehb.qat import QuantJcehbNet, code_model
from hbf_edge.quant.jcehb.words import slot_twins, words_in_the_loop

NU = 0.1


def _setup(tmp_path, inverse, formats, B=6):
    net, config = CORE.load(jcehb_quantized_dir(tmp_path / inverse, inverse))
    qnet = QuantJcehbNet(net, 6)  # the directory's phases are 6-bit codes: the quantizer keeps them
    arrays = {k: v.detach().numpy() for k, v in code_model(qnet).state_dict().items()}
    hw = pack_hw(pack_jcehb(arrays, config.family_config), formats, 6)
    H = jcehb_channels(B, Z, seed=3)
    noise = pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, 8)
    return qnet, config, hw, H, noise


@pytest.mark.parametrize("inverse", ["paper", "exact"])
@pytest.mark.parametrize("formats", [NARROW, WRAP, JcehbFormats()], ids=["narrow", "wrap", "default"])
def test_the_twin_words_are_the_kernels(tmp_path, inverse, formats):
    qnet, _, hw, H, noise = _setup(tmp_path, inverse, formats)
    F, W = slot_twins(qnet, hw, torch.from_numpy(H), torch.from_numpy(noise), NU)
    want = jcehb_forward_hw(hw, H, noise, NU)
    for got, ref in ((F, want.F_bb), (W, want.W_bb)):
        for part, k in ((got.re, 0), (got.im, 1)):
            np.testing.assert_array_equal(part.i.numpy(), ref[..., k])
            np.testing.assert_array_equal(part.f.detach().numpy(), ref[..., k].astype(np.float64))  # the values too
    assert F.re.f.requires_grad
    if formats is NARROW:
        assert sum(want.counters.values()) > 0  # the narrow formats do saturate here


@pytest.mark.parametrize("inverse", ["paper", "exact"])
def test_the_gradient_is_the_float_networks_where_words_are_fine(tmp_path, inverse):
    """Autograd of the float network against the twin's straight-through gradient of the same
    rate: within 3 % at the default formats, 1 % with 18 fraction bits everywhere (measured 1.6 /
    0.5 % with the trained inverse, 0.3 / 0.3 % with the exact one: what is left at fine words is
    the datapath's own approximation, the 256-entry ``2^t`` table's up to 0.27 %)."""
    fine = JcehbFormats(**{n: FixedPointFormat(32 if n == "accumulator" else 24, 18) for n in
                           ("accumulator", "coef", "received", "pilot", "heq", "precoder", "combiner")})
    qnet, config, _, H, noise = _setup(tmp_path, inverse, JcehbFormats(), B=16)
    Ht, nt = torch.from_numpy(H), torch.from_numpy(noise)
    names = [k for k, _ in qnet.named_parameters() if not k.startswith("phi")]
    params = [dict(qnet.named_parameters())[k] for k in names]

    def grads(hook):
        out = qnet(Ht, nt, NU)
        if hook is not None:
            out = hook(qnet, Ht, nt, NU, out)
        rate = sum_rate(out["H_eq"], out["F_bb"], out["W_bb"], qnet.analog()[1], NU).mean()
        g = torch.autograd.grad(rate, params, allow_unused=True)
        return torch.cat([torch.zeros(p.numel(), dtype=p.dtype) if x is None else x.flatten() for x, p in zip(g, params)])

    g_net = grads(None)
    worst = []
    for formats in (JcehbFormats(), fine):
        g = grads(words_in_the_loop(config.family_config, formats, 6))
        cos = float(g @ g_net / (g.norm() * g_net.norm()))
        worst.append(float((g - g_net).norm() / g_net.norm()))
        assert cos > 0.999
    assert worst[0] < 0.03 and worst[1] < 0.01, worst


def test_the_twin_primitives():
    """Each rounding operation: the words of quant._core.datapath, the float value snapped to
    them, the gradient of the operation without rounding (zero where a word saturates)."""
    x = torch.tensor([-9.0, -3.0, 5.0, 70.0, 130.0], dtype=torch.float64, requires_grad=True)
    t = twin.Twin.words(torch.tensor([-9, -3, 5, 70, 130]), x)
    y = twin.rshift(t, 2, "half_even")
    np.testing.assert_array_equal(y.i.numpy(), dp.rshift(t.i, 2, "half_even").numpy())
    np.testing.assert_array_equal(y.f.detach().numpy(), y.i.numpy())
    fmt = FixedPointFormat(6, 0)  # words -32 .. 31
    z = twin.fit_word(y * 4, fmt)
    np.testing.assert_array_equal(z.i.numpy(), [-8, -4, 4, 31, 31])
    (g,) = torch.autograd.grad(z.f.sum(), x, retain_graph=True)
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0, 1.0, 0.0, 0.0])  # 4 x 2^-2; saturated: none
    wrap = FixedPointFormat(6, 0, saturate=False)
    (g,) = torch.autograd.grad(twin.fit_word(y * 4, wrap).f.sum(), x)
    np.testing.assert_array_equal(g.numpy(), np.ones(5))
    d = twin.div_round(t, torch.full((5,), 4), "half_up")
    np.testing.assert_array_equal(d.i.numpy(), dp.div_round(t.i, torch.full((5,), 4), "half_up").numpy())
    s = twin.isqrt(twin.Twin.words(torch.tensor([16, 17, 99]), torch.tensor([16.0, 17.0, 99.0], dtype=torch.float64,
                                                                          requires_grad=True)))
    np.testing.assert_array_equal(s.i.numpy(), [4, 4, 9])
    a = torch.tensor([[[3.0, 1.0], [-1.0, 2.0]]], dtype=torch.float64, requires_grad=True)
    inv = twin.gj_inverse_words(twin.Twin.words((a * 16).round().long().detach(), a * 16), FixedPointFormat(16, 4))
    np.testing.assert_array_equal(inv.i.numpy(), dp.gj_inverse_words((a * 16).long().detach(), FixedPointFormat(16, 4)))
    (g,) = torch.autograd.grad(inv.f.sum(), a)
    want = torch.autograd.grad((256 * torch.linalg.inv(a * 16)).sum(), a)[0]
    torch.testing.assert_close(g, want)
    # comparisons and selections decide on the words
    m = t > 0
    np.testing.assert_array_equal(m.numpy(), [False, False, True, True, True])
    w = torch.where(m, t, torch.zeros_like(t))
    assert isinstance(w, twin.Twin) and w.i.tolist() == [0, 0, 5, 70, 130]


def test_an_operation_without_a_rule_is_refused():
    """torch.round (or any operation the twin has no rule for) would put a rounded value in the
    float twin with a zero gradient: refused with the function's name."""
    t = twin.Twin.words(torch.tensor([3, -5]), torch.tensor([3.0, -5.0], dtype=torch.float64))
    with pytest.raises(TypeError, match="no rule for .*round"):
        torch.round(t)
