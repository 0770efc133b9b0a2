"""Hardware mode: bit for bit against the pure-Python integer reference, plus its primitives."""

import math
from fractions import Fraction

import naive_fixed
import numpy as np
import pytest

from hbf_edge import kernels
from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec, ShapeError
from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.hw.spec import phase_to_code
from hbf_edge.kernels._core import codes as _codes
from hbf_edge.kernels._core import fixed as _fixed
from hbf_edge.kernels._core.tables import format_row

MODES = {"half_up": 0, "half_even": 1, "floor": 2}


def test_rounding_division_and_isqrt_primitives():
    rng = np.random.default_rng(0)
    for mode, code in MODES.items():
        for x in list(rng.integers(-(2**40), 2**40, 300)) + [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 5, 6]:
            for s in (0, 1, 2, 7):
                assert _fixed.rshift(int(x), s, code) == naive_fixed._round(Fraction(int(x), 2**s), mode)
        for num, den in zip(rng.integers(-(2**40), 2**40, 300), rng.integers(1, 2**20, 300)):
            for d in (int(den), -int(den)):
                assert _fixed.div_round(int(num), d, code) == naive_fixed._round(Fraction(int(num), d), mode)
        for num, den in [(5, 2), (-5, 2), (7, 2), (-7, 2), (1, 3), (-1, 3)]:
            assert _fixed.div_round(num, den, code) == naive_fixed._round(Fraction(num, den), mode)
    roots = [int(k) for k in rng.integers(1, 2**31, 2000)] + [int(k) for k in rng.integers(1, 2**16, 500)]
    near_squares = [k * k + d for k in roots for d in (-1, 0, 1) if k * k + d < 2**62]  # where float is one off
    for n in [int(n) for n in rng.integers(0, 2**62, 500)] + near_squares + [0, 1, 2, 3, 4, 15, 16, 17, 2**62 - 1]:
        assert _fixed.isqrt(n) == math.isqrt(n) == _fixed.isqrt_digits(n)  # the fast one, the hardware's


def test_branch_free_rounding_and_fitting_equal_the_primitives():
    """shift_plan / shift_by is rshift, word_of plus the out-of-range test is fit (the
    vectorised loops' form), for every rule, shifts <= 0, and saturating or wrapping words."""
    rng = np.random.default_rng(4)
    xs = [int(x) for x in rng.integers(-(2**44), 2**44, 400)] + list(range(-9, 10)) + [2**40 + 2**20, -(2**40) - 2**20]
    for code in MODES.values():
        for s in (-3, -1, 0, 1, 2, 5, 20):
            plan = _fixed.shift_plan(s, code)
            for x in xs:
                assert _fixed.shift_by(x, *plan) == _fixed.rshift(x, s, code), (x, s, code)
    for fmt in (FixedPointFormat(12, 4), FixedPointFormat(12, 4, saturate=False), FixedPointFormat(2, 0, saturate=False),
                FixedPointFormat(32, 8, saturate=False)):
        row = format_row(fmt)
        for x in xs + [fmt.max_int, fmt.max_int + 1, fmt.min_int, fmt.min_int - 1]:
            counts = np.zeros(1, np.int64)
            want = _fixed.fit(x, row, counts, 0)
            assert _fixed.word_of(x, row[1], row[2], row[4] != 0) == want
            assert counts[0] == (x > row[2] or x < row[1])


def _read_only(*tables):
    """Read-only views, as the hardware kernels get their tables: the code decisions compile
    once for the suite (a writable table is another Numba signature, about 3.5 s more)."""
    views = [np.asarray(t).view() for t in tables]
    for v in views:
        v.setflags(write=False)
    return views


@pytest.mark.parametrize("q", [1, 2, 3, 4, 5, 6, 7, 8])
def test_nearest_codes_block_equals_nearest_code(q):
    """The block code decision (exhaustive up to BRUTE_CODES codes, the stepwise sector search
    beyond) and its fallback on ties give nearest_code's codes: random, tiny (many ties),
    bisector, zero and extreme 32-bit vectors."""
    lut_c, lut_s = _read_only(*kernels.phase_lut(HardwareSpec(16, 4, 4, q)))
    # from Q = 2 the toolkit's tables turn by 90 degrees every quarter, and up to Q = 7 they are
    # regular in the first quadrant (at Q = 8 the sine of 88.6 degrees rounds to cos 0): the
    # first-quadrant search below BRUTE_CODES (the run table at the end is not, and is searched
    # code by code)
    assert _codes.quarter_symmetric(lut_c, lut_s) == (q >= 2)
    assert _codes.first_quadrant_regular(lut_c, lut_s) == (2 <= q <= 7)
    rng = np.random.default_rng(10 + q)
    edge = [-(2**31), 2**31 - 1, -(2**31) + 1, 0, 1, -1]
    xr = list(rng.integers(-(2**20), 2**20, 2000)) + list(rng.integers(-4, 5, 300)) + edge * 6
    xi = list(rng.integers(-(2**20), 2**20, 2000)) + list(rng.integers(-4, 5, 300)) + sorted(edge * 6)
    for c in range(2**q):
        d = (c + 1) % 2**q
        xr += [int(lut_c[c] + lut_c[d]), int(lut_c[c]), 0]
        xi += [int(lut_s[c] + lut_s[d]), int(lut_s[c]), 0]
    xr, xi = np.array(xr, np.int64), np.array(xi, np.int64)
    out, work = np.empty_like(xr), [np.empty_like(xr) for _ in range(4)]
    _codes.nearest_codes_block(xr, xi, lut_c, lut_s, out, *work)
    want = [_codes.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in zip(xr, xi)]
    np.testing.assert_array_equal(out, want)
    # a tied run longer than the candidates' window (codes 10..15 hold one word): the walk to
    # the run's counter-clockwise end, which the block leaves to nearest_code
    if q < 4:
        return
    run_c, run_s = lut_c.copy(), lut_s.copy()
    run_c[10:16], run_s[10:16] = run_c[10], run_s[10]
    run_c, run_s = _read_only(run_c, run_s)
    assert not _codes.quarter_symmetric(run_c, run_s)
    c, s = int(run_c[10]), int(run_s[10])  # at the run, and a hair clockwise of it (the search lands before it)
    vr, vi = np.array([c, 3 * c, -c, 1000 * c + s], np.int64), np.array([s, 3 * s, -s, 1000 * s - c], np.int64)
    out = np.empty_like(vr)
    _codes.nearest_codes_block(vr, vi, run_c, run_s, out, *[np.empty_like(vr) for _ in range(4)])
    np.testing.assert_array_equal(out, [_codes.nearest_code(int(a), int(b), run_c, run_s) for a, b in zip(vr, vi)])


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
def test_the_code_decision_equals_nearest_code_at_every_table_rounding(rounding):
    """The block decision gives nearest_code's codes with every rounding of the table: the
    first-quadrant search where the table turns by 90 degrees every quarter, the search code by
    code where floor rounding breaks that symmetry (cos(3 pi / 2) floors to -1 LSB)."""
    for q in (2, 3, 4, 5):
        lut = FixedPointFormat(12, 9, rounding=rounding)
        lut_c, lut_s = _read_only(*HardwareSpec(16, 4, 4, q, lut=lut).phase_table())
        assert _codes.quarter_symmetric(lut_c, lut_s) == (rounding != "floor")
        assert _codes.first_quadrant_regular(lut_c, lut_s) == (rounding != "floor")
        rng = np.random.default_rng(q)
        xr = np.concatenate([rng.integers(-(2**30), 2**30, 3000), rng.integers(-3, 4, 300), 3 * lut_c, lut_c - lut_s])
        xi = np.concatenate([rng.integers(-(2**30), 2**30, 3000), rng.integers(-3, 4, 300), 3 * lut_s, lut_s + lut_c])
        out, work = np.empty_like(xr), [np.empty_like(xr) for _ in range(4)]
        _codes.nearest_codes_block(xr, xi, lut_c, lut_s, out, *work)
        ref = [_codes.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in zip(xr, xi)]
        np.testing.assert_array_equal(out, ref)


def test_a_coarse_quarter_symmetric_table_is_searched_code_by_code():
    """A table so coarse that a first-quadrant code reaches the axis (Q = 5 with 2 fraction bits:
    code 7 is (1, 4), its turn by 270 degrees, code 31, is (4, -1), and the vector (1, 0) projects
    4 on both code 0 and code 31) turns by 90 degrees every quarter but is not regular in the
    first quadrant, where the first-quadrant search would miss the tie: it is searched code by
    code, with nearest_code's codes."""
    lut_c, lut_s = _read_only(*HardwareSpec(16, 4, 4, 5, lut=FixedPointFormat(4, 2)).phase_table())
    assert _codes.quarter_symmetric(lut_c, lut_s) and not _codes.first_quadrant_regular(lut_c, lut_s)
    rng = np.random.default_rng(3)
    xr = np.concatenate([rng.integers(-(2**20), 2**20, 2000), rng.integers(-3, 4, 300), lut_c, [2**31 - 1, -(2**31), 1]])
    xi = np.concatenate([rng.integers(-(2**20), 2**20, 2000), rng.integers(-3, 4, 300), lut_s, [-(2**31), 5, 0]])
    out, work = np.empty_like(xr), [np.empty_like(xr) for _ in range(4)]
    _codes.nearest_codes_block(xr, xi, lut_c, lut_s, out, *work)
    np.testing.assert_array_equal(out, [_codes.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in zip(xr, xi)])


@pytest.mark.parametrize("q", [1, 2, 3, 4, 6, 8])
def test_fast_nearest_code_equals_brute_force(q):
    spec = HardwareSpec(16, 4, 4, q)
    lut_c, lut_s = kernels.phase_lut(spec)
    ref = naive_fixed.Datapath(spec)
    rng = np.random.default_rng(q)
    vectors = [tuple(v) for v in rng.integers(-(2**18), 2**18, (3000, 2))]
    vectors += [tuple(v) for v in rng.integers(-4, 5, (200, 2))]  # tiny vectors: many near-ties
    # exact ties between neighbouring codes: the bisector of two table entries
    for c in range(2**q):
        d = (c + 1) % 2**q
        vectors.append((int(lut_c[c] + lut_c[d]), int(lut_s[c] + lut_s[d])))
        vectors.append((int(lut_c[c]), int(lut_s[c])))
    vectors += [(-5, 0), (-5, -1), (-5, 1), (0, 7), (0, -7), (1, 0)]  # at and around +-pi
    vectors += [(430, -260)]  # Q=8: ties codes 233 and 235 while 234 projects less
    for xr, xi in vectors:
        assert _codes.nearest_code(int(xr), int(xi), lut_c, lut_s) == ref.nearest(int(xr), int(xi))


def test_nearest_code_agrees_with_phase_to_code_away_from_ties():
    spec = HardwareSpec(16, 4, 4, 5)
    lut_c, lut_s = kernels.phase_lut(spec)
    theta = np.random.default_rng(3).uniform(-np.pi, np.pi, 2000)
    step = 2 * np.pi / 32
    theta = theta[np.abs(((theta / step) % 1) - 0.5) > 0.01]  # not within 1% of a tie
    xr, xi = np.round(np.cos(theta) * 2**20), np.round(np.sin(theta) * 2**20)
    ours = [_codes.nearest_code(int(a), int(b), lut_c, lut_s) for a, b in zip(xr, xi)]
    assert np.array_equal(ours, phase_to_code(theta, 5))


def _run_both(H, p_t, noise, mu, lam, spec, layer_specs=None, xi=None, search=None):
    res = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, mu, lam,
                                  spec, layer_specs, xi=xi, search=search)
    for b in range(H.shape[0]):
        codes, W, counts = naive_fixed.forward(H[b], p_t[b], noise[b], mu, lam, spec, layer_specs, xi=xi,
                                               search=None if search is None else (search.sweeps, search.span))
        assert res.codes[b].tolist() == codes, f"codes differ in channel {b}"
        assert res.w_re[b].tolist() == [[w[0] for w in row] for row in W], f"W re differs in channel {b}"
        assert res.w_im[b].tolist() == [[w[1] for w in row] for row in W], f"W im differs in channel {b}"
        assert {k: int(v[b]) for k, v in res.counters.items()} == counts, f"counters differ in channel {b}"
    return res


def _problem(B, N, K, seed, snr=(-10, 25)):
    H = saleh_valenzuela_miso(B, N, K, seed=seed)
    rng = np.random.default_rng(seed)
    return H, 10 ** (rng.uniform(*snr, B) / 10), rng.uniform(0.5, 2.0, B)


STEPS = (np.array([[0.05, 0.02], [0.2, 0.01], [0.11, 0.3]]), np.array([3e-3, 1e-4, 2e-2]))


@pytest.mark.parametrize("q,word,M,K,rounding", [(4, 12, 4, 4, "half_up"), (1, 12, 4, 4, "half_up"),
                                                 (2, 16, 5, 3, "half_even"), (8, 16, 4, 4, "floor"),
                                                 (3, 10, 4, 2, "half_even")])
def test_bit_exact_on_random_channels(q, word, M, K, rounding):
    fmt = lambda w, f: FixedPointFormat(w, f, rounding)  # noqa: E731
    spec = HardwareSpec(16, M, K, q, channel=fmt(16, 12), precoder=fmt(word, word - 2), lut=fmt(12, 10),
                        gradient=fmt(24, 16), step=fmt(32, 24), accumulator=fmt(32, 16))
    H, p_t, noise = _problem(40, 16, K, seed=q * 10 + K)
    res = _run_both(H, p_t, noise, *STEPS, spec)
    assert res.codes.min() >= 0 and res.codes.max() < 2**q


@pytest.mark.parametrize("xi,rounding", [(1.0, "half_up"), (0.0, "half_even"), (2.5, "floor")])
def test_output_stage_bit_exact(xi, rounding):
    fmt = lambda w, f: FixedPointFormat(w, f, rounding)  # noqa: E731
    base = HardwareSpec(16, 4, 4, 2, channel=fmt(16, 12), precoder=fmt(12, 10), lut=fmt(12, 10),
                        gradient=fmt(24, 16), step=fmt(32, 24), accumulator=fmt(32, 16))
    layers = [base.replace(phase_bits=6), base.replace(phase_bits=6), base]  # 6-bit internal layers, Q=2 out
    H, p_t, noise = _problem(30, 16, 4, seed=int(10 * xi) + 3)
    res = _run_both(H, p_t, noise, *STEPS, base, layers, xi=xi)
    X = res.analog() @ res.digital()
    assert np.allclose(np.sum(np.abs(X) ** 2, axis=(1, 2)), p_t, rtol=1e-2)  # power budget kept
    if xi == 0.0:  # zero forcing: the effective channel H^H F W is diagonal up to the W words' rounding
        E = np.conj(np.swapaxes(H, 1, 2)) @ X
        off = np.abs(E - np.eye(4) * np.diagonal(E, axis1=1, axis2=2)[:, None, :]).max(axis=(1, 2))
        assert np.all(off < 0.05 * np.abs(np.diagonal(E, axis1=1, axis2=2)).min(axis=1))


def _embedded_q2(B):
    """B channels at N=64, M=K=4, 20 dB, Q=2, ten plain layers: the kernel's arguments and H."""
    H, _, _ = _problem(B, 64, 4, seed=12)
    mu, lam = np.full((10, 1), 0.1), np.full(10, 2e-3)
    return (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), np.full(B, 100.0), np.ones(B), mu, lam,
            HardwareSpec(64, 4, 4, 2)), H


def test_output_stage_improves_the_low_resolution_design_and_rejects_bad_xi():
    args, H = _embedded_q2(200)
    plain, wiener = kernels.upga_forward_hw(*args), kernels.upga_forward_hw(*args, xi=1.0)
    assert np.array_equal(plain.codes, wiener.codes)  # the stage changes W only
    rate = lambda r: sum_rate_np(H, r.analog() @ r.digital(), 1.0).mean()  # noqa: E731
    assert rate(wiener) > 1.005 * rate(plain)  # measured: +1.2 %
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(ConfigError, match="xi"):
            kernels.upga_forward_hw(*args, xi=bad)

def test_log2_of_the_code_search_equals_the_reference_and_log2():
    from hbf_edge.kernels.upga import _search as s

    ref = naive_fixed.Datapath(HardwareSpec(16, 4, 4, 2))
    table = s.log2_table()
    xs = [1, 2, 3, 1023, 1024, 1025, 2**40 + 12345, 2**62 - 1] + [int(v) for v in
                                                                  np.random.default_rng(4).integers(1, 2**50, 2000)]
    for x in xs:
        got = s.log2_fx(x, table)
        assert got == ref.log2(x)
        assert abs(got / 2**16 - math.log2(x)) < 1.5e-3  # truncated 10-bit mantissa: < log2(1 + 2^-10)


@pytest.mark.parametrize("q,span,rounding", [(1, 1, "half_up"), (2, 1, "half_even"), (3, 2, "floor"),
                                             (3, 4, "half_up")])
def test_code_search_bit_exact(q, span, rounding):
    fmt = lambda w, f: FixedPointFormat(w, f, rounding)  # noqa: E731
    base = HardwareSpec(8, 4, 3, q, channel=fmt(16, 12), precoder=fmt(12, 10), lut=fmt(12, 10),
                        gradient=fmt(24, 16), step=fmt(32, 24), accumulator=fmt(32, 16))
    layers = [base.replace(phase_bits=6), base.replace(phase_bits=6), base]  # 6-bit internal layers, Q-bit out
    H, p_t, noise = _problem(4, 8, 3, seed=40 + q + span, snr=(10, 25))
    search = kernels.CodeSearch(sweeps=2, span=span)
    res = _run_both(H, p_t, noise, *STEPS, base, layers, xi=1.0, search=search)
    plain = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS,
                                    base, layers, xi=1.0)
    assert not np.array_equal(res.codes, plain.codes)  # the search moved some codes


def test_code_search_bit_exact_when_saturating():
    H, p_t, noise = _problem(3, 8, 4, seed=6, snr=(20, 40))
    tight = HardwareSpec(8, 4, 4, 2, channel=FixedPointFormat(12, 8), precoder=FixedPointFormat(8, 6),
                         gradient=FixedPointFormat(16, 10), step=FixedPointFormat(20, 14),
                         accumulator=FixedPointFormat(24, 12))
    res = _run_both(H * 12.0, p_t, noise, *STEPS, tight, xi=1.0, search=kernels.CodeSearch(1, 1))
    assert res.counters["output"].sum() > 0


def test_code_search_raises_the_sum_rate_and_rejects_bad_settings():
    args, H = _embedded_q2(100)
    rate = lambda r: sum_rate_np(H, r.analog() @ r.digital(), 1.0)  # noqa: E731
    wiener = rate(kernels.upga_forward_hw(*args, xi=1.0))
    one, two = (rate(kernels.upga_forward_hw(*args, xi=1.0, search=kernels.CodeSearch(s, 1))) for s in (1, 2))
    assert np.all(one >= wiener - 1e-3) and np.all(two >= one - 1e-3)  # each accepted move raises the score
    assert two.mean() > 1.01 * wiener.mean()
    with pytest.raises(ConfigError, match="output stage"):
        kernels.upga_forward_hw(*args, search=kernels.CodeSearch())
    for bad in (dict(sweeps=0), dict(span=True), dict(span=1.5), dict(sweeps=1000)):
        with pytest.raises(ConfigError):
            kernels.CodeSearch(**bad)
    for bad in ({"sweeps": 1}, {"sweeps": 1, "span": 1, "x": 2}, [1, 1]):
        with pytest.raises(ConfigError):
            kernels.CodeSearch.from_dict(bad)
    assert kernels.CodeSearch.from_dict({"sweeps": 3, "span": 2}) == kernels.CodeSearch(3, 2)
    from hbf_edge.kernels.upga.hardware import prepare_hw_inputs, run_search

    x = prepare_hw_inputs(*args, xi=1.0)
    good = (np.zeros((100, 64, 4), np.int64), np.zeros((100, 4, 4), np.int64), np.zeros((100, 4, 4), np.int64),
            np.zeros((100, len(kernels.COUNTER_SITES) - 1), np.int64))
    for i, bad in ((0, np.full((100, 64, 4), 4, np.int64)), (0, np.zeros((100, 64, 4), np.int32)),
                   (1, np.zeros((100, 4, 3), np.int64))):
        with pytest.raises((ConfigError, ShapeError)):
            run_search(x, kernels.CodeSearch(), *good[:i], bad, *good[i + 1:])


def test_bit_exact_when_saturating_and_wrapping():
    H, p_t, noise = _problem(30, 16, 4, seed=5, snr=(20, 40))
    H = H * 12.0  # beyond the channel range (input saturation), large powers and gradients
    tight = HardwareSpec(16, 4, 4, 3, channel=FixedPointFormat(12, 8), precoder=FixedPointFormat(8, 6),
                         gradient=FixedPointFormat(16, 10), step=FixedPointFormat(20, 14),
                         accumulator=FixedPointFormat(24, 12))
    res = _run_both(H, p_t, noise, *STEPS, tight, xi=1.0)
    hit = {k for k, v in res.counters.items() if v.sum() > 0}
    assert {"input", "power", "reciprocal", "C", "grad_F", "grad_W", "norm", "output"} <= hit, hit
    wrap = tight.replace(accumulator=FixedPointFormat(24, 12, saturate=False),
                         gradient=FixedPointFormat(16, 10, "half_even", saturate=False))
    res = _run_both(H[:10], p_t[:10], noise[:10], *STEPS, wrap)
    assert res.total_overflows.sum() > 0


def test_bit_exact_on_phase_boundaries():
    # channel entries on the +-pi cut and exactly between two codes (after quantisation)
    q, lsb = 3, 2.0**-12
    spec = HardwareSpec(8, 4, 4, q)
    rng = np.random.default_rng(9)
    H = np.empty((12, 8, 4), complex)
    for b in range(12):
        mags = rng.integers(50, 4000, (8, 4)) * lsb
        kind = rng.integers(0, 4, (8, 4))
        eps = rng.integers(1, 3, (8, 4)) * lsb
        H[b] = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                         [-mags + 0j, -mags - 1j * eps, -mags + 1j * eps, mags * (-1 + 1j)])  # pi, below, above, tie
    p_t, noise = np.full(12, 10.0), np.ones(12)
    res = _run_both(H, p_t, noise, *STEPS, spec)
    assert res.codes.shape == (12, 8, 4)


def test_bit_exact_with_per_layer_precision():
    # hls4ml-style overrides: 6 phase bits and 14-bit W in layer 0, 3 bits / 12-bit W after,
    # then 2 bits with a 10-bit W whose words saturate
    base = HardwareSpec(16, 4, 4, 3)
    layers = [base.replace(phase_bits=6, precoder=FixedPointFormat(14, 12)), base,
              base.replace(phase_bits=2, precoder=FixedPointFormat(10, 9))]
    H, p_t, noise = _problem(25, 16, 4, seed=21)
    res = _run_both(H, p_t, noise, *STEPS, base, layers)
    assert res.phase_bits == 2 and res.w_format == FixedPointFormat(10, 9) and res.codes.max() < 4
    with pytest.raises(ConfigError, match="model-wide"):
        kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS, base,
                                [base, base.replace(step=FixedPointFormat(24, 20)), base])
    with pytest.raises(ConfigError, match="layer specs"):
        kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS, base,
                                [base])


def test_rate_with_8_phase_bits_and_16_bit_w_is_within_1_percent_of_float():
    H, _, _ = _problem(300, 64, 4, seed=11)
    mu, lam = np.full((10, 1), 0.1), np.full(10, 2e-3)
    for snr in (0.0, 10.0, 20.0):
        p_t, noise = np.full(300, 10 ** (snr / 10)), np.ones(300)
        fr, fi, wr, wi = kernels.upga_forward(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag),
                                              p_t, noise, mu, lam, 4)
        spec = HardwareSpec(64, 4, 4, 8, precoder=FixedPointFormat(16, 14))
        hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, mu, lam, spec)
        X_hw = hw.analog() @ hw.digital()
        assert np.allclose(np.sum(np.abs(X_hw) ** 2, axis=(1, 2)), p_t, rtol=2e-3)  # power budget kept
        r_float = sum_rate_np(H, (fr + 1j * fi) @ (wr + 1j * wi), 1.0).mean()
        assert sum_rate_np(H, X_hw, 1.0).mean() >= 0.99 * r_float
        assert hw.total_overflows.sum() == 0


def test_bad_specs_and_inputs():
    H, p_t, noise = _problem(2, 16, 4, seed=1)
    args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS)
    for spec in [HardwareSpec(16, 4, 4, None), HardwareSpec(16, 4, 4, 9),
                 HardwareSpec(16, 4, 4, 4, precoder=FixedPointFormat(20, 18)),
                 HardwareSpec(16, 4, 4, 4, lut=FixedPointFormat(12, 11)),
                 HardwareSpec(16, 4, 4, 4, gradient=FixedPointFormat(24, 8))]:
        with pytest.raises(ConfigError):
            kernels.upga_forward_hw(*args, spec)
    with pytest.raises(ShapeError):
        kernels.upga_forward_hw(*args, HardwareSpec(32, 4, 4, 4))
    with pytest.raises(ConfigError, match="LSB"):
        kernels.upga_forward_hw(*args[:2], np.full(2, 1e12), noise, *STEPS, HardwareSpec(16, 4, 4, 4))


@pytest.mark.slow
def test_bit_exact_on_1000_channels_at_the_embedded_size():
    """The issue's acceptance run: N=64, M=K=4, I=10, Q=4, 12-bit W (about 2 minutes)."""
    H, p_t, noise = _problem(1000, 64, 4, seed=2026)
    rng = np.random.default_rng(0)
    mu, lam = 0.01 * rng.uniform(1, 30, (10, 1)), 1e-4 * rng.uniform(1, 200, 10)
    _run_both(H, p_t, noise, mu, lam, HardwareSpec(64, 4, 4, 4))


def test_stage_kernels_compose_to_the_forward():
    """Init, one layer at a time and the output stage (what the profiler times) equal the fused
    forward exactly."""
    from hbf_edge.kernels.upga import _batch as k
    from hbf_edge.kernels.upga._fixed import SITES
    from hbf_edge.kernels.upga.hardware import prepare_hw_inputs

    base = HardwareSpec(16, 4, 4, 3)
    layers = [base.replace(phase_bits=5), base, base.replace(precoder=FixedPointFormat(10, 8))]
    H, p_t, noise = _problem(8, 16, 4, seed=33)
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS, base, layers,
                          xi=0.7)
    full = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS,
                                   base, layers, xi=0.7)
    codes = np.empty((8, 16, 4), np.int64)
    w_r, w_i = np.empty((8, 4, 4), np.int64), np.empty((8, 4, 4), np.int64)
    counts = np.zeros((8, len(SITES)), np.int64)
    for init, first, last, output in ((True, 0, 0, False), (False, 0, 1, False), (False, 1, 2, False),
                                      (False, 2, 3, False), (False, 3, 3, True)):
        k.steps_fx_range(x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, x.lut_c, x.lut_s, x.n_codes, x.fms, codes, w_r, w_i,
                         counts, np.bool_(init), np.int64(first), np.int64(last), np.bool_(output), np.int64(1),
                         np.int64(0), np.int64(8))
    assert np.array_equal(codes, full.codes) and np.array_equal(w_r, full.w_re) and np.array_equal(w_i, full.w_im)
    assert all(np.array_equal(counts[:, j], full.counters[s]) for j, s in enumerate(SITES))
