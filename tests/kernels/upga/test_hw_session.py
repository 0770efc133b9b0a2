"""The hardware kernel's real-time session against ``upga_forward_hw``, and the compiled
float -> integer boundary against :meth:`FixedPointFormat.quantize`."""

import numpy as np
import pytest

from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec, InvalidChannelError, kernels
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.kernels._core.boundary import quantize_word
from hbf_edge.kernels._core.tables import format_row
from hbf_edge.kernels.upga.hw_session import UpgaHwSession

STEPS = (np.array([[0.05, 0.02], [0.2, 0.01], [0.11, 0.3]]), np.array([3e-3, 1e-4, 2e-2]))


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
@pytest.mark.parametrize("saturate", [True, False])
def test_the_compiled_boundary_equals_the_spec_quantizer(rounding, saturate):
    fmt = FixedPointFormat(10, 6, rounding, saturate)
    rng = np.random.default_rng(len(rounding) + saturate)
    x = np.concatenate([rng.normal(0, 3, 2000), rng.normal(0, 200, 500),  # in range and far beyond it
                        (np.arange(-1200, 1200) + 0.5) / 64,  # every tie in range and beyond
                        [0.0, -0.0, 1e-300, -1e-300, 7.9921875, -8.0, -8.0078125, 1e30, -1e30]])
    want, over = fmt.quantize(x)
    row = format_row(fmt)
    got = [quantize_word(v, 2.0**fmt.frac_bits, row) for v in x]
    assert [g[0] for g in got] == want.tolist()
    assert [bool(g[1]) for g in got] == over.tolist()


def _case(B, N, K, seed, scale=1.0):
    H = saleh_valenzuela_miso(B, N, K, seed=seed) * scale
    rng = np.random.default_rng(seed)
    return (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), 10 ** (rng.uniform(-10, 25, B) / 10),
            rng.uniform(0.5, 2.0, B))


def _same(a, b):
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.w_re, b.w_re) and np.array_equal(a.w_im, b.w_im)
    assert a.counters.keys() == b.counters.keys()
    assert all(np.array_equal(a.counters[k], b.counters[k]) for k in a.counters), "counters differ"
    assert np.array_equal(a.p_t, b.p_t) and a.w_format == b.w_format and a.phase_bits == b.phase_bits


TIGHT = HardwareSpec(16, 4, 4, 3, channel=FixedPointFormat(12, 8), precoder=FixedPointFormat(8, 6),
                     gradient=FixedPointFormat(16, 10), step=FixedPointFormat(20, 14, "half_even"),
                     accumulator=FixedPointFormat(24, 12, "floor"))


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("case", ["plain", "per-layer + output stage", "search", "saturating", "wrapping"])
def test_the_session_equals_upga_forward_hw_bit_for_bit(batch, case):
    base = HardwareSpec(16, 4, 4, 3)
    kwargs, scale, spec = {}, 1.0, base
    if case == "per-layer + output stage":
        kwargs = {"layer_specs": [base.replace(phase_bits=6, precoder=FixedPointFormat(14, 12)), base,
                                  base.replace(phase_bits=2)], "xi": 1.0}
    elif case == "search":
        kwargs = {"xi": 0.5, "search": kernels.CodeSearch(sweeps=2, span=1)}
    elif case == "saturating":
        spec, scale, kwargs = TIGHT, 12.0, {"xi": 1.0}
    elif case == "wrapping":
        spec, scale = TIGHT.replace(accumulator=FixedPointFormat(24, 12, saturate=False),
                                    channel=FixedPointFormat(12, 8, saturate=False)), 12.0
    session = UpgaHwSession(*STEPS, spec, batch=batch, **kwargs)
    for seed in (1, 2):  # twice: nothing of the first call leaks into the second
        args = _case(batch, 16, 4, seed, scale)
        codes, w_re, w_im = session.run(*args)
        want = kernels.upga_forward_hw(*args, *STEPS, spec, **kwargs)
        got = session.result()
        _same(got, want)
        assert codes is session.codes and np.array_equal(codes, want.codes)
    if case in ("saturating", "wrapping"):
        assert got.counters["input"].sum() > 0 and got.total_overflows.sum() > got.counters["input"].sum()


def test_the_session_refuses_bad_inputs_in_one_line_and_keeps_no_stale_result():
    session = UpgaHwSession(*STEPS, HardwareSpec(16, 4, 4, 3), batch=2)
    with pytest.raises(ConfigError, match="no result"):
        session.result()  # before any run
    good = _case(2, 16, 4, 3)
    session.run(*good)
    bad_h = good[0].copy()
    bad_h[1, 3, 0] = np.nan
    zero_user = good[0].copy(), good[1].copy()
    zero_user[0][0, :, 2] = 0.0
    zero_user[1][0, :, 2] = 0.0
    for args, error, match in [((bad_h, *good[1:]), InvalidChannelError, "NaN"),
                               ((*zero_user, *good[2:]), InvalidChannelError, "all zero"),
                               ((*good[:2], np.array([1.0, -1.0]), good[3]), ConfigError, "> 0"),
                               ((*good[:2], np.array([1e12, 1.0]), np.array([1e-6, 1.0])), ConfigError, "LSB"),
                               ((good[0][:1], *good[1:]), ConfigError, "shape"),
                               ((good[0].astype(np.float32), *good[1:]), ConfigError, "float64"),
                               ((good[0], good[1][0], *good[2:]), ConfigError, "h_im must be"),
                               ((*good[:3], np.ones(3)), ConfigError, "noise must be"),
                               ((good[0].tolist(), *good[1:]), ConfigError, "h_re must be")]:
        with pytest.raises(error, match=match):
            session.run(*args)
        with pytest.raises(ConfigError, match="no result"):
            session.result()
    frozen = good[0].copy()
    frozen.flags.writeable = False  # not the session's own type, still accepted: the same words
    session.run(frozen, *good[1:])
    _same(session.result(), kernels.upga_forward_hw(*good, *STEPS, HardwareSpec(16, 4, 4, 3)))
    session.run(*good)
    _same(session.result(), kernels.upga_forward_hw(*good, *STEPS, HardwareSpec(16, 4, 4, 3)))
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="batch"):
            UpgaHwSession(*STEPS, HardwareSpec(16, 4, 4, 3), batch=bad)
    with pytest.raises(ConfigError, match="output stage"):
        UpgaHwSession(*STEPS, HardwareSpec(16, 4, 4, 3), search=kernels.CodeSearch())


def test_a_model_directorys_session_equals_its_hardware_design(tmp_path):
    from helpers import quantized_model_dir

    from hbf_edge.kernels.upga.stage import hardware_design, hardware_session

    quantized_model_dir(tmp_path, 16, 3, {"default": {"phase_bits": 2}, "layers": {"0-1": {"phase_bits": 6}}}, xi=1.0,
                        search={"sweeps": 2, "span": 1})
    session = hardware_session(tmp_path / "q", batch=3)
    h_re, h_im, p_t, noise = _case(3, 16, 4, 7)
    session.run(h_re, h_im, p_t, noise)
    _same(session.result(), hardware_design(tmp_path / "q", h_re + 1j * h_im, p_t, noise))
    with pytest.raises(ConfigError, match="quantized upga model"):
        hardware_session(tmp_path / "float")
