"""Radar side of joint communications and sensing (numpy only): the desired beampattern, the
benchmark covariance Psi of eq. (4), and beampattern metrics.

Paper: ``upganet_jcas.txt``.  Angles are in degrees at the interface, radians inside.  The
steering vector is the paper's unnormalised ``a(theta) = [1, e^{j pi sin theta}, ...,
e^{j (N-1) pi sin theta}]^T``, so the beampattern of a transmit covariance ``R`` is
``a(theta)^H R a(theta)`` and a covariance with ``diag(R) = P/N`` has ``tr(R) = P``.

How eq. (4) is solved (the paper uses CVX; we avoid a convex solver dependency):
``Psi = V V^H`` with ``V in C^{N x N}`` (Burer-Monteiro).  ``Psi`` is then Hermitian PSD by
construction and ``diag(Psi) = P/N`` is the same as every row of ``V`` having norm
``sqrt(P/N)``, a product of spheres onto which projection is row normalisation.  For a given
``Psi`` the best scale ``alpha`` is closed form (a 1-D least-squares fit), so the solver runs
projected gradient descent with Armijo backtracking on ``V`` alone.  With ``V`` square (rank
not restricted) the factorised problem has no spurious local minima for this SDP-type
constraint set (Boumal, Voroninski & Bandeira, NeurIPS 2016); the tests check the constraints
and two cases whose answer is known (an omnidirectional pattern and a single steered beam).
Psi scales linearly with the power, so it is solved once for ``P = 1`` and scaled.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from hbf_edge._io import check_memory
from hbf_edge.errors import ConfigError, ShapeError

__all__ = [
    "SensingScenario",
    "steering",
    "desired_beampattern",
    "BenchmarkCovariance",
    "benchmark_covariance",
    "beampattern",
    "beampattern_mse",
    "covariance_pattern",
    "read_psi",
]


@dataclasses.dataclass(frozen=True)
class SensingScenario:
    """The radar task (paper Section IV defaults).

    Attributes
    ----------
    targets_deg : tuple of float
        Target directions theta_{a,p} in degrees, within [-90, 90].
    delta_deg : float
        Half main-lobe width delta_theta of the desired beampattern.
    grid_points : int
        T, the uniform angle grid over [-90, 90] degrees (default 0.5 degree steps).
    omega : float
        Weight of the beampattern error in the objective R - omega * tau (eq. 5a).
    """

    targets_deg: tuple[float, ...] = (-60.0, 0.0, 60.0)
    delta_deg: float = 5.0
    grid_points: int = 361
    omega: float = 0.3

    def __post_init__(self) -> None:
        targets = tuple(float(t) for t in self.targets_deg)
        object.__setattr__(self, "targets_deg", targets)
        if not targets:
            raise ConfigError("a sensing scenario needs at least one target angle")
        if not all(math.isfinite(t) and -90.0 <= t <= 90.0 for t in targets):
            raise ConfigError(f"target angles must lie in [-90, 90] degrees, got {targets}")
        if not (math.isfinite(self.delta_deg) and 0.0 < self.delta_deg <= 90.0):
            raise ConfigError(f"delta_deg must be in (0, 90], got {self.delta_deg!r}")
        if isinstance(self.grid_points, bool) or not isinstance(self.grid_points, int) or self.grid_points < 3:
            raise ConfigError(f"grid_points must be an integer >= 3, got {self.grid_points!r}")
        if not (math.isfinite(self.omega) and self.omega >= 0.0):
            raise ConfigError(f"omega must be finite and >= 0, got {self.omega!r}")

    @property
    def grid_deg(self) -> np.ndarray:
        return np.linspace(-90.0, 90.0, self.grid_points)

    def to_dict(self) -> dict[str, Any]:
        return {"targets_deg": list(self.targets_deg), "delta_deg": self.delta_deg,
                "grid_points": self.grid_points, "omega": self.omega}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SensingScenario":
        return cls(tuple(data["targets_deg"]), float(data["delta_deg"]), int(data["grid_points"]),
                   float(data["omega"]))


def steering(angles_deg: np.ndarray, n: int) -> np.ndarray:
    """Unnormalised ULA steering vectors ``a(theta)`` of eq. (4), ``[T, n]`` complex128."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ShapeError(f"n must be a positive integer, got {n!r}")
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    check_memory(16.0 * theta.size * n, f"steering vectors of {theta.size} angles x {n} antennas")
    return np.exp(1j * np.pi * np.sin(theta)[..., None] * np.arange(n))


def desired_beampattern(scenario: SensingScenario) -> np.ndarray:
    """``B_d(theta_t)``: 1 within ``+-delta`` of a target, else 0 (Section IV), ``[T]``."""
    grid = scenario.grid_deg
    hit = np.abs(grid[:, None] - np.asarray(scenario.targets_deg)[None, :]) <= scenario.delta_deg + 1e-9
    return hit.any(axis=1).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class BenchmarkCovariance:
    """Solution of eq. (4) for power ``P``: ``psi [N, N]`` complex128, ``alpha``, the residual
    ``sum_t |alpha B_d - a^H Psi a|^2``, and the solver's iteration count."""

    psi: np.ndarray
    alpha: float
    residual: float
    iterations: int


def _fit_alpha(bd: np.ndarray, g: np.ndarray) -> float:
    """Best ``alpha`` for a fixed pattern ``g``: ``argmin_a ||a B_d - g||^2``."""
    return float(bd @ g / (bd @ bd))


def benchmark_covariance(
    scenario: SensingScenario,
    n: int,
    power: float = 1.0,
    bd: np.ndarray | None = None,
    max_iter: int = 4000,
    tol: float = 1e-6,
    seed: int = 0,
) -> BenchmarkCovariance:
    """Eq. (4): ``min_{alpha, Psi in S} sum_t |alpha B_d(theta_t) - a(theta_t)^H Psi a(theta_t)|^2``.

    ``S``: Hermitian PSD with ``[Psi]_nn = P/N``.  Solved by projected gradient on the factor
    ``V`` of ``Psi = V V^H`` (module notes), from a seeded random start, until the relative
    decrease of the residual over 50 iterations falls below ``tol``.

    Parameters
    ----------
    n : int
        Antennas N.
    power : float
        P_BS; ``Psi`` is linear in it.
    bd : ndarray [T], optional
        A desired beampattern on ``scenario.grid_deg`` (default :func:`desired_beampattern`).
    """
    if not (math.isfinite(power) and power > 0):
        raise ConfigError(f"power must be finite and > 0, got {power!r}")
    grid = scenario.grid_deg
    bd = desired_beampattern(scenario) if bd is None else np.asarray(bd, dtype=np.float64)
    if bd.shape != grid.shape or not np.all(np.isfinite(bd)) or not np.any(bd != 0):
        raise ShapeError(f"bd must be a finite, nonzero pattern of shape {grid.shape}")
    A = steering(grid, n)  # [T, N]; row t is a(theta_t)^T, so a^H Psi a = conj(A) Psi A^T
    row_norm = math.sqrt(1.0 / n)  # unit power; scaled at the end
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))

    def project(V: np.ndarray) -> np.ndarray:
        return V * (row_norm / np.linalg.norm(V, axis=1, keepdims=True))

    def evaluate(V: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        P = A.conj() @ V  # [T, N]: row t is a(theta_t)^H V
        g = np.sum(np.abs(P) ** 2, axis=1)  # a^H V V^H a
        r = _fit_alpha(bd, g) * bd - g
        return float(r @ r), r, P

    V = project(V)
    f, r, P = evaluate(V)
    step, history = 1.0, [f]
    it = 0
    for it in range(1, max_iter + 1):
        # d f / d V^* = -2 sum_t r_t a_t a_t^H V (alpha at its optimum: envelope theorem)
        grad = -2.0 * (A.T * r) @ P
        while True:
            V_new = project(V - step * grad)
            f_new, r_new, P_new = evaluate(V_new)
            moved = np.vdot(V_new - V, V_new - V).real
            if f_new <= f - 1e-4 * moved / step or step < 1e-12:  # Armijo for projected steps
                break
            step *= 0.5
        V, f, r, P = V_new, f_new, r_new, P_new
        step *= 1.5  # try a longer step next time
        history.append(f)
        if it >= 50 and history[-51] - f <= tol * max(history[-51], 1e-300):
            break
    psi = V @ V.conj().T
    psi = 0.5 * (psi + psi.conj().T)  # exactly Hermitian
    g = covariance_pattern(psi, grid)
    alpha = _fit_alpha(bd, g)
    resid = float(np.sum((alpha * bd - g) ** 2))
    return BenchmarkCovariance(psi * power, alpha * power, resid * power**2, it)


def read_psi(path: Any, n: int, tol: float = 1e-6) -> tuple[np.ndarray, float]:
    """A user's benchmark covariance (``.npy``/``.npz``/``.mat``, array ``Psi``), checked and
    scaled to unit power: ``(Psi_1, P_file)`` with ``Psi_1 = Psi / P_file``.

    Eq. (4) constrains ``Psi`` to be Hermitian PSD with ``[Psi]_nn = P / N``; a file may hold it
    at any power (the authors' CVX solution is at their ``P_BS``), so the diagonal must be
    constant and ``P_file = N [Psi]_nn``.  Tolerances are relative to ``P_file / N``
    (``tol``; a solver's output is accurate to its own tolerance, so the matrix is then made
    exactly Hermitian)."""
    from hbf_edge._arrays import read_array

    psi = read_array(path, "Psi", "covariance")
    if psi.shape != (n, n):
        raise ShapeError(f"{path}: Psi must be [N, N] = [{n}, {n}] for this model, got {psi.shape}")
    if not np.all(np.isfinite(psi)):
        raise ConfigError(f"{path}: Psi holds NaN or inf")
    diag = np.real(np.diag(psi))
    level = float(np.mean(diag))
    if not level > 0:
        raise ConfigError(f"{path}: Psi's diagonal must be positive (eq. 4: [Psi]_nn = P / N), mean {level:.3g}")
    if np.max(np.abs(psi - psi.conj().T)) > tol * level * 10 or np.max(np.abs(np.diag(psi) - level)) > tol * level * 10:
        raise ConfigError(f"{path}: Psi must be Hermitian with a constant diagonal (eq. 4: [Psi]_nn = P / N)")
    psi = 0.5 * (psi + psi.conj().T)
    if np.min(np.linalg.eigvalsh(psi)) < -tol * level * n:
        raise ConfigError(f"{path}: Psi must be positive semidefinite (eq. 4), smallest eigenvalue "
                          f"{np.min(np.linalg.eigvalsh(psi)):.3g}")
    power = level * n
    return psi / power, power


def beampattern(X: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Transmit beampattern ``a(theta)^H X X^H a(theta) = ||X^H a(theta)||^2``.

    Parameters
    ----------
    X : ndarray of complex, [B, N, K]
        Overall precoders (``F W`` for a hybrid design).
    angles_deg : ndarray [T]

    Returns
    -------
    ndarray of float64, [B, T]
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ShapeError(f"X must be [B, N, K], got shape {X.shape}")
    A = steering(angles_deg, X.shape[1])  # [T, N]
    return np.sum(np.abs(np.einsum("tn,bnk->btk", A.conj(), X)) ** 2, axis=-1)


def covariance_pattern(psi: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """``a(theta)^H Psi a(theta)`` of covariances ``psi [..., N, N]`` on a grid, ``[..., T]``."""
    psi = np.asarray(psi)
    A = steering(angles_deg, psi.shape[-1])
    return np.real(np.einsum("tn,...nm,tm->...t", A.conj(), psi, A))


def beampattern_mse(X: np.ndarray, psi: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Beampattern MSE of Section IV, ``(1/T) sum_t |a^H X X^H a - a^H Psi a|^2``, ``[B]``.

    The paper prints ``B_a(theta_t)`` for the designed beampattern ``a^H X X^H a``; ``Psi`` is
    the benchmark covariance of eq. (4) at the same power as ``X``, ``[N, N]`` or ``[B, N, N]``.
    """
    design = beampattern(X, angles_deg)
    ref = covariance_pattern(psi, angles_deg)
    return np.mean((design - ref) ** 2, axis=-1)
