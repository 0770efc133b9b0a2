"""QAT of MSER's digital words (quant.mser.words on quant._core.twin): the torch packing equals
the kernel's; the Twin datapath's design is the integer kernel's code for code and word for
word (default, narrow saturating, wrapping formats, refit layers, 16-QAM); its gradient is the
float quantized network's (autograd of QuantMserNet, written apart) where the codes and words are
fine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import MSER_NARROW as NARROW, MSER_TINY as TINY, MSER_WRAP as WRAP, mser_model, mser_section
from hbf_edge.families.mser.formats import MserFormats
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.model import loss_vectors, ser_loss
from hbf_edge.families.mser.system import MserSizes, mser_channels
from hbf_edge.kernels.mser.hardware import mser_forward_hw, pack_hw
from hbf_edge.quant.mser.qat import QuantMserNet
from hbf_edge.quant.mser.words import packed, words_in_the_loop

TINY2 = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
QAM2 = MserSizes(**{**TINY2.__dict__, "constellation": "16qam"})


def _run(sizes, formats, q_bs, q_ue, refit, sigma):
    net, pk = mser_model(sizes, 2, 6, torch_net=True)
    qnet = QuantMserNet(net, q_bs, q_ue, refit)
    hook = words_in_the_loop(mser_section(sizes, net), 2, set(dict(net.state_dict())), formats, q_bs, q_ue, refit)
    H = mser_channels(len(sigma), sizes, seed=9)
    start = [torch.from_numpy(x) for x in dft_alignment(H, sizes)]
    Ht = torch.from_numpy(H)
    design = hook(qnet, Ht, start, sigma, qnet(Ht, start, sigma))
    return qnet, pk, H, Ht, start, design


def test_the_torch_packing_is_the_kernels():
    net, pk = mser_model(TINY, 3, 6, torch_net=True)
    got = packed(net, mser_section(TINY, net))
    assert set(got) == set(pk.arrays) - {"sym_r", "sym_i"}
    for k, v in got.items():
        np.testing.assert_allclose(v.detach().numpy(), pk.arrays[k], rtol=1e-15, atol=0, err_msg=k)


@pytest.mark.parametrize("sizes,formats,q_bs,q_ue,refit",
                         [(TINY, MserFormats(), 4, 3, 2), (TINY, NARROW, 2, 6, 1), (TINY2, WRAP, 3, 4, 1),
                          (QAM2, MserFormats(), 4, 3, 1)])
def test_the_twin_design_is_the_kernels(sizes, formats, q_bs, q_ue, refit):
    sigma = torch.linspace(0.05, 0.3, 4, dtype=torch.float64)
    _, pk, H, _, start, design = _run(sizes, formats, q_bs, q_ue, refit, sigma)
    want = mser_forward_hw(pack_hw(pk, formats, q_bs, q_ue, refit), H, tuple(x.numpy() for x in start), sigma.numpy())
    for got, w in zip(design, want.design()):
        np.testing.assert_array_equal(got.detach().numpy(), w)
    assert all(d.requires_grad for d in design)


def test_the_gradient_is_the_quantized_networks_where_words_are_fine():
    """8-bit codes on both sides, the default words, SNRs where errors are common: the Twin's
    straight-through gradient of the KDE SER against autograd of the float quantized network,
    per parameter (measured: cosines 0.9998-1.0000, norms within 1.5 %)."""
    sigma = torch.linspace(0.5, 1.5, 5, dtype=torch.float64)
    qnet, _, _, Ht, start, design = _run(TINY, MserFormats(), 8, 8, 0, sigma)
    S = loss_vectors(TINY, 0)
    names = [k for k, _ in qnet.named_parameters()]
    params = [dict(qnet.named_parameters())[k] for k in names]
    g_words = torch.autograd.grad(ser_loss(Ht, *design, sigma, S).mean(), params)
    g_net = torch.autograd.grad(ser_loss(Ht, *qnet(Ht, start, sigma), sigma, S).mean(), params)
    for name, a, b in zip(names, g_net, g_words):
        a, b = a.flatten(), b.flatten()
        assert float(a @ b / (a.norm() * b.norm())) > 0.999, name
        assert abs(float(b.norm() / a.norm()) - 1) < 0.03, name
