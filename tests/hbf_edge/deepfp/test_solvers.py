"""WSR and the model-driven solvers of the DeepFP paper (WMMSE, FP, FastFP, WMMSE-SC, EZF)."""

import numpy as np
import pytest

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.deepfp.solvers import ezf, fastfp_step, fp_step, multiplier_solve, solve, wmmse_step
from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
from hbf_edge.families.deepfp.wsr import cell_power, check_problem, fp_quantities, random_init, weighted_sum_rate

MULTI = NetworkConfig(n_users=3, n_tx=12, n_rx=2, n_streams=2)
SINGLE = NetworkConfig(n_cells=1, n_users=3, n_tx=16, n_rx=3, n_streams=2)


@pytest.fixture(scope="module")
def multi():
    H = generate_channels(MULTI, 4, seed=7)
    _, w, P = check_problem(H)
    w = np.random.default_rng(0).uniform(0.5, 2.0, w.shape)  # unequal priorities
    P = np.linspace(0.5, 2.0, 7)
    return H, w, P, random_init((4, 7, 3, 12, 2), P, seed=1)


def test_weighted_sum_rate_equals_a_direct_loop(multi):
    H, w, _, V = multi
    got = weighted_sum_rate(H, V, w, noise=0.7, per_user=True)
    for b in range(2):
        for l in range(7):
            for k in range(3):
                Hs = H[b, l, k, l]
                interf = sum(H[b, l, k, i] @ V[b, i, j] @ (H[b, l, k, i] @ V[b, i, j]).conj().T
                             for i in range(7) for j in range(3) if (i, j) != (l, k))
                F = interf + 0.7 * np.eye(2)  # eq. (3)
                S = Hs @ V[b, l, k]
                rate = np.log2(np.linalg.det(np.eye(2) + S.conj().T @ np.linalg.inv(F) @ S).real)  # eq. (2)
                assert got[b, l, k] == pytest.approx(w[l, k] * rate, rel=1e-10)


def test_fp_reproduces_wmmse_iterates(multi):
    """Remark 5: FP with the quadratic transform is WMMSE, iterate for iterate."""
    H, w, P, V = multi
    a, b = V, V
    for _ in range(5):
        a, b = wmmse_step(H, a, w, P), fp_step(H, b, w, P)
        assert np.max(np.abs(a - b)) < 1e-9 * np.max(np.abs(a))


@pytest.mark.parametrize("method,lam", [("wmmse", "max"), ("fp", "max"), ("fastfp", "max"), ("fastfp", "fro")])
def test_wsr_never_decreases_and_budgets_hold(multi, method, lam):
    H, w, P, V = multi
    r = solve(H, method, 25, V0=V, w=w, power=P, lam=lam, trajectory=True)
    steps = np.diff(r["wsr_trajectory"], axis=0)
    assert steps.min() >= -1e-9 * r["wsr_trajectory"].max()  # MM / BCD: monotone
    assert r["wsr"].mean() > r["wsr_trajectory"][0].mean() * 1.5
    assert np.all(cell_power(r["V"]) <= P * (1 + 1e-9))


def test_multiplier_meets_the_budget_exactly_when_active(multi):
    H, w, P, V = multi
    Vn = wmmse_step(H, V, w, P)
    # every cell of this fixture is power-limited: the multiplier is positive and the budget
    # is met with equality
    assert np.allclose(cell_power(Vn), P, rtol=1e-8)
    # with a budget that is never reached the multiplier is zero: V = L^{-1} Lambda (with
    # N_t = 12 < the 42 receive dimensions of 7 cells, L is invertible)
    _, _, Lam, Lmat = fp_quantities(H, V, w)
    free = fp_step(H, V, w, np.full(7, 1e9))
    assert np.allclose(free, np.linalg.solve(Lmat[:, :, None], Lam), rtol=1e-8, atol=0)
    # against a dense solve at the found multiplier: (eta I + L)^{-1} rhs
    Lmat = np.eye(12) * 2.0 + 0j
    rhs = np.ones((1, 1, 1, 12, 1)) + 0j
    out = multiplier_solve(Lmat[None, None], rhs, np.array([0.5]))
    eta = np.sqrt(12 / 0.5) - 2.0  # ||rhs||^2 / (2 + eta)^2 = 0.5
    assert np.allclose(out, rhs / (2.0 + eta))


def test_fastfp_with_a_small_lambda_overshoots_and_is_power_scaled(multi):
    H, w, P, V = multi
    out = fastfp_step(H, V, w, P, lam=np.full((4, 7), 1e-6))
    assert np.allclose(cell_power(out), P)  # (37): scaled back onto the budget
    with pytest.raises(ConfigError):
        fastfp_step(H, V, w, P, lam=np.zeros((4, 7)))


def test_ezf_nulls_intra_cell_interference():
    cfg = NetworkConfig(n_users=3, n_tx=16, n_rx=2, n_streams=2)  # d = N_r: full nulling
    H = generate_channels(cfg, 3, seed=4)
    V = ezf(H, 2, np.ones(7))
    for l in range(7):
        for k in range(3):
            for j in range(3):
                if j != k:
                    leak = H[:, l, k, l] @ V[:, l, j]
                    assert np.abs(leak).max() < 1e-9 * np.abs(H[:, l, k, l]).max() * np.abs(V[:, l, j]).max()
    assert np.allclose(cell_power(V), 1.0)


def test_single_cell_wmmse_sc_and_the_solver_family():
    H = generate_channels(SINGLE, 6, seed=9)
    res = {m: solve(H, m, 60, d=2, seed=3)["wsr"].mean() for m in ("wmmse", "wmmse_sc", "fastfp", "ezf")}
    assert res["wmmse"] > res["ezf"] and res["wmmse_sc"] > 0.9 * res["wmmse"]
    with pytest.raises(ConfigError, match="single cell"):
        solve(generate_channels(MULTI, 2, seed=1), "wmmse_sc", 2, d=1)


def test_bad_inputs():
    H = generate_channels(SINGLE, 2, seed=1)
    with pytest.raises(ShapeError):
        weighted_sum_rate(H[..., 0], np.zeros((2, 1, 3, 16, 2)))
    with pytest.raises(ShapeError):
        weighted_sum_rate(H, np.zeros((2, 1, 3, 15, 2)))
    bad = H.copy()
    bad[0, 0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        solve(bad, "fastfp", 1, d=2)
    with pytest.raises(ConfigError):
        solve(H, "newton", 1, d=2)
    with pytest.raises(ConfigError):
        solve(H, "fastfp", 1, d=2, power=0.0)
    with pytest.raises(ConfigError):
        solve(H, "fastfp", 1)  # neither V0 nor d
