"""Benchmark covariance (eq. 4) and beampattern metrics of hbf_edge.families.upganet.sensing."""

import numpy as np
import pytest

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.upganet.sensing import (
    SensingScenario,
    beampattern,
    beampattern_mse,
    benchmark_covariance,
    desired_beampattern,
    steering,
)

SMALL = SensingScenario(targets_deg=(-40.0, 30.0), delta_deg=6.0, grid_points=181)


def _pattern(psi, grid):
    A = steering(grid, psi.shape[0])
    return np.real(np.einsum("tn,nm,tm->t", A.conj(), psi, A))


def test_desired_beampattern_marks_the_main_lobes():
    bd = desired_beampattern(SensingScenario())
    grid = SensingScenario().grid_deg
    assert set(np.unique(bd)) == {0.0, 1.0}
    for t in (-60.0, 0.0, 60.0):
        assert bd[np.argmin(np.abs(grid - t))] == 1.0
        assert bd[np.argmin(np.abs(grid - t - 5.0))] == 1.0
        assert bd[np.argmin(np.abs(grid - t - 5.5))] == 0.0
    assert bd.sum() == 3 * 21  # 0.5 degree grid: 21 points per +-5 degree lobe


def test_psi_meets_the_constraints_of_S():
    power = 4.0
    b = benchmark_covariance(SMALL, 16, power=power)
    assert np.allclose(b.psi, b.psi.conj().T)
    assert np.allclose(np.diag(b.psi).real, power / 16, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(b.psi).min() > -1e-12
    # the pattern follows the desired one: high on the lobes, low elsewhere
    g = _pattern(b.psi, SMALL.grid_deg)
    bd = desired_beampattern(SMALL)
    assert g[bd == 1].mean() > 8 * g[bd == 0].mean()
    assert b.alpha > 0


def test_psi_is_linear_in_power_and_independent_of_the_start():
    a = benchmark_covariance(SMALL, 16, power=1.0, seed=0)
    b = benchmark_covariance(SMALL, 16, power=3.0, seed=0)
    c = benchmark_covariance(SMALL, 16, power=1.0, seed=5)
    assert np.allclose(b.psi, 3.0 * a.psi)
    assert b.residual == pytest.approx(9.0 * a.residual)
    # convex problem: another start reaches the same residual and pattern
    assert c.residual == pytest.approx(a.residual, rel=2e-3)
    ga, gc = _pattern(a.psi, SMALL.grid_deg), _pattern(c.psi, SMALL.grid_deg)
    assert np.max(np.abs(ga - gc)) < 0.02 * ga.max()


def test_known_answer_omnidirectional():
    # B_d = 1 everywhere: Psi = (P/N) I reaches residual 0; the solver must get there too
    n, power = 12, 2.0
    b = benchmark_covariance(SMALL, n, power=power, bd=np.ones(SMALL.grid_points))
    assert b.residual < 1e-12
    assert np.allclose(_pattern(b.psi, SMALL.grid_deg), power, atol=1e-6)
    assert b.alpha == pytest.approx(power)


def test_known_answer_single_steered_beam():
    # B_d = |a(theta0)^H a(theta)|^2 is the pattern of Psi = (P/N) a0 a0^H, which is in S
    n = 16
    a0 = steering([20.0], n)[0]
    bd = np.abs(steering(SMALL.grid_deg, n).conj() @ a0) ** 2
    b = benchmark_covariance(SMALL, n, bd=bd)
    assert b.residual < 1e-4 * np.sum(bd**2) / n**2
    assert b.alpha == pytest.approx(1.0 / n, rel=1e-3)
    assert np.allclose(b.psi, np.outer(a0, a0.conj()) / n, atol=5e-3)


def test_beampattern_and_mse_against_the_definition():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 8, 3)) + 1j * rng.standard_normal((2, 8, 3))
    grid = np.array([-30.0, 0.0, 45.0])
    bp = beampattern(X, grid)
    for b in range(2):
        for t, th in enumerate(grid):
            a = np.exp(1j * np.pi * np.sin(np.deg2rad(th)) * np.arange(8))
            assert bp[b, t] == pytest.approx(np.real(a.conj() @ X[b] @ X[b].conj().T @ a))
    psi = np.eye(8) / 8
    mse = beampattern_mse(X, psi, grid)
    assert np.allclose(mse, np.mean((bp - 1.0) ** 2, axis=1))
    assert np.allclose(beampattern_mse(X, np.stack([psi, psi]), grid), mse)


def test_bad_scenarios_and_inputs_are_refused():
    with pytest.raises(ConfigError):
        SensingScenario(targets_deg=(100.0,))
    with pytest.raises(ConfigError):
        SensingScenario(targets_deg=())
    with pytest.raises(ConfigError):
        SensingScenario(delta_deg=0.0)
    with pytest.raises(ConfigError):
        SensingScenario(omega=float("nan"))
    with pytest.raises(ConfigError):
        benchmark_covariance(SMALL, 8, power=0.0)
    with pytest.raises(ShapeError):
        benchmark_covariance(SMALL, 8, bd=np.zeros(SMALL.grid_points))
    with pytest.raises(ShapeError):
        beampattern(np.ones((8, 3)), [0.0])
    assert SensingScenario.from_dict(SMALL.to_dict()) == SMALL


def test_read_psi_checks_eq_4s_constraints(tmp_path):
    import scipy.io

    from hbf_edge.errors import ConfigError, DatasetError, ShapeError
    from hbf_edge.families.upganet.sensing import read_psi

    rng = np.random.default_rng(0)
    V = rng.standard_normal((8, 8)) + 1j * rng.standard_normal((8, 8))
    V *= np.sqrt(3.0 / 8) / np.linalg.norm(V, axis=1, keepdims=True)  # rows of norm sqrt(P/N), P = 3
    psi = V @ V.conj().T
    scipy.io.savemat(tmp_path / "psi.mat", {"Psi": psi, "other": np.eye(2)})
    psi1, power = read_psi(tmp_path / "psi.mat", 8)
    assert power == pytest.approx(3.0) and np.allclose(np.diag(psi1), 1 / 8) and np.allclose(psi1, psi / 3)
    cases = {"shape": (np.eye(4), ShapeError), "diag": (np.diag(np.arange(1.0, 9.0)), ConfigError),
             "psd": (np.eye(8) - 0.5 * np.ones((8, 8)), ConfigError), "nan": (np.full((8, 8), np.nan), ConfigError)}
    for name, (arr, err) in cases.items():
        np.save(tmp_path / f"{name}.npy", arr)
        with pytest.raises(err):
            read_psi(tmp_path / f"{name}.npy", 8)
    with pytest.raises(DatasetError, match="covariance file"):
        read_psi(tmp_path / "missing.npy", 8)
