"""MSER's MMSE baselines (issue 20): the fully digital MMSE transceiver and its OMP hybrid."""

import numpy as np

from hbf_edge.families.mser.baselines import mmse_digital, omp_mmse
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std

SMALL = MserSizes(n_tx=16, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)


def _sum_mse(H, d, sigma):
    """sum_k ||G_k^H H_k X - E_k||^2 + sigma^2 ||G_k||^2, written out per user."""
    K, Dk = H.shape[1], d.W.shape[-1]
    total = 0.0
    for k in range(K):
        G = np.conj(np.swapaxes(d.U[:, k], -1, -2)) @ d.W[:, k]  # the user's whole combiner, [B, Nr, Dk]
        E = np.zeros((K * Dk, Dk))
        E[k * Dk:(k + 1) * Dk] = np.eye(Dk)
        err = np.conj(np.swapaxes(G, -1, -2)) @ H[:, k] @ d.F @ d.V - E.T
        total = total + np.sum(np.abs(err) ** 2, axis=(1, 2)) + sigma ** 2 * np.sum(np.abs(G) ** 2, axis=(1, 2))
    return total


def test_mmse_transceiver_lowers_the_mse_and_keeps_the_power():
    H = mser_channels(5, SMALL, seed=1)
    sigma = float(noise_std(10.0))
    one, many = mmse_digital(H, SMALL, sigma, iterations=1), mmse_digital(H, SMALL, sigma, iterations=50)
    assert np.all(_sum_mse(H, many, sigma) <= _sum_mse(H, one, sigma) + 1e-9)
    np.testing.assert_allclose(np.linalg.norm(many.F, axis=(1, 2)) ** 2, 1.0)
    # the combiners are the MMSE ones for the final precoder: the MSE's gradient in G vanishes
    HX = H @ many.F[:, None]
    R = HX @ np.conj(np.swapaxes(HX, -1, -2)) + sigma ** 2 * np.eye(4)
    own = np.stack([HX[:, k, :, 2 * k:2 * k + 2] for k in range(2)], axis=1)
    np.testing.assert_allclose(R @ many.W - own, 0.0, atol=1e-10)


def test_omp_hybrid_is_feasible_and_the_digital_bound_is_lower():
    H = mser_channels(40, SMALL, seed=2)
    sigma = float(noise_std(15.0))
    d = omp_mmse(H, SMALL, sigma)
    np.testing.assert_allclose(np.abs(d.F), 1.0)
    np.testing.assert_allclose(np.abs(d.U), 1.0)
    np.testing.assert_allclose(np.linalg.norm(d.F @ d.V, axis=(1, 2)) ** 2, 1.0)
    digital = ser_semi_analytic(H, *mmse_digital(H, SMALL, sigma), sigma).mean()
    hybrid = ser_semi_analytic(H, *d, sigma).mean()
    alignment = ser_semi_analytic(H, *dft_alignment(H, SMALL), sigma).mean()
    assert digital < hybrid and digital < alignment, (digital, hybrid, alignment)


def test_mmse_gd_gradients_equal_autograd_and_its_mse_falls():
    """MMSE-based GD (Fig. 10): the closed-form gradients of the sum MSE against torch autograd
    (``.grad`` of a complex leaf is ``2 dL/dz*``), the MSE never rises, and the design meets the
    power and unit-modulus constraints."""
    import torch

    from hbf_edge.families.mser.gd import random_design
    from hbf_edge.families.mser.mmse_gd import mmse_gd, mse, mse_gradients
    from hbf_edge.families.mser.system import MserSizes, mser_channels

    z = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    H = mser_channels(3, z, seed=1)
    d = random_design(H, z, np.random.default_rng(2))
    sigma = 0.4
    t = {k: torch.tensor(v, requires_grad=True) for k, v in zip("FVUW", d)}
    E = t["W"].conj().transpose(-1, -2) @ t["U"] @ torch.tensor(H) @ (t["F"] @ t["V"])[:, None]
    T = torch.tensor(np.eye(4).reshape(2, 2, 4))
    noise = torch.sum(torch.abs(t["U"].conj().transpose(-1, -2) @ t["W"]) ** 2)
    (torch.sum(torch.abs(E - T) ** 2) + sigma ** 2 * noise).backward()
    g = mse_gradients(H, d, sigma)
    for name in "FVUW":
        np.testing.assert_allclose(g[name], t[name].grad.numpy(), rtol=1e-9, atol=1e-12)
    short, longer = mmse_gd(H, z, sigma, iterations=2), mmse_gd(H, z, sigma, iterations=20)
    assert np.all(mse(H, longer, sigma) <= mse(H, short, sigma) + 1e-12)
    np.testing.assert_allclose(np.linalg.norm(longer.F @ longer.V, axis=(1, 2)) ** 2, 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.abs(longer.F), 1.0)
    np.testing.assert_allclose(np.abs(longer.U), 1.0)


def test_the_compiled_mmse_gd_is_the_numpy_loop():
    """The compiled MMSE-based GD (kernels/mser/_mmse.py) against the numpy reference loop: the
    same line searches over a few iterations (to 1e-12; rounding may part them over hundreds),
    QPSK and 16-QAM, one sigma per channel, the serial and the parallel driver; bad input refused."""
    import pytest

    from hbf_edge.errors import ConfigError, ShapeError
    from hbf_edge.families.mser.mmse_gd import mmse_gd
    from hbf_edge.kernels.mser.mmse_gd import mmse_gd_design

    qam = MserSizes(**{**SMALL.__dict__, "constellation": "16qam"})
    for z, B in ((SMALL, 2), (SMALL, 6), (qam, 5)):  # B < 4: the serial driver
        H = mser_channels(B, z, seed=B)
        sigma = noise_std(np.linspace(5.0, 20.0, B))
        ref, got = mmse_gd(H, z, sigma, 4, backend="numpy"), mmse_gd(H, z, sigma, 4)
        for a, b in zip(ref, got):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
        assert np.max(np.abs(got.V - dft_alignment(H, z).V)) > 1e-3  # it moved
    H = mser_channels(6, SMALL, seed=7)
    start = dft_alignment(H, SMALL)
    parallel = mmse_gd_design(H, tuple(start), np.full(6, 0.1), 1.0, 3)
    serial = [mmse_gd_design(H[b:b + 1], tuple(x[b:b + 1] for x in start), np.full(1, 0.1), 1.0, 3) for b in range(6)]
    for i in range(4):
        assert np.array_equal(parallel[i], np.concatenate([s[i] for s in serial]))
    assert np.array_equal(start.V, dft_alignment(H, SMALL).V)  # the start is not written
    with pytest.raises(ShapeError, match="does not fit"):
        mmse_gd_design(H, (start.F[:, :-1], start.V, start.U, start.W), np.full(6, 0.1), 1.0, 1)
    with pytest.raises(ConfigError, match="finite and > 0"):
        mmse_gd_design(H, tuple(start), np.full(6, -0.1), 1.0, 1)
    with pytest.raises(ConfigError, match="backend"):
        mmse_gd(H, SMALL, 0.3, 1, backend="cuda")


def test_16qam_mmse_designs_weigh_the_noise_per_unit_symbol_energy():
    """16-QAM's levels carry E_s = 10 at ||F V||^2 = P_T / 10 (spec 5.17): its MMSE designs are the
    QPSK-convention ones (SNR P_T / sigma^2) with the precoder scaled by 1 / sqrt(10) -- not the
    designs for an SNR 10 dB lower -- and the OMP hybrid and MMSE-based GD follow."""
    from hbf_edge.families.mser.mmse_gd import mse, mmse_gd

    H = mser_channels(4, SMALL, seed=3)
    qam = MserSizes(**{**SMALL.__dict__, "constellation": "16qam"})
    sigma = float(noise_std(5.0))
    d16, dq = mmse_digital(H, qam, sigma), mmse_digital(H, SMALL, sigma)
    np.testing.assert_allclose(d16.F * np.sqrt(10.0), dq.F, atol=1e-10)
    np.testing.assert_allclose(d16.W / np.sqrt(10.0), dq.W, atol=1e-10)
    tenth = mmse_digital(H, SMALL, sigma * np.sqrt(10.0))  # what sigma itself would design for
    assert np.max(np.abs(tenth.F - dq.F)) > 1e-3
    o16, oq = omp_mmse(H, qam, sigma), omp_mmse(H, SMALL, sigma)
    np.testing.assert_allclose(o16.F, oq.F, atol=1e-10)
    np.testing.assert_allclose(o16.V * np.sqrt(10.0), oq.V, atol=1e-10)
    np.testing.assert_allclose(o16.W, oq.W, atol=1e-8)
    g16 = mmse_gd(H, qam, sigma, 3)  # descends the MSE weighed with sigma / sqrt(10)
    np.testing.assert_allclose(np.linalg.norm(g16.F @ g16.V, axis=(1, 2)) ** 2, 0.1)
    start = dft_alignment(H, qam)
    assert np.all(mse(H, g16, sigma / np.sqrt(10.0)) < mse(H, start, sigma / np.sqrt(10.0)))


def test_mo_altmin_gradient_equals_autograd_and_its_residual_never_rises():
    """MO-AltMin (spec 3.4): the Euclidean gradient of ||T - F X||^2 it projects is torch's
    (``.grad`` of a complex leaf is ``2 df/dF*``); each round lowers the residual, the result
    stays unit modulus, and it fits the target better than OMP, which it starts from."""
    import torch

    from hbf_edge.baselines import _tangent, mo_altmin_factorise, omp_factorise

    rng = np.random.default_rng(3)
    T = rng.standard_normal((6, 16, 3)) + 1j * rng.standard_normal((6, 16, 3))
    F = np.exp(1j * rng.uniform(0, 2 * np.pi, (6, 16, 4)))
    X = np.linalg.pinv(F) @ T
    Ft = torch.tensor(F, requires_grad=True)
    torch.sum(torch.abs(torch.tensor(T) - Ft @ torch.tensor(X)) ** 2).backward()
    np.testing.assert_allclose(-2.0 * (T - F @ X) @ np.conj(np.swapaxes(X, 1, 2)), Ft.grad.numpy(), atol=1e-10)
    tangent = _tangent(Ft.grad.numpy(), F)
    np.testing.assert_allclose(np.real(tangent * F.conj()), 0.0, atol=1e-12)  # orthogonal to each F_ij

    def residual(rounds):
        Fm, Xm = mo_altmin_factorise(T, 4, outer=rounds)
        np.testing.assert_allclose(np.abs(Fm), 1.0, atol=1e-12)
        return np.linalg.norm(T - Fm @ Xm, axis=(1, 2))

    curve = [residual(r) for r in (0, 1, 3, 10)]
    for before, after in zip(curve, curve[1:]):
        assert np.all(after <= before + 1e-12)
    Fo, Xo = omp_factorise(T, 4)
    np.testing.assert_allclose(curve[0], np.linalg.norm(T - Fo @ Xo, axis=(1, 2)), rtol=1e-12)  # its start
    assert curve[-1].mean() < 0.8 * curve[0].mean()


def test_mo_hybrid_is_feasible_and_lies_between_the_digital_bound_and_omp():
    from hbf_edge.families.mser.baselines import mo_mmse

    H = mser_channels(40, SMALL, seed=2)
    sigma = float(noise_std(15.0))
    d = mo_mmse(H, SMALL, sigma)
    np.testing.assert_allclose(np.abs(d.F), 1.0)
    np.testing.assert_allclose(np.abs(d.U), 1.0)
    np.testing.assert_allclose(np.linalg.norm(d.F @ d.V, axis=(1, 2)) ** 2, 1.0)
    digital = ser_semi_analytic(H, *mmse_digital(H, SMALL, sigma), sigma).mean()
    mo = ser_semi_analytic(H, *d, sigma).mean()
    omp = ser_semi_analytic(H, *omp_mmse(H, SMALL, sigma), sigma).mean()
    assert digital <= mo < omp, (digital, mo, omp)
