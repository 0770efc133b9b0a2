"""QAT of JCEHB with the integer datapath in stage 2's loss (quant.jcehb.qat.datapath_in_the_loop):
the loss sees the datapath's F_BB and W_BB exactly, the gradient is the quantized network's
(straight through); and the torch sum rate scores a stream whose combiner rounded to zero as the
numpy twin does (SINR 0, no NaN gradient)."""

from __future__ import annotations

import numpy as np
import torch

from helpers import JCEHB_NARROW as NARROW, JCEHB_Z as Z, jcehb_quantized_dir
from hbf_edge.families.jcehb.config import pilot_noise_seeded
from hbf_edge.families.jcehb.core import CORE
from hbf_edge.families.jcehb.model import sum_rate
from hbf_edge.families.jcehb.system import jcehb_channels, sum_rate as sum_rate_np
from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, load_jcehb_hw
from hbf_edge.quant.jcehb.qat import QuantJcehbNet, datapath_in_the_loop


def test_the_loss_sees_the_datapath_and_the_gradient_the_network(tmp_path):
    q = jcehb_quantized_dir(tmp_path / "q", "paper", formats=NARROW)
    net, config = CORE.load(q)
    qnet = QuantJcehbNet(net, 6)  # the directory's phases are 6-bit codes: the quantizer keeps them
    hook = datapath_in_the_loop(config.family_config, NARROW, 6)
    B, nu = 6, 0.1
    H = jcehb_channels(B, Z, seed=3)
    noise = pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, 8)
    Ht, nt = torch.from_numpy(H), torch.from_numpy(noise)
    out = qnet(Ht, nt, nu)
    mixed = hook(qnet, Ht, nt, nu, out)
    # the forward values are the datapath's, exactly (the directory's own packing, same slots)
    want = jcehb_forward_hw(load_jcehb_hw(q), H, noise, nu).values()
    for key in ("F_bb", "W_bb"):
        np.testing.assert_array_equal(mixed[key].detach().numpy(), want[key])
        assert not np.allclose(out[key].detach().numpy(), want[key])  # not the network's
    assert mixed["H_eq"] is out["H_eq"]
    # the gradient is the network's, straight through: the rate's gradient at the datapath's
    # design carried back through the network
    W_rf = qnet.analog()[1]
    g_mixed = torch.autograd.grad(sum_rate(mixed["H_eq"], mixed["F_bb"], mixed["W_bb"], W_rf, nu).mean(),
                                  qnet.hb_tf)[0]
    fresh = qnet(Ht, nt, nu)
    leaves = [torch.from_numpy(want[k]).requires_grad_() for k in ("F_bb", "W_bb")]
    upstream = torch.autograd.grad(sum_rate(fresh["H_eq"].detach(), *leaves, W_rf.detach(), nu).mean(), leaves)
    g_want = torch.autograd.grad((fresh["F_bb"], fresh["W_bb"]), qnet.hb_tf, grad_outputs=upstream)[0]
    assert g_mixed.abs().sum() > 0
    torch.testing.assert_close(g_mixed, g_want, rtol=1e-10, atol=1e-14)


def test_a_zero_combiner_scores_zero_not_nan():
    rng = np.random.default_rng(0)
    B, K, R, N, S = 3, 2, 2, 4, 2
    c = lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)  # noqa: E731
    He, F, W, W_rf = c(B, K, R, N), c(B, N, K * S), c(B, K, R, S), c(K, 6, R) / 6
    W[1, 0, :, 1] = 0  # one stream of one slot whose combiner words all rounded to zero
    want = sum_rate_np(He, F, W, W_rf, 0.1)
    Wt = torch.from_numpy(W).requires_grad_()
    got = sum_rate(torch.from_numpy(He), torch.from_numpy(F), Wt, torch.from_numpy(W_rf), 0.1)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    assert np.all(np.isfinite(want))
    (g,) = torch.autograd.grad(got.sum(), Wt)
    assert torch.isfinite(g).all() and g[0].abs().sum() > 0
