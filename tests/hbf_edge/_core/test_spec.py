import json

import numpy as np
import pytest

from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec, code_to_phase, phase_to_code


def test_fixed_point_rounding_modes_and_range():
    x = np.array([0.5, 1.5, -0.5, -1.5, 2.25]) / 4  # ties at frac_bits=2 ... scaled by 4
    half_up, _ = FixedPointFormat(8, 2, "half_up").to_int(x)
    half_even, _ = FixedPointFormat(8, 2, "half_even").to_int(x)
    floor, _ = FixedPointFormat(8, 2, "floor").to_int(x)
    assert half_up.tolist() == [1, 2, 0, -1, 2]
    assert half_even.tolist() == [0, 2, 0, -2, 2]
    assert floor.tolist() == [0, 1, -1, -2, 2]


def test_fixed_point_saturation_and_wrap_are_counted():
    sat = FixedPointFormat(4, 0)  # -8..7
    q, n = sat.to_int(np.array([7.0, 8.0, -9.0, 100.0]))
    assert q.tolist() == [7, 7, -8, 7] and n == 3
    wrap = FixedPointFormat(4, 0, saturate=False)
    q, n = wrap.to_int(np.array([7.0, 8.0, -9.0]))
    assert q.tolist() == [7, -8, 7] and n == 2
    assert sat.to_float(np.array([3])) == 3.0 and FixedPointFormat(12, 10).lsb == 2.0**-10


@pytest.mark.parametrize("kwargs", [dict(word_bits=1, frac_bits=0), dict(word_bits=33, frac_bits=0),
                                    dict(word_bits=8, frac_bits=8), dict(word_bits=8, frac_bits=-1),
                                    dict(word_bits=8, frac_bits=2, rounding="ceil")])
def test_fixed_point_rejects_bad_formats(kwargs):
    with pytest.raises(ConfigError):
        FixedPointFormat(**kwargs)


def test_fixed_point_rejects_nan():
    with pytest.raises(ConfigError):
        FixedPointFormat(8, 4).to_int(np.array([np.nan]))


@pytest.mark.parametrize("kwargs", [dict(n_rf=3, n_users=4), dict(phase_bits=0), dict(phase_bits=17),
                                    dict(n_antennas=0), dict(n_antennas=2, n_rf=4), dict(phase_bits=True)])
def test_spec_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        HardwareSpec(**kwargs)


def test_spec_json_round_trip_and_unknown_keys():
    spec = HardwareSpec(32, 6, 4, phase_bits=None, precoder=FixedPointFormat(16, 12, "half_even"))
    again = HardwareSpec.from_json(spec.to_json())
    assert again == spec
    data = json.loads(spec.to_json())
    data["phase_bitz"] = 3
    with pytest.raises(ConfigError, match="unknown key"):
        HardwareSpec.from_dict(data)
    with pytest.raises(ConfigError):
        HardwareSpec.from_json("{not json")


def test_phase_codes_nearest_ties_and_wrap():
    q = 3  # 8 codes, 45 degrees apart
    step = 2 * np.pi / 8
    assert phase_to_code(np.array([0.0, step, 0.49 * step, 0.51 * step]), q).tolist() == [0, 1, 0, 1]
    # an exact tie goes counter-clockwise (to the larger angle)
    assert phase_to_code(np.array([0.5 * step, -0.5 * step]), q).tolist() == [1, 0]
    # just below +pi and exactly -pi both land on the code of pi; just above -pi too
    eps = 1e-9
    assert phase_to_code(np.array([np.pi - eps, -np.pi, -np.pi + eps, np.pi]), q).tolist() == [4, 4, 4, 4]
    # angles beyond one turn wrap
    assert phase_to_code(np.array([2 * np.pi + step, -step]), q).tolist() == [1, 7]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_phase_code_round_trip_and_error_bound(bits):
    codes = np.arange(2**bits)
    assert np.array_equal(phase_to_code(code_to_phase(codes, bits), bits), codes)
    theta = np.random.default_rng(0).uniform(-10, 10, 10_000)
    err = np.angle(np.exp(1j * (theta - code_to_phase(phase_to_code(theta, bits), bits))))
    assert np.max(np.abs(err)) <= np.pi / 2**bits + 1e-12


def test_code_to_phase_rejects_out_of_range():
    with pytest.raises(ConfigError):
        code_to_phase(np.array([8]), 3)
    with pytest.raises(ConfigError):
        code_to_phase(np.array([-1]), 3)
    with pytest.raises(ConfigError):
        code_to_phase(np.array([0.5]), 3)
    with pytest.raises(ConfigError):
        phase_to_code(np.array([0.0]), 0)
