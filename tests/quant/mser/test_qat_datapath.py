"""QAT with the integer datapath in the loop (quant.mser.qat.datapath_in_the_loop): the loss sees
the datapath's design exactly, the gradient is the quantized network's (straight through), and
`hbf-edge quantize` records which loss QAT used."""

from __future__ import annotations

import json

import numpy as np
import torch

from helpers import MSER_TINY as TINY, mser_model, mser_section
from hbf_edge.families.mser.formats import MserFormats
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.model import loss_vectors, ser_loss
from hbf_edge.families.mser.system import mser_channels
from hbf_edge.kernels.mser.hardware import mser_forward_hw, pack_hw
from hbf_edge.quant.mser.qat import QuantMserNet, datapath_in_the_loop


def test_the_loss_sees_the_datapath_and_the_gradient_the_network():
    net, packed = mser_model(TINY, 2, 6, torch_net=True)
    formats, q_bs, q_ue, refit = MserFormats(), 3, 4, 1
    qnet = QuantMserNet(net, q_bs, q_ue, refit)
    hook = datapath_in_the_loop(mser_section(TINY, net), 2, set(dict(net.state_dict())), formats, q_bs, q_ue, refit)
    H = mser_channels(5, TINY, seed=9)
    start = [torch.from_numpy(x) for x in dft_alignment(H, TINY)]
    sigma = torch.linspace(0.05, 0.3, 5, dtype=torch.float64)
    Ht = torch.from_numpy(H)
    design = qnet(Ht, start, sigma)
    mixed = hook(qnet, Ht, start, sigma, design)
    # the forward values are the datapath's, exactly
    want = mser_forward_hw(pack_hw(packed, formats, q_bs, q_ue, refit), H, tuple(x.numpy() for x in start),
                           sigma.numpy()).design()
    for got, w in zip(mixed, want):
        np.testing.assert_array_equal(got.detach().numpy(), w)
    assert any(not np.allclose(d.detach().numpy(), w) for d, w in zip(design, want))  # not the network's
    # the gradient is the network's, straight through: the loss's gradient at the datapath's
    # design, carried back through the network
    S = loss_vectors(TINY, 0)
    g_mixed = torch.autograd.grad(ser_loss(Ht, *mixed, sigma, S).mean(), qnet.a_p)[0]
    leaves = [torch.from_numpy(w).requires_grad_() for w in want]
    upstream = torch.autograd.grad(ser_loss(Ht, *leaves, sigma, S).mean(), leaves)
    fresh = qnet(Ht, start, sigma)
    g_want = torch.autograd.grad(fresh, qnet.a_p, grad_outputs=upstream)[0]
    assert g_mixed.abs().sum() > 0
    torch.testing.assert_close(g_mixed, g_want, rtol=1e-10, atol=1e-14)


def test_quantize_records_the_qat_loss(tmp_path):
    from hbf_edge.cli import main

    tiny = ["--n-tx", "8", "--n-rf-tx", "2", "--users", "2", "--n-rx", "2", "--n-rf-rx", "1", "--streams", "1"]
    assert main(["train", "mser", "--out", str(tmp_path / "m"), "--train-size", "20", "--val-size", "8", "--epochs",
                 "1", "-I", "2", "--samples", "8", "--gd-steps", "1e-3", "1e-2", "1e-2", "1e-2", "-q", *tiny]) == 0
    for loss in ("datapath", "network", "words"):
        out = tmp_path / f"q_{loss}"
        assert main(["quantize", str(tmp_path / "m"), "--out", str(out), "-Q", "3", "--epochs", "1", "--train-size",
                     "20", "--val-size", "8", "--count", "8", "--qat-loss", loss, "-q"]) == 0
        assert json.loads((out / "retention.json").read_text())["qat_loss"] == loss
        assert json.loads((out / "config.json").read_text())["quantization"]["qat_loss"] == loss
    assert main(["quantize", str(tmp_path / "m"), "--out", str(tmp_path / "p"), "-Q", "3", "--method", "ptq",
                 "--count", "8", "-q"]) == 0
    assert "qat_loss" not in json.loads((tmp_path / "p" / "retention.json").read_text())
