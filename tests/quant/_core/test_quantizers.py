"""The Brevitas quantizers against the hardware spec's own numpy definitions."""

import math

import numpy as np
import pytest
import torch

from hbf_edge import ConfigError, FixedPointFormat
from hbf_edge.hw.spec import phase_to_code
from hbf_edge.quant._core.quantizers import FixedPointQuant, PhaseQuant


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
@pytest.mark.parametrize("word,frac", [(8, 4), (12, 10), (24, 16)])
def test_fixed_point_equals_spec_quantize(rounding, word, frac):
    fmt = FixedPointFormat(word, frac, rounding)
    rng = np.random.default_rng(word + frac)
    span = fmt.max_value * 1.5
    x = np.concatenate([rng.uniform(-span, span, 5000),
                        (np.arange(-40, 40) + 0.5) * fmt.lsb,  # exact ties
                        [fmt.max_value, fmt.min_value, fmt.max_value + fmt.lsb, 1e9, -1e9]])
    q = FixedPointQuant(fmt)(torch.from_numpy(x)).numpy()
    words, over = fmt.quantize(x)
    assert np.array_equal(q, fmt.to_float(words))
    assert int(FixedPointQuant(fmt).overflows(torch.from_numpy(x))) == int(over.sum())


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
@pytest.mark.parametrize("word,frac", [(8, 4), (12, 10), (16, 13)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_forward_is_brevitas_intquant_bit_for_bit_with_its_gradient(rounding, word, frac, dtype):
    """The forward's five operations against Brevitas' ``IntQuant`` itself: the same values
    (signs of zero included), and the same gradient of a random upstream gradient, on values
    inside, at and beyond the range, exact ties and both zeros."""
    fmt = FixedPointFormat(word, frac, rounding)
    quant = FixedPointQuant(fmt)
    rng = np.random.default_rng(word * frac)
    span = fmt.max_value * 1.5
    x = np.concatenate([rng.uniform(-span, span, 4000), rng.normal(0, 3 * fmt.lsb, 1000),
                        (np.arange(-40, 40) + 0.5) * fmt.lsb, [fmt.max_value, fmt.min_value, 0.0, -0.0,
                                                                fmt.max_value + 0.5 * fmt.lsb, 1e9, -1e9]])
    upstream = torch.from_numpy(rng.normal(size=x.size)).to(dtype)
    results = []
    for run in (quant.forward, quant.brevitas):
        t = torch.tensor(x, dtype=dtype, requires_grad=True)
        y = run(t)
        (y * upstream).sum().backward()
        results.append((y.detach(), t.grad))
    (y_fast, g_fast), (y_ref, g_ref) = results
    assert torch.equal(y_fast, y_ref) and torch.equal(torch.signbit(y_fast), torch.signbit(y_ref))
    assert torch.equal(g_fast, g_ref)
    assert torch.count_nonzero(g_fast) < x.size  # the saturated entries are in the sample


def test_fixed_point_gradient_is_straight_through_inside_the_range():
    quant = FixedPointQuant(FixedPointFormat(8, 4))
    x = torch.tensor([0.3, -1.01, 100.0], dtype=torch.float64, requires_grad=True)
    quant(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]  # saturated entries get no gradient


def test_fixed_point_rejects_wrapping_formats():
    with pytest.raises(ConfigError, match="saturating"):
        FixedPointQuant(FixedPointFormat(8, 4, saturate=False))


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_phase_quant_equals_phase_to_code_and_wraps(bits):
    theta = np.random.default_rng(bits).uniform(-3 * np.pi, 3 * np.pi, 10_000)
    step = 2 * np.pi / 2**bits
    theta = np.concatenate([theta, [np.pi - 1e-12, -np.pi, -np.pi + 1e-12, np.pi, 0.5 * step, -0.5 * step]])
    pq = PhaseQuant(bits)
    codes = pq.codes(torch.from_numpy(theta)).numpy()
    assert np.array_equal(codes, phase_to_code(theta, bits))
    assert codes[-6] == codes[-5] == codes[-4] == codes[-3] == 2 ** (bits - 1)  # +-pi, no clamp
    assert np.allclose(pq(torch.from_numpy(theta)).numpy(), codes * step)


def test_phase_quant_gradient_and_bad_bits():
    theta = torch.tensor([0.1, 3.0], dtype=torch.float64, requires_grad=True)
    PhaseQuant(3)(theta).sum().backward()
    assert theta.grad.tolist() == [1.0, 1.0]
    for bad in (0, 17, 2.5, True):
        with pytest.raises(ConfigError):
            PhaseQuant(bad)
    assert math.isclose(float(PhaseQuant(2)(torch.tensor(math.pi / 2, dtype=torch.float64))), math.pi / 2)


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_round_ste_is_brevitas_ste_bit_for_bit(rounding, dtype):
    """The native straight-through rounding against Brevitas' STE functions: values and
    gradients equal, the signs of their zeros too (an upstream -0.0 gradient included)."""
    from brevitas.core.function_wrapper import FloorSte, RoundSte

    from hbf_edge.quant._core.quantizers import HalfUpSte, round_ste

    reference = {"half_up": HalfUpSte(), "half_even": RoundSte(), "floor": FloorSte()}[rounding]
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-50, 50, 3000), np.arange(-20, 20) + 0.5, np.arange(-20, 20) * 1.0,
                        [0.0, -0.0, -0.3, 0.3, -0.5, 0.5, -0.7, 1e7 + 0.5, -1e7 - 0.5]])
    upstream = torch.from_numpy(np.concatenate([rng.normal(size=x.size - 4), [0.0, -0.0, 0.0, -0.0]])).to(dtype)
    results = []
    for run in (lambda t: round_ste(t, rounding), reference):
        t = torch.tensor(x, dtype=dtype, requires_grad=True)
        y = run(t)
        y.backward(upstream)
        results.append((y.detach(), t.grad))
    (y_new, g_new), (y_ref, g_ref) = results
    assert torch.equal(y_new, y_ref) and torch.equal(torch.signbit(y_new), torch.signbit(y_ref))
    assert torch.equal(g_new, g_ref) and torch.equal(torch.signbit(g_new), torch.signbit(g_ref))
    assert torch.signbit(y_ref).any() and (y_ref == 0).any()  # negative zeros are in the sample

