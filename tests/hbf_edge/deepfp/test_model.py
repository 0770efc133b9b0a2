"""DeepFP network (torch, real arithmetic) against the numpy FastFP solver and the WSR."""

import numpy as np
import pytest
import torch

from hbf_edge import cplx
from hbf_edge.families.deepfp.model import DeepFP, direction, fastfp_update, fp_state, to_c, wsr_t
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.deepfp.solvers import fastfp_lambda, fastfp_step
from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
from hbf_edge.families.deepfp.wsr import cell_power, fp_quantities, random_init, weighted_sum_rate

CFG = NetworkConfig(n_users=3, n_tx=12, n_rx=2, n_streams=2)


@pytest.fixture(scope="module")
def problem():
    H = generate_channels(CFG, 3, seed=5)
    V = random_init((3, 7, 3, 12, 2), np.ones(7), seed=2)
    return H, V


def test_fp_state_and_wsr_equal_numpy(problem):
    H, V = problem
    Y, Gam, Lam, Lmat = fp_state(to_c(H), to_c(V))
    Yn, Gn, Ln, Mn = fp_quantities(H, V, np.ones((7, 3)))
    for got, want in ((Y, Yn), (Gam, Gn), (Lam, Ln), (Lmat, Mn)):
        assert np.max(np.abs(cplx.to_complex(got).numpy() - want)) < 1e-9 * np.max(np.abs(want))
    assert np.allclose(wsr_t(to_c(H), to_c(V)).numpy(), weighted_sum_rate(H, V), rtol=1e-10)


def test_a_layer_with_the_eigenvalue_step_is_fastfp(problem):
    H, V = problem
    _, _, Lam, Lmat = fp_state(to_c(H), to_c(V))
    lam = fastfp_lambda(cplx.to_complex(Lmat).numpy(), "max")  # [B, L]
    step = torch.from_numpy(np.repeat(1.0 / lam[:, :, None], 3, axis=2))
    out = fastfp_update(to_c(V), direction(to_c(V), Lam, Lmat), step)
    want = fastfp_step(H, V, np.ones((7, 3)), np.ones(7))
    assert np.max(np.abs(cplx.to_complex(out).numpy() - want)) < 1e-10


def test_network_is_feasible_differentiable_and_seeded(problem):
    H, V = problem
    net = DeepFP(n_layers=3, n_tx=12, n_streams=2, hidden=16, seed=4)
    Vt = to_c(V)
    out, traj = net(to_c(H), Vt, trajectory=True)
    assert len(traj) == 3 and out.re.shape == (3, 7, 3, 12, 2)
    assert np.all(cell_power(cplx.to_complex(out).detach().numpy()) <= 1 + 1e-9)
    loss = -wsr_t(to_c(H), out).mean()
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    again = DeepFP(n_layers=3, n_tx=12, n_streams=2, hidden=16, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_switched_off_user_keeps_the_exact_step_finite(problem, dtype):
    """A user whose V is exactly 0 (the 16-bit V of the QAT model rounds weak users to 0) has
    G = 0 and a 0/0 exact step; it must stay switched off, in float32 too, with finite gradients."""
    H, V = problem
    V = V.copy()
    V[:, :, 1] = 0.0  # user 1 of every cell off
    net = DeepFP(n_layers=2, n_tx=12, n_streams=2, hidden=8, seed=4, step_base="exact").to(dtype)
    out, _ = net(to_c(H, dtype), to_c(V, dtype))
    assert torch.isfinite(out.re).all() and torch.isfinite(out.im).all()
    assert float(out.re.detach()[:, :, 1].abs().max()) == 0.0
    (-wsr_t(to_c(H, dtype), out).mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_padding_transfer_to_fewer_antennas_and_streams(problem):
    H, V = problem
    net = DeepFP(n_layers=2, n_tx=16, n_streams=3, hidden=8, seed=1)
    out, _ = net(to_c(H), to_c(V))
    assert out.re.shape == (3, 7, 3, 12, 2)
    Hp = np.pad(H, [(0, 0)] * 5 + [(0, 4)])
    Vp = np.pad(V, [(0, 0)] * 3 + [(0, 4), (0, 1)])
    full, _ = net(to_c(Hp), to_c(Vp))
    assert torch.allclose(full.re[..., :12, :2], out.re) and torch.allclose(full.im[..., :12, :2], out.im)
    assert float(full.re[..., 12:, :].detach().abs().max()) == 0.0 and float(full.re[..., 2:].detach().abs().max()) == 0.0
    with pytest.raises(ShapeError):
        DeepFP(n_layers=1, n_tx=8, n_streams=2)(to_c(H), to_c(V))


def test_two_stage_training_improves_the_validation_wsr():
    from hbf_edge.families.deepfp.train import DeepFPTrainConfig, _mean_wsr, train_deepfp

    cfg = NetworkConfig(n_cells=1, n_users=3, n_tx=8, n_rx=2, n_streams=1)
    H = generate_channels(cfg, 60, seed=11)
    tc = DeepFPTrainConfig(n_layers=3, hidden=16, n_streams=1, supervised_epochs=3, unsupervised_epochs=6,
                           batch_size=20, lr=5e-3, fastfp_iterations=30, seed=2)
    untrained = DeepFP(3, 8, 1, 16, seed=2)
    V0_val = random_init((20, 1, 3, 8, 1), np.ones(1), 3)  # the validation starts train_deepfp draws
    before = _mean_wsr(untrained, H[40:], V0_val, 20)
    model, hist = train_deepfp(H[:40], H[40:], tc, progress=False)
    assert [h["stage"] for h in hist] == ["supervised"] * 3 + ["unsupervised"] * 6
    assert hist[2]["loss"] < hist[0]["loss"]  # eq. (53) decreases
    assert hist[-1]["val_wsr"] > 1.04 * before  # measured: 3.03 untrained -> 3.24 after these 9 epochs
    model2, hist2 = train_deepfp(H[:40], H[40:], tc, progress=False)  # seeded: the same run
    assert [h["val_wsr"] for h in hist2] == [h["val_wsr"] for h in hist]


def test_training_keeps_the_best_validation_epoch():
    from hbf_edge.families.deepfp.train import DeepFPTrainConfig, _mean_wsr, kept_epoch, train_deepfp
    from hbf_edge.errors import ConfigError

    cfg = NetworkConfig(n_cells=1, n_users=3, n_tx=8, n_rx=2, n_streams=1)
    H = generate_channels(cfg, 60, seed=11)
    V0_val = random_init((20, 1, 3, 8, 1), np.ones(1), 3)  # the validation starts train_deepfp draws
    common = dict(n_layers=2, hidden=8, n_streams=1, supervised_epochs=0, unsupervised_epochs=8, batch_size=20,
                  lr=5e-2, seed=2, precision="float64")  # a large lr: the validation WSR goes up and down
    best, hist = train_deepfp(H[:40], H[40:], DeepFPTrainConfig(**common), progress=False)
    vals = [h["val_wsr"] for h in hist]
    kept = kept_epoch(hist)
    assert [h["kept"] for h in hist].count(True) == 1 and kept["val_wsr"] == max(vals)
    assert _mean_wsr(best, H[40:], V0_val, 20) == pytest.approx(max(vals), rel=1e-12)
    last, hist_last = train_deepfp(H[:40], H[40:], DeepFPTrainConfig(**common, keep="last"), progress=False)
    assert [h["val_wsr"] for h in hist_last] == vals and kept_epoch(hist_last) is hist_last[-1]
    assert _mean_wsr(last, H[40:], V0_val, 20) == pytest.approx(vals[-1], rel=1e-12)
    assert kept["epoch"] != len(hist)  # otherwise this test would not tell best from last
    assert kept_epoch([{"epoch": 1, "val_wsr": 1.0}]) == {"epoch": 1, "val_wsr": 1.0}  # directories before "kept"
    for bad in (dict(keep="middle"), dict(unsupervised_epochs=0)):
        with pytest.raises(ConfigError):
            DeepFPTrainConfig(**{**common, **bad})


def test_model_directory_round_trip(tmp_path):
    from hbf_edge.families.deepfp.train import deepfp_model_config
    from hbf_edge.errors import ModelDirError
    from hbf_edge.modeldir import load_model, save_model

    net = NetworkConfig(n_cells=1, n_users=3, n_tx=8, n_rx=2, n_streams=1)
    model = DeepFP(2, 8, 1, 16, n_hidden=3, seed=4)
    config = deepfp_model_config(model, net, {"seed": 4}, [])
    save_model(model, config, tmp_path / "m")
    back, cfg = load_model(tmp_path / "m", family="deepfp")
    assert cfg.family_config["n_hidden"] == 3 and cfg.spec.phase_bits is None
    assert NetworkConfig.from_dict(cfg.family_config["network"]) == net
    H = generate_channels(net, 4, seed=1)
    V0 = random_init((4, 1, 3, 8, 1), np.ones(1), 0)
    a, b = model(to_c(H), to_c(V0))[0], back(to_c(H), to_c(V0))[0]
    assert torch.equal(a.re, b.re) and torch.equal(a.im, b.im)
    from hbf_edge.modelfiles import write_model_dir

    with pytest.raises(ModelDirError, match="deepfp section"):  # the family's core stage checks its section
        write_model_dir(tmp_path / "bad", type(config)("deepfp", config.spec, 2, 1), {})


def test_torch_fastfp_equals_the_numpy_solver():
    from hbf_edge.families.deepfp.model import fastfp_t
    from hbf_edge.families.deepfp.solvers import solve

    H = generate_channels(NetworkConfig(n_cells=7, n_users=2, n_tx=8, n_rx=2, n_streams=1), 3, seed=5)
    V0 = random_init((3, 7, 2, 8, 1), np.ones(7), 2)
    ref = solve(H, "fastfp", 6, V0=V0)["V"]
    got = cplx.to_complex(fastfp_t(to_c(H), to_c(V0), 6)).numpy()
    assert np.allclose(got, ref, atol=1e-9 * np.abs(ref).max())


def test_exact_base_step_maximises_the_surrogate_along_the_direction():
    """With exp(out) = 1 (zero output weights), the exact base step is the maximiser of the FP
    surrogate (eq. 29: 2 Re tr(Lambda^H V) - tr(V^H L V) per user) along G: checked against a
    parabola through three evaluations of the surrogate."""
    from hbf_edge.families.deepfp.model import direction, fp_state
    from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
    from hbf_edge.families.deepfp.wsr import random_init

    net = NetworkConfig(n_cells=7, n_users=2, n_tx=6, n_rx=2, n_streams=2)
    H, V0 = generate_channels(net, 2, seed=5), random_init((2, 7, 2, 6, 2), np.ones(7), 1)
    m = DeepFP(1, 6, 2, hidden=4, step_base="exact").double()
    with torch.no_grad():
        for p in m.steps[0].layers[-1].parameters():
            p.zero_()
        Z = to_c(V0)
        _, _, Lam, Lm = fp_state(to_c(H), Z)
        G = direction(Z, Lam, Lm)
        s = m.step(0, Z, G, Lm).numpy()
    Zc, Gc, Lc = (x.re.numpy() + 1j * x.im.numpy() for x in (Z, G, Lam))
    Lmc = Lm.re.numpy() + 1j * Lm.im.numpy()

    def surrogate(t):  # per user, along V = Z + t G
        V = Zc + t[..., None, None] * Gc
        LV = np.einsum("blnm,blkmd->blknd", Lmc, V)
        return 2 * np.real(np.sum(Lc.conj() * V, axis=(-2, -1))) - np.real(np.sum(V.conj() * LV, axis=(-2, -1)))

    f0, f1, f2 = surrogate(0 * s), surrogate(s), surrogate(2 * s)
    assert np.allclose(f0, f2, rtol=1e-9, atol=1e-12) and np.all(f1 > f0)  # symmetric about s: the vertex
    with pytest.raises(ConfigError, match="step_base"):
        DeepFP(1, 6, 2, step_base="newton")
