"""JCEHB's numpy system and baselines against independent computations, and the torch network
at its initial parameters against the baselines (spec 2.2, 2.5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb import baselines as bl
from hbf_edge.families.jcehb.complexity import cedun_layer_ops, hbdun_layer_ops
from hbf_edge.families.jcehb.model import JcehbNet, sum_rate as torch_rate
from hbf_edge.families.jcehb.system import (JcehbSizes, analog, dft_phases, dft_pilots, equivalent, jcehb_channels,
                                            observe, pilot_noise, sinr, sum_rate)

SMALL = JcehbSizes(n_tx=16, n_rf_tx=8, n_rx=8, n_rf_rx=2, n_users=2, n_streams=2)


def _beams(z: JcehbSizes):
    return analog(dft_phases(z.n_tx, z.n_rf_tx), np.stack([dft_phases(z.n_rx, z.n_rf_rx)] * z.n_users))


@pytest.mark.parametrize("power", ["per-column", "per-chain"])
def test_rls_with_beta_1_is_the_ridge_estimate(power):
    """Algorithm 1 against the closed form Y X^H (X X^H + delta I)^-1, 40 pilots; the real
    denominator keeps it there (the printed complex one drifts, baselines.py notes)."""
    z = SMALL
    F, W = _beams(z)
    He = equivalent(jcehb_channels(6, z, seed=1), F, W)
    X = dft_pilots(z.n_rf_tx, 40, power)
    Y = observe(He, X, W, pilot_noise(6, z, 40, 2), 0.1)
    got, want = bl.rls(X, Y), bl.ridge(X, Y)
    assert np.abs(got - want).max() < 1e-10 * np.abs(want).max()
    assert np.allclose(np.linalg.norm(X, axis=0), 1.0 if power == "per-column" else np.sqrt(z.n_rf_tx))


def test_sinr_against_a_loop_over_streams():
    z = SMALL
    F_rf, W_rf = _beams(z)
    He = equivalent(jcehb_channels(3, z, seed=4), F_rf, W_rf)
    rng = np.random.default_rng(0)
    Fb = rng.standard_normal((3, 8, 4)) + 1j * rng.standard_normal((3, 8, 4))
    Wb = rng.standard_normal((3, 2, 2, 2)) + 1j * rng.standard_normal((3, 2, 2, 2))
    nu = 0.3
    got = sinr(He, Fb, Wb, W_rf, nu)
    for b in range(3):
        for k in range(2):
            for l in range(2):
                w = Wb[b, k, :, l]
                gains = [abs(w.conj() @ He[b, k] @ Fb[b, :, c]) ** 2 for c in range(4)]
                signal = gains[2 * k + l]
                noise = nu * np.linalg.norm(W_rf[k] @ w) ** 2
                assert got[b, k, l] == pytest.approx(signal / (sum(gains) - signal + noise), rel=1e-12)
    want = torch_rate(*(torch.from_numpy(x) for x in (He, Fb, Wb, W_rf)), nu).numpy()
    np.testing.assert_allclose(sum_rate(He, Fb, Wb, W_rf, nu), want, rtol=1e-12)
    Wb[1, 0, :, 1] = 0  # a combiner rounded to zero words: that stream gets nothing, the others count
    got = sinr(He, Fb, Wb, W_rf, nu)
    assert got[1, 0, 1] == 0 and np.isfinite(sum_rate(He, Fb, Wb, W_rf, nu)).all() and got[1, 0, 0] > 0


def test_sca_raises_the_rate_above_rzf_and_meets_the_power_constraint():
    z = SMALL
    F_rf, W_rf = _beams(z)
    He = equivalent(jcehb_channels(20, z, seed=3), F_rf, W_rf)
    G = F_rf.conj().T @ F_rf
    rates = [sum_rate(He, *bl.sca(He, G, 0.1, 2, it), W_rf, 0.1).mean() for it in (1, 5, 30)]
    assert rates[0] < rates[1] < rates[2]
    F, W = bl.sca(He, G, 0.1, 2, 30)
    power = np.linalg.norm((F_rf @ F).reshape(20, z.n_tx, 2, 2), axis=(1, 3)) ** 2
    np.testing.assert_allclose(power, 2.0, rtol=1e-12)  # (7d): N_s per user
    assert sum_rate(He, *bl.rzf(He, G, 0.1, 2), W_rf, 0.1).mean() < rates[2]


@pytest.mark.parametrize("power", ["per-column", "per-chain"])
def test_the_initial_network_is_rls_then_sca(power):
    """CEDUN at its initial parameters is RLS (beta = 1) on the same pilots; HBDUN with the
    exact inverse is SCA with as many iterations as layers."""
    z = SMALL
    net = JcehbNet(z, 8, 3, power)
    H = jcehb_channels(5, z, seed=6)
    noise = pilot_noise(5, z, 8, 7)
    with torch.no_grad():
        He = net.equivalent(torch.from_numpy(H))
        Y = net.observe(He, torch.from_numpy(noise), 0.1)
        H_hat = net.estimate(Y).numpy()
        F, W = net.digital(torch.from_numpy(H_hat), 0.1, exact=True)
    F_rf, W_rf = analog(net.phi_f.detach().numpy(), net.phi_w.detach().numpy())
    X = dft_pilots(8, 8, power)
    np.testing.assert_allclose(H_hat, bl.rls(X, observe(equivalent(H, F_rf, W_rf), X, W_rf, noise, 0.1)), atol=1e-12)
    Fs, Ws = bl.sca(H_hat, F_rf.conj().T @ F_rf, 0.1, 2, 3)
    np.testing.assert_allclose(F.numpy(), Fs, atol=1e-12)
    np.testing.assert_allclose(W.numpy(), Ws, atol=1e-12)


def test_sizes_refuse_what_the_paper_forbids():
    for kwargs, needle in ((dict(n_users=5, n_streams=4), "K N_s"), (dict(n_users=1, n_streams=5), r"N_r\^RF >= N_s"),
                           (dict(n_rf_tx=80), "exceed N_t"), (dict(n_users=0), "n_users")):
        with pytest.raises(ConfigError, match=needle):
            JcehbSizes(**kwargs)


def test_op_counts_are_the_specs():
    """Spec 6.4's table: 16,384 / 101,632 real MACs per CEDUN / HBDUN layer at the paper's size,
    2,176 / 5,536 at the embedded one."""
    paper, emb = JcehbSizes(), JcehbSizes(n_tx=32, n_rf_tx=8, n_rx=8, n_rf_rx=2, n_users=2, n_streams=2)
    assert cedun_layer_ops(paper)["real_macs"] == 16_384 and hbdun_layer_ops(paper)["real_macs"] == 101_632
    assert cedun_layer_ops(emb)["real_macs"] == 2_176 and hbdun_layer_ops(emb)["real_macs"] == 5_536
    # the exact inverse: N^3 for the Gauss-Jordan instead of K N^2 for the K approximations
    assert hbdun_layer_ops(paper, True)["real_macs"] - hbdun_layer_ops(paper)["real_macs"] == 4 * (16 ** 3 - 4 * 256)


def test_the_kernel_and_the_network_floor_lambda_alike():
    from hbf_edge.families.jcehb.model import LAMBDA_FLOOR
    from hbf_edge.kernels.jcehb._float import LAMBDA_FLOOR as KERNEL_FLOOR

    assert LAMBDA_FLOOR == KERNEL_FLOOR > 0


def test_signalling_bits_at_the_paper_size_fig_9():
    """Eq. (47)-(51) at the paper's sizes against the spec's hand figures (section 3.8, in units
    of q): Q_f = 1408 q, Q_eq = 256 q; at n = 2 single / offline / online = 22,528 / 26,624 /
    6,912 q, at n = 16 180,224 / 55,296 / 55,296 q -- the text's orderings."""
    from hbf_edge.families.jcehb.overhead import signalling_bits

    z = JcehbSizes(n_tx=64, n_rf_tx=16, n_rx=32, n_rf_rx=4, n_users=4, n_streams=4)
    b = signalling_bits(z, 16, q_bits=1)
    assert b["per_estimate"] == {"full_csi": 1408, "equivalent_csi": 256}
    assert (b["single"][1], b["offline"][1], b["online"][1]) == (22528, 26624, 6912)
    assert (b["single"][15], b["offline"][15], b["online"][15]) == (180224, 55296, 55296)
    assert b["offline"][1] > b["single"][1] and b["single"][15] > 3 * b["offline"][15]
    assert signalling_bits(z, 16)["single"][15] == 8 * 180224  # q = 8 by default


def test_the_network_cut_to_fewer_users_fig_14a():
    """with_users(k): CEDUN is per user, so the cut network's estimates of users 0..k-1 are the
    full network's; HBDUN then designs for k users (K N_s columns shrink to k N_s); k = K is
    the network itself; k outside 1..K is refused."""
    z = JcehbSizes(n_tx=16, n_rf_tx=8, n_rx=8, n_rf_rx=2, n_users=3, n_streams=2)
    net = JcehbNet(z, 8, 2, "per-chain", "exact")
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        H = torch.from_numpy(jcehb_channels(5, z, seed=4))
        Y = net.observe(net.equivalent(H), torch.from_numpy(pilot_noise(5, z, 8, 5)), 0.1)
        sub = net.with_users(2)
        np.testing.assert_allclose(sub.estimate(Y[:, :2]).numpy(), net.estimate(Y)[:, :2].numpy(), atol=1e-12)
        np.testing.assert_array_equal(sub.analog()[1].numpy(), net.analog()[1][:2].numpy())
        F, W = sub.digital(sub.estimate(Y[:, :2]), 0.1)
        assert F.shape == (5, 8, 4) and W.shape == (5, 2, 2, 2) and sub.sizes.n_users == 2
        same = net.with_users(3)
        for a, b in zip(same.digital(same.estimate(Y), 0.1), net.digital(net.estimate(Y), 0.1)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert net.sizes.n_users == 3 and net.hb_b.shape[1] == 3  # the original is untouched
    for k in (0, 4, True):
        with pytest.raises(ConfigError, match="users"):
            net.with_users(k)
