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
