"""MSER gradient descent (issue 20): closed-form gradients against autograd, the alignment
initialisation's constraints, and Algorithm 1 lowering the SER."""

import numpy as np
import pytest
import torch

from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.gd import GdSteps, dft_alignment, gd, gradients, random_design
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std, sample_symbol_vectors

SMALL = MserSizes(n_tx=16, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
SMALL16 = MserSizes(**{**SMALL.__dict__, "constellation": "16qam"})


def _kde_torch(H, F, V, U, W, S, varrho):
    """Eq. (15) [R] written independently in torch complex arithmetic (per-channel sum)."""
    A = F @ V
    Y = W.conj().transpose(-1, -2) @ U @ H @ A[:, None] @ S
    K, Dk = W.shape[1], W.shape[3]
    b = S.reshape(K, Dk, -1)[None]

    def q(x):
        return 0.5 * torch.erfc(x / np.sqrt(2.0))

    return (q(b.real * Y.real / varrho) + q(b.imag * Y.imag / varrho)).mean(-1).sum()


def _kde16_torch(H, F, V, U, W, S, varrho):
    """Eq. (47)-(48) [R] in torch: each stream read after the rotation by its desired gain's phase,
    ``1.5 Q((Re u - |c| (Re b - 1)) / varrho)`` plus the same with Im, per stream, averaged over S."""
    E = W.conj().transpose(-1, -2) @ U @ H @ (F @ V)[:, None]
    K, Dk = W.shape[1], W.shape[3]
    c = torch.stack([E[:, k, i, k * Dk + i] for k in range(K) for i in range(Dk)], -1).reshape(-1, K, Dk, 1)
    u = E @ S * torch.exp(-1j * torch.angle(c))
    b = S.reshape(K, Dk, -1)[None]

    def q(x):
        return 0.5 * torch.erfc(x / np.sqrt(2.0))

    return 1.5 * (q((u.real - c.abs() * (b.real - 1)) / varrho) + q((u.imag - c.abs() * (b.imag - 1)) / varrho)
                  ).mean(-1).sum()


@pytest.mark.parametrize("sizes,objective", [(SMALL, _kde_torch), (SMALL16, _kde16_torch)], ids=["qpsk", "16qam"])
def test_closed_form_gradients_equal_autograd(sizes, objective):
    H = mser_channels(3, sizes, seed=5)
    rng = np.random.default_rng(6)
    d = random_design(H, sizes, rng)
    S = sample_symbol_vectors(4, 32, rng, sizes.constellation)
    varrho = 0.3
    t = {k: torch.tensor(v, requires_grad=True) for k, v in zip("FVUW", d)}
    theta_f = torch.tensor(np.angle(d.F), requires_grad=True)
    theta_u = torch.tensor(np.angle(d.U), requires_grad=True)
    Ht, St = torch.tensor(H), torch.tensor(S)
    objective(Ht, t["F"], t["V"], t["U"], t["W"], St, varrho).backward()
    objective(Ht, torch.exp(1j * theta_f), torch.tensor(d.V), torch.exp(1j * theta_u), torch.tensor(d.W), St,
              varrho).backward()
    g = gradients(H, d, S, varrho, sizes.constellation)
    # torch's .grad of a real loss on a complex leaf is dL/dRe + j dL/dIm = 2 dL/dz*: the convention of (16)-(21)
    for name in "FVUW":
        np.testing.assert_allclose(g[name], t[name].grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g["theta_F"], theta_f.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g["theta_U"], theta_u.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_alignment_design_meets_the_constraints():
    H = mser_channels(4, SMALL, seed=7)
    d = dft_alignment(H, SMALL, power=2.0)
    assert d.F.shape == (4, 16, 4) and d.V.shape == (4, 4, 4) and d.U.shape == (4, 2, 2, 4) and d.W.shape == (4, 2, 2, 2)
    np.testing.assert_allclose(np.abs(d.F), 1.0)
    np.testing.assert_allclose(np.abs(d.U), 1.0)
    np.testing.assert_allclose(np.linalg.norm(d.F @ d.V, axis=(1, 2)) ** 2, 2.0)  # eq. (26)
    np.testing.assert_allclose(np.linalg.norm(np.conj(np.swapaxes(d.U, -1, -2)) @ d.W, axis=-2), 1.0)
    # zero forcing on the effective channel: no inter-stream interference at the outputs
    E = np.conj(np.swapaxes(d.W, -1, -2)) @ d.U @ H @ (d.F @ d.V)[:, None]
    off = E.reshape(4, 4, 4) * (1 - np.eye(4))
    assert np.max(np.abs(off)) < 1e-10


def test_gradient_descent_lowers_the_ser_and_is_reproducible():
    H = mser_channels(6, SMALL, seed=8)
    sigma = float(noise_std(10.0))
    start = dft_alignment(H, SMALL)
    steps = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2)
    d1 = gd(H, SMALL, sigma, iterations=40, steps=steps, n_samples=64, seed=1)
    d2 = gd(H, SMALL, sigma, iterations=40, steps=steps, n_samples=64, seed=1)
    np.testing.assert_array_equal(d1.F, d2.F)
    before = ser_semi_analytic(H, *start, sigma).mean()
    after = ser_semi_analytic(H, *d1, sigma).mean()
    assert after < before, (before, after)
    np.testing.assert_allclose(np.abs(d1.F), 1.0)
    np.testing.assert_allclose(np.linalg.norm(d1.F @ d1.V, axis=(1, 2)) ** 2, 1.0)
    with pytest.raises(ConfigError, match="numba or numpy"):
        gd(H, SMALL16, sigma, iterations=1, backend="cuda")


def test_16qam_gradient_descent_lowers_the_ser():
    """Sec. V-F: the same iteration on the 16-QAM objective (numpy loop) lowers the exact 16-QAM
    SER from the alignment, at the power P_T / 10 of unnormalised levels (spec 5.17)."""
    H = mser_channels(6, SMALL16, seed=8)
    sigma = float(noise_std(20.0))
    d = gd(H, SMALL16, sigma, iterations=30, steps=GdSteps(mu_p=1e-4, mu_w=1e-3, mu_theta_u=1e-2, mu_theta_f=1e-1),
           n_samples=64, seed=1)
    before = ser_semi_analytic(H, *dft_alignment(H, SMALL16), sigma, "16qam").mean()
    after = ser_semi_analytic(H, *d, sigma, "16qam").mean()
    assert after < 0.9 * before, (before, after)
    np.testing.assert_allclose(np.linalg.norm(d.F @ d.V, axis=(1, 2)) ** 2, 0.1)


@pytest.mark.parametrize("snr_ref_db,sizes", [(15.0, SMALL), (None, SMALL), (15.0, SMALL16)],
                         ids=["scaled", "absolute", "16qam"])
def test_the_compiled_gradient_descent_equals_the_numpy_loop(snr_ref_db, sizes):
    """gd(backend="numba") runs Algorithm 1 as plain layers of kernels.mser: the same iterates
    as this module's numpy loop, with noise-scaled (20 dB, away from the reference) and with
    absolute steps, from the alignment and from a random start; QPSK and 16-QAM."""
    H = mser_channels(5, sizes, seed=12)
    sigma = float(noise_std(20.0))
    # 16-QAM's levels +-3 make its gradients larger: the same steps would diverge, and rounding with them
    small = 0.1 if sizes is SMALL16 else 1.0
    steps = GdSteps(mu_p=1e-3 * small, mu_w=1e-2 * small, mu_theta_u=2e-2, mu_theta_f=5e-2, kappa=1.3,
                    snr_ref_db=snr_ref_db)
    for start in (None, random_design(H, sizes, np.random.default_rng(3))):
        a = gd(H, sizes, sigma, iterations=7, steps=steps, n_samples=16, seed=2, start=start, backend="numba")
        b = gd(H, sizes, sigma, iterations=7, steps=steps, n_samples=16, seed=2, start=start, backend="numpy")
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-11)


@pytest.mark.parametrize("shape,sizes", [("scalar", SMALL), ("matrix", SMALL), ("scalar", SMALL16)],
                         ids=["scalar", "matrix", "16qam"])
def test_network_at_initialisation_is_gradient_descent(shape, sizes):
    """Spec 2.3: alpha = mu, O = 0, rho = varrho make the unfolded network L GD iterations with
    the same symbol sets (the torch closed forms against the numpy ones)."""
    from hbf_edge.families.mser.model import MserNet

    H = mser_channels(3, sizes, seed=9)
    steps = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2)
    net = MserNet(sizes, 3, steps, n_samples=16, seed=4, step_shape=shape, offsets=shape == "matrix")
    assert np.all(np.isin(net.symbol_set(0).numpy().real, [-3, -1, 1, 3] if sizes is SMALL16 else [-1, 1]))
    sigma = float(noise_std(10.0))
    start = dft_alignment(H, sizes)
    with torch.no_grad():
        out = net(torch.from_numpy(H), [torch.from_numpy(x) for x in start], torch.full((3,), sigma, dtype=torch.float64))
    ref = gd(H, sizes, sigma, iterations=3, steps=steps, start=start,
             symbols=np.stack([net.symbol_set(i).numpy() for i in range(3)]), backend="numpy")
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-12)


def test_ser_loss_is_the_semi_analytic_ser_bound():
    from hbf_edge.families.mser.model import loss_vectors, ser_loss
    from hbf_edge.families.mser.system import all_symbol_vectors

    H = mser_channels(3, SMALL, seed=10)
    d = dft_alignment(H, SMALL)
    sigma = float(noise_std(5.0))
    loss = ser_loss(*(torch.from_numpy(x) for x in (H, *d)), torch.full((3,), sigma, dtype=torch.float64),
                    torch.from_numpy(all_symbol_vectors(4))).numpy()
    exact = ser_semi_analytic(H, *d, sigma)
    # loss - exact = mean p_R p_I: between 0 and the exact SER, and negligible at a low SER
    assert np.all(loss >= exact - 1e-12) and np.all(loss <= 2 * exact + 1e-12)
    low = exact < 0.02
    assert low.any() and np.all(loss[low] <= exact[low] * 1.01 + 1e-12)
    assert loss_vectors(SMALL).shape == (4, 256)  # 4^4 vectors: all of them


def test_16qam_ser_loss_is_the_semi_analytic_ser_bound():
    """The 16-QAM training loss counts both boundaries of each decision region (45) after the
    stream's rotation, as the metric does: on the same vectors it is the metric without the
    product term."""
    from hbf_edge.families.mser.model import loss_vectors, ser_loss
    from hbf_edge.families.mser.ser import EVAL_SEED, EVAL_VECTORS

    H = mser_channels(3, SMALL16, seed=10)
    d = dft_alignment(H, SMALL16)
    sigma = float(noise_std(12.0))  # channel SERs from ~0.7 to ~1e-5
    S = sample_symbol_vectors(4, EVAL_VECTORS, np.random.default_rng(EVAL_SEED), "16qam")  # the metric's sample
    loss = ser_loss(*(torch.from_numpy(x) for x in (H, *d)), torch.full((3,), sigma, dtype=torch.float64),
                    torch.from_numpy(S), "16qam").numpy()
    exact = ser_semi_analytic(H, *d, sigma, "16qam")
    assert np.all(loss >= exact - 1e-12) and np.all(loss <= 2 * exact + 1e-12) 
    low = exact < 0.05
    assert low.any() and np.all(loss[low] <= exact[low] * 1.1)  # p_R p_I is second order
    assert loss_vectors(SMALL16).shape == (4, 256)  # 16^4 vectors: a seeded sample
    assert loss_vectors(MserSizes(**{**SMALL16.__dict__, "n_users": 1, "n_rf_tx": 2})).shape == (2, 256)  # all 16^2


def test_training_lowers_the_validation_ser_and_is_reproducible():
    from hbf_edge.families.mser.train import MserTrainConfig, train_mser

    H = mser_channels(48, SMALL, seed=11)
    cfg = MserTrainConfig(n_layers=2, epochs=3, batch_size=10, n_samples=16, snr_db_min=5.0, snr_db_max=15.0,
                          steps=GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2))
    m1, h1 = train_mser(H[:40], H[40:], SMALL, cfg, progress=False)
    m2, h2 = train_mser(H[:40], H[40:], SMALL, cfg, progress=False)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    from hbf_edge.families.mser.model import MserNet, loss_vectors, ser_loss
    from hbf_edge.families.mser.train import starts

    def val(model):
        sigma = torch.from_numpy(noise_std(np.random.default_rng(cfg.seed + 2).uniform(5.0, 15.0, 8)))
        with torch.no_grad():
            Hv = torch.from_numpy(H[40:])
            return float(ser_loss(Hv, *model(Hv, starts(H[40:], SMALL), sigma), sigma, loss_vectors(SMALL)).mean())

    kept = val(m1)  # the best epoch's parameters, better than the GD-equal initial network
    assert len(h1) == 4 and h1[0]["epoch"] == 0 and kept == pytest.approx(min(r["val_loss"] for r in h1), rel=1e-12)
    assert kept < val(MserNet(SMALL, 2, cfg.steps, cfg.n_samples, seed=cfg.seed))


def test_best_of_starts_keeps_the_lowest_ser_per_channel():
    from hbf_edge.families.mser.gd import gd_best_of

    H = mser_channels(8, SMALL, seed=12)
    sigma = float(noise_std(10.0))
    steps = GdSteps(mu_p=1e-3, mu_w=1e-2, mu_theta_u=1e-2, mu_theta_f=1e-2)
    rng = np.random.default_rng(0)
    runs = [gd(H, SMALL, sigma, 10, steps, 32, seed=0)]
    runs += [gd(H, SMALL, sigma, 10, steps, 32, seed=i, start=random_design(H, SMALL, rng)) for i in (1, 2)]
    each = np.stack([ser_semi_analytic(H, *d, sigma) for d in runs])
    best = ser_semi_analytic(H, *gd_best_of(H, SMALL, sigma, starts=3, iterations=10, steps=steps, n_samples=32), sigma)
    np.testing.assert_allclose(best, each.min(axis=0), rtol=1e-12, atol=1e-300)


def test_keep_best_returns_each_channels_best_checkpoint_of_the_one_trajectory():
    """``gd(..., keep_best=E)`` against separate plain runs of 0, E, 2E, ... and T iterations on
    the same symbol samples, the lowest exact SER per channel picked here: the same designs, so
    the pieces continue one trajectory and the result is never worse than the start or the last
    iterate.  Large steps make the trajectory go up and down, so the checkpoints matter."""
    H = mser_channels(12, SMALL, seed=14)
    sigma = float(noise_std(20.0))
    steps = GdSteps(mu_p=3e-2, mu_w=0.3, mu_theta_u=3.0, mu_theta_f=30.0)
    rng = np.random.default_rng(5)
    S = np.stack([sample_symbol_vectors(SMALL.n_total_streams, 16, rng) for _ in range(11)])
    runs = [gd(H, SMALL, sigma, t, steps, symbols=S[:t]) for t in (0, 4, 8, 11)]
    each = np.stack([ser_semi_analytic(H, *d, sigma) for d in runs])
    kept = gd(H, SMALL, sigma, 11, steps, symbols=S, keep_best=4)
    pick = each.argmin(axis=0)
    for name, got in zip(kept._fields, kept):
        want = np.stack([getattr(runs[j], name)[b] for b, j in enumerate(pick)])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    ser = ser_semi_analytic(H, *kept, sigma)
    assert np.all(ser <= each[0]) and np.all(ser <= each[-1])
    assert len(set(pick)) > 1  # the plain last iterate is not the best everywhere: the test can fail
    with pytest.raises(ConfigError, match="keep_best"):
        gd(H, SMALL, sigma, 4, steps, keep_best=-1)


def test_step_tuning_only_accepts_moves_that_lower_the_validation_ser():
    from hbf_edge.families.mser.gd import tune_steps

    H = mser_channels(10, SMALL, seed=13)
    sigma = float(noise_std(15.0))
    steps, moves = tune_steps(H, SMALL, sigma, iterations=4, n_samples=32, sweeps=1)
    sers = [m["ser"] for m in moves]
    assert len(sers) > 1 and all(b < a for a, b in zip(sers, sers[1:]))  # the default steps are not the best
    final = ser_semi_analytic(H, *gd(H, SMALL, sigma, 4, steps, 32, seed=0), sigma).mean()
    assert final == pytest.approx(sers[-1], rel=1e-12)
