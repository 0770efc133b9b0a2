"""UPGANet hardware mode: bit for bit against the pure-Python integer reference, and against float."""

import naive_fixed_upganet
import numpy as np
import pytest

from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec, ShapeError
from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.errors import InvalidChannelError
from hbf_edge.families.upganet.sensing import SensingScenario, benchmark_covariance, steering
from hbf_edge.kernels.upganet.forward import UpganetModel, upganet_forward
from hbf_edge.kernels.upganet.hardware import UPGANET_COUNTER_SITES, upganet_forward_hw

SC = SensingScenario(targets_deg=(-40.0, 0.0, 40.0), delta_deg=6.0, grid_points=181)


def _model(N, M, mu=None, lam=None):
    psi1 = benchmark_covariance(SC, N).psi
    steer = steering(np.array(SC.targets_deg), N).T.copy()
    rng = np.random.default_rng(N)
    mu = rng.uniform(0.05, 0.3, (3, 2)) if mu is None else mu
    lam = rng.uniform(1e-4, 4e-4, 3) if lam is None else lam
    return UpganetModel(mu, lam, psi1, steer, SC.omega, 1.0 / N, M)


def _problem(B, N, K, seed, snr=(0, 12)):
    H = saleh_valenzuela_miso(B, N, K, seed=seed)
    rng = np.random.default_rng(seed)
    return H, 10 ** (rng.uniform(*snr, B) / 10), rng.uniform(0.5, 2.0, B)


def _run_both(H, p_t, noise, model, spec, layer_specs=None):
    res = upganet_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, model, spec,
                             layer_specs)
    assert tuple(res.counters) == UPGANET_COUNTER_SITES
    for b in range(H.shape[0]):
        codes, W, counts = naive_fixed_upganet.forward(H[b], p_t[b], noise[b], model, spec, layer_specs)
        assert res.codes[b].tolist() == codes, f"codes differ in channel {b}"
        assert res.w_re[b].tolist() == [[w[0] for w in row] for row in W], f"W re differs in channel {b}"
        assert res.w_im[b].tolist() == [[w[1] for w in row] for row in W], f"W im differs in channel {b}"
        assert {k: int(v[b]) for k, v in res.counters.items()} == counts, f"counters differ in channel {b}"
    return res


@pytest.mark.parametrize("q,M,K,rounding", [(4, 4, 3, "half_up"), (1, 4, 2, "half_up"), (3, 5, 3, "half_even"),
                                            (6, 4, 4, "floor")])
def test_bit_exact_on_random_channels(q, M, K, rounding):
    fmt = lambda w, f: FixedPointFormat(w, f, rounding)  # noqa: E731
    spec = HardwareSpec(12, M, K, q, channel=fmt(16, 12), precoder=fmt(12, 10), lut=fmt(12, 10),
                        gradient=fmt(24, 16), step=fmt(32, 24), accumulator=fmt(32, 16))
    H, p_t, noise = _problem(12, 12, K, seed=q * 10 + K)
    res = _run_both(H, p_t, noise, _model(12, M), spec)
    assert res.codes.min() >= 0 and res.codes.max() < 2**q


def test_bit_exact_when_saturating_and_wrapping():
    H, p_t, noise = _problem(10, 12, 3, seed=5, snr=(15, 30))
    H = H * 12.0  # beyond the channel range, large powers, gradients and sensing terms
    tight = HardwareSpec(12, 4, 3, 3, channel=FixedPointFormat(12, 8), precoder=FixedPointFormat(8, 6),
                         gradient=FixedPointFormat(16, 10), step=FixedPointFormat(20, 14),
                         accumulator=FixedPointFormat(14, 7))  # +-128: the sensing terms saturate too
    model = _model(12, 4, mu=np.full((3, 2), 0.3), lam=np.full(3, 1e-3))
    res = _run_both(H, p_t, noise, model, tight)
    hit = {k for k, v in res.counters.items() if v.sum() > 0}
    assert {"input", "power", "grad_F", "grad_W", "Y", "sense_F", "sense_W"} <= hit, hit
    wrap = tight.replace(accumulator=FixedPointFormat(14, 7, saturate=False),
                         gradient=FixedPointFormat(16, 10, "half_even", saturate=False))
    res = _run_both(H[:4], p_t[:4], noise[:4], model, wrap)
    assert res.total_overflows.sum() > 0


def test_bit_exact_with_per_layer_precision():
    base = HardwareSpec(12, 4, 3, 3)
    layers = [base.replace(phase_bits=6, precoder=FixedPointFormat(14, 12)), base,
              base.replace(phase_bits=2, precoder=FixedPointFormat(10, 9))]
    H, p_t, noise = _problem(8, 12, 3, seed=21)
    res = _run_both(H, p_t, noise, _model(12, 4), base, layers)
    assert res.phase_bits == 2 and res.w_format == FixedPointFormat(10, 9) and res.codes.max() < 4


def test_tracks_the_float_kernel_with_8_phase_bits():
    """With 8-bit phases and a 16-bit W the hardware design is as good as the float one: the
    objective R - omega tau within 2 % of float's spread and the power budget kept."""
    N, M, K = 32, 4, 4
    model = _model(N, M, mu=np.full((5, 2), 0.2), lam=np.full(5, 2e-4))
    H, _, _ = _problem(60, N, K, seed=11)
    hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
    spec = HardwareSpec(N, M, K, 8, precoder=FixedPointFormat(16, 14))
    for snr in (0.0, 12.0):
        p_t, noise = np.full(60, 10 ** (snr / 10)), np.ones(60)
        fr, fi, wr, wi = upganet_forward(hr, hi, p_t, noise, model)
        hw = upganet_forward_hw(hr, hi, p_t, noise, model, spec)
        assert hw.total_overflows.sum() == 0
        X_hw, X_fl = hw.analog() @ hw.digital(), (fr + 1j * fi) @ (wr + 1j * wi)
        assert np.allclose(np.sum(np.abs(X_hw) ** 2, axis=(1, 2)), p_t, rtol=2e-3)

        def objective(X):
            tau = np.linalg.norm(X @ X.conj().transpose(0, 2, 1) - p_t[:, None, None] * model.psi1, axis=(1, 2)) ** 2
            return sum_rate_np(H, X, 1.0) - model.omega * tau

        o_hw, o_fl = objective(X_hw).mean(), objective(X_fl).mean()
        assert abs(o_hw - o_fl) <= 0.02 * abs(o_fl) + 0.05, (snr, o_hw, o_fl)


def test_bad_inputs():
    model = _model(12, 4)
    H, p_t, noise = _problem(2, 12, 3, seed=1)
    args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise)
    spec = HardwareSpec(12, 4, 3, 4)
    with pytest.raises(ConfigError):
        upganet_forward_hw(*args, model, HardwareSpec(12, 4, 3, 9))
    with pytest.raises(ShapeError):
        upganet_forward_hw(*args, _model(16, 4), spec)  # psi for another N
    with pytest.raises(ConfigError, match="RF chains"):
        upganet_forward_hw(*args, _model(12, 5), spec)
    few = UpganetModel(model.mu, model.lam, model.psi1, model.steer[:, :0], model.omega, model.eta, 4)
    with pytest.raises(ConfigError, match="steer"):
        upganet_forward_hw(*args, few, spec)
    bad = args[0].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidChannelError):
        upganet_forward_hw(bad, *args[1:], model, spec)
    big = UpganetModel(model.mu, model.lam, 2.0 * model.psi1, model.steer, model.omega, model.eta, 4)
    with pytest.raises(ConfigError, match="unit-power"):
        upganet_forward_hw(*args, big, spec.replace(channel=FixedPointFormat(12, 10)))


def test_bit_exact_at_the_embedded_size():
    """N=64, M=K=4, the paper's targets (-60, 0, 60 deg), Q=4, default formats: 4 layers of
    J=5 on 12 channels over 0..12 dB (about 8 s, most of it the Python reference)."""
    sc = SensingScenario()
    N = 64
    psi1 = benchmark_covariance(sc, N).psi
    steer = steering(np.array(sc.targets_deg), N).T.copy()
    rng = np.random.default_rng(64)
    model = UpganetModel(rng.uniform(0.3, 1.2, (4, 5)), rng.uniform(1e-4, 1e-3, 4), psi1, steer, sc.omega, 1.0 / N, 4)
    H, p_t, noise = _problem(12, N, 4, seed=2026)
    _run_both(H, p_t, noise, model, HardwareSpec(N, 4, 4, 4))
