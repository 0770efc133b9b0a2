"""Float kernels against the naive reference, the torch UPGA forward, and bad inputs."""

import numpy as np
import pytest
import torch

from hbf_edge import kernels
from hbf_edge import ConfigError, DTypeError, InvalidChannelError, ShapeError
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.kernels._core.batching import SERIAL_BELOW
from hbf_edge.families.upga.model import UPGA

import naive


def _split(z, dtype=np.float64):
    return np.ascontiguousarray(z.real, dtype), np.ascontiguousarray(z.imag, dtype)


def _problem(B, N, K, seed):
    H = saleh_valenzuela_miso(B, N, K, seed=seed)
    rng = np.random.default_rng(seed)
    p_t = 10 ** (rng.uniform(-10, 20, B) / 10)
    noise = rng.uniform(0.5, 2.0, B)
    return H, p_t, noise


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("N,M,K,I,J", [(16, 4, 4, 3, 2), (12, 6, 3, 2, 1), (10, 3, 2, 2, 1)])
def test_forward_equals_naive_reference(N, M, K, I, J):
    H, p_t, noise = _problem(6, N, K, seed=N + M)
    rng = np.random.default_rng(1)
    mu = 0.01 * rng.uniform(0.5, 20, (I, J))
    lam = 1e-4 * rng.uniform(0.5, 50, I)
    f_re, f_im, w_re, w_im = kernels.upga_forward(*_split(H), p_t, noise, mu, lam, M)
    F, W = naive.forward(H, p_t, noise, mu, lam, M)
    assert _rel(f_re + 1j * f_im, F) < 1e-10 and _rel(w_re + 1j * w_im, W) < 1e-10


def test_single_steps_equal_naive():
    H, p_t, noise = _problem(5, 16, 4, seed=2)
    F0 = np.exp(1j * np.random.default_rng(0).uniform(0, 6.3, (5, 16, 4)))
    W0 = np.random.default_rng(1).standard_normal((5, 4, 4)) + 1j
    fr, fi = kernels.f_step(*_split(H), *_split(F0), *_split(W0), noise, 0.05)
    F1 = np.stack([naive.project(F0[b] + 0.05 * naive.grad_F(H[b], F0[b], W0[b], noise[b])) for b in range(5)])
    assert _rel(fr + 1j * fi, F1) < 1e-12
    wr, wi = kernels.w_step(*_split(H), *_split(F0), *_split(W0), p_t, noise, 0.002)
    W1 = np.stack([naive.normalize(F0[b], W0[b] + 0.002 * naive.grad_W(H[b], F0[b], W0[b], noise[b]), p_t[b])
                   for b in range(5)])
    assert _rel(wr + 1j * wi, W1) < 1e-12
    f_re, f_im, w_re, w_im = kernels.upga_init(*_split(H), p_t, 5)
    for b in range(5):
        F, W = naive.init(H[b], p_t[b], 5)
        assert _rel(f_re[b] + 1j * f_im[b], F) < 1e-12 and _rel(w_re[b] + 1j * w_im[b], W) < 1e-10


def test_layers_compose_to_forward():
    H, p_t, noise = _problem(4, 16, 4, seed=3)
    mu, lam = np.full((4, 2), 0.03), np.full(4, 3e-4)
    full = kernels.upga_forward(*_split(H), p_t, noise, mu, lam, 4)
    state = kernels.upga_init(*_split(H), p_t, 4)
    for i in range(4):
        state = kernels.upga_layers(*_split(H), *state, p_t, noise, mu[i : i + 1], lam[i : i + 1])
    # Not bit for bit: the forward reuses each W-step's G = H^H F in the next layer, where a
    # layer run alone forms it itself, and under fastmath reassociation the same product may
    # round differently where it is compiled into another function.
    for a, b in zip(full, state):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_iterates_are_init_then_layers_one_at_a_time_bit_for_bit():
    """``upga_iterates`` checks once and runs the same layer driver in place: each design is
    ``upga_init`` / ``upga_layers``'s, bit for bit, and bad input is refused as theirs is."""
    H, p_t, noise = _problem(SERIAL_BELOW + 3, 16, 3, seed=5)  # the parallel driver
    mu, lam = np.full((3, 2), 0.03), np.full(3, 3e-4)
    state = kernels.upga_init(*_split(H), p_t, 4)
    for i, design in enumerate(kernels.upga_iterates(*_split(H), p_t, noise, mu, lam, 4)):
        if i:
            state = kernels.upga_layers(*_split(H), *state, p_t, noise, mu[i - 1 : i], lam[i - 1 : i])
        assert all(np.array_equal(a, b) for a, b in zip(design, state))
    assert i == 3
    with pytest.raises(ValueError, match="noise"):
        next(kernels.upga_iterates(*_split(H), p_t, -noise, mu, lam, 4))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_forward_equals_torch_on_1000_channels(dtype, tol):
    H, p_t, noise = _problem(1000, 64, 4, seed=7)
    net = UPGA(10, 1, 4)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # trained-looking steps: spread around the paper's values
        net.mu.mul_(torch.rand(10, 1, dtype=torch.float64, generator=g) * 20)
        net.lam.mul_(torch.rand(10, dtype=torch.float64, generator=g) * 40)
    args = [*_split(H, dtype), p_t.astype(dtype), noise.astype(dtype)]
    ours = kernels.upga_forward(*args, net.mu.detach().numpy(), net.lam.detach().numpy(), 4)
    with torch.no_grad():
        ref = net(*[torch.from_numpy(a) for a in args])
    for a, r in zip(ours, ref):
        assert a.dtype == dtype
        assert _rel(a, r.numpy()) < tol


def test_load_upga_from_model_dir(tmp_path):
    from hbf_edge.modeldir import ModelConfig, save_model
    from hbf_edge.hw.spec import HardwareSpec

    net = UPGA(3, 2, 4)
    save_model(net, ModelConfig("upga", HardwareSpec(16, 4, 4, None), 3, 2), tmp_path / "m")
    steps = kernels.load_upga(tmp_path / "m")
    assert steps.mu.shape == (3, 2) and steps.n_layers == 3 and steps.n_rf == 4
    assert np.array_equal(steps.lam, net.lam.detach().numpy())


def test_bad_inputs_get_clear_errors():
    H, p_t, noise = _problem(3, 8, 2, seed=4)
    hr, hi = _split(H)
    mu, lam = np.full((2, 1), 0.01), np.full(2, 1e-4)
    ok = (hr, hi, p_t, noise, mu, lam, 2)
    kernels.upga_forward(*ok)
    cases = [
        ((hr.astype(np.float32), hi, p_t, noise, mu, lam, 2), DTypeError),
        ((hr.astype(np.int64), hi, p_t, noise, mu, lam, 2), DTypeError),
        ((np.asfortranarray(hr), hi, p_t, noise, mu, lam, 2), DTypeError),
        ((hr.tolist(), hi, p_t, noise, mu, lam, 2), DTypeError),
        ((hr[0], hi[0], p_t, noise, mu, lam, 2), ShapeError),
        ((hr, hi[:, :4], p_t, noise, mu, lam, 2), ShapeError),
        ((hr, hi, p_t[:2], noise, mu, lam, 2), ShapeError),
        ((hr, hi, -p_t, noise, mu, lam, 2), ConfigError),
        ((hr, hi, p_t, 0 * noise, mu, lam, 2), ConfigError),
        ((hr, hi, p_t, noise, mu[:1], lam, 2), ShapeError),
        ((hr, hi, p_t, noise, np.zeros((0, 1)), np.zeros(0), 2), ConfigError),
        ((hr, hi, p_t, noise, mu * np.nan, lam, 2), ConfigError),
        ((hr, hi, p_t, noise, mu, lam, 1), ConfigError),
        ((hr, hi, p_t, noise, mu, lam, 9), ConfigError),
    ]
    for args, err in cases:
        with pytest.raises(err):
            kernels.upga_forward(*args)
    nan = hr.copy()
    nan[1, 2, 0] = np.nan
    with pytest.raises(InvalidChannelError):
        kernels.upga_forward(nan, hi, p_t, noise, mu, lam, 2)
    zr, zi = hr.copy(), hi.copy()
    zr[2, :, 1] = 0
    zi[2, :, 1] = 0
    with pytest.raises(InvalidChannelError, match="all zero"):
        kernels.upga_forward(zr, zi, p_t, noise, mu, lam, 2)
    # errors are also the builtin types callers expect
    assert issubclass(DTypeError, TypeError) and issubclass(ShapeError, ValueError)


@pytest.mark.parametrize("batch", [2, 6])
def test_upga_forward_names_the_bad_value_on_both_paths(batch):
    """Below SERIAL_BELOW the values are checked inside the forward's compiled call, above it in a
    compiled pass before it; either way numpy's checks then name the problem in one line."""
    rng = np.random.default_rng(3)
    hr, hi = (rng.standard_normal((batch, 8, 2)) for _ in range(2))
    p_t, noise = np.full(batch, 10.0), np.ones(batch)
    mu, lam = np.full((3, 1), 0.05), np.full(3, 1e-3)
    nan, zr, zi = hr.copy(), hr.copy(), hi.copy()
    nan[1, 2, 0] = np.inf
    zr[1, :, 1] = zi[1, :, 1] = 0
    bad_p = p_t.copy()
    bad_p[-1] = np.nan
    for args, error, match in [((nan, hi, p_t, noise), InvalidChannelError, "h_re holds NaN or inf"),
                               ((zr, zi, p_t, noise), InvalidChannelError, "channel 1 of user 1 is all zero"),
                               ((hr, hi, bad_p, noise), ConfigError, "p_t must be finite and > 0"),
                               ((hr, hi, p_t, -noise), ConfigError, "noise must be finite and > 0")]:
        with pytest.raises(error, match=match):
            kernels.upga_forward(*args, mu, lam, 2)


def test_a_session_gives_upga_forward_and_checks_shapes():
    """The real-time path: the designs of the checked wrapper, call after call (its outputs are
    reused), to the rounding level (the session's forward is compiled for its M and K, whose
    sums associate differently); a channel of another shape, dtype or layout refused."""
    import numpy as np
    import pytest

    from hbf_edge import kernels
    from hbf_edge.channels import saleh_valenzuela_miso

    rng = np.random.default_rng(3)
    mu, lam = 0.01 * rng.uniform(1, 20, (4, 2)), 1e-4 * rng.uniform(1, 50, 4)
    session = kernels.UpgaSession(kernels.UpgaSteps(mu, lam, 16, 4, 3), batch=2)
    for seed in (1, 2):
        H = saleh_valenzuela_miso(2, 16, 3, 4, seed=seed)
        args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), np.full(2, 10.0), np.ones(2))
        got = session.run(*args)
        want = kernels.upga_forward(*args, mu, lam, 4)
        assert all(np.allclose(a, b, rtol=1e-12, atol=1e-13) for a, b in zip(got, want))
    with pytest.raises(ValueError, match="shape"):
        session.run(args[0][:1], args[1][:1], args[2][:1], args[3][:1])
    with pytest.raises(ValueError, match="noise must be a C-contiguous"):
        session.run(*args[:3], np.ones(4)[::2])
    with pytest.raises(ValueError, match="float64"):
        session.run(args[0].astype(np.float32), *args[1:])
    with pytest.raises(ValueError, match="h_im must be"):  # the dispatch refuses 2-D, the check names it
        session.run(args[0], args[1][0], *args[2:])
    with pytest.raises(ValueError, match="p_t must be"):  # the compiled shape check, then the name
        session.run(*args[:2], np.full(3, 10.0), args[3])
    with pytest.raises(ValueError, match="h_re must be"):
        session.run(args[0].tolist(), *args[1:])
    frozen = args[0].copy()
    frozen.flags.writeable = False  # another Numba type: not the session's own, still accepted
    assert all(np.allclose(a, b, rtol=1e-12, atol=1e-13) for a, b in zip([x.copy() for x in session.run(*args)],
                                                                         session.run(frozen, *args[1:])))
    with pytest.raises(ValueError, match="batch"):
        kernels.UpgaSession(kernels.UpgaSteps(mu, lam, 16, 4, 3), batch=0)
    # bad values: the same one-line errors as upga_forward, in both dtypes (float32 through the
    # parallel driver: its compilation for M=4, K=3 would take ~55 s; the slow test below has it)
    from hbf_edge import ConfigError, InvalidChannelError
    from hbf_edge.kernels._core.batching import SERIAL_BELOW

    for dtype, batch in ((np.float64, 2), (np.float32, SERIAL_BELOW)):
        s = kernels.UpgaSession(kernels.UpgaSteps(mu, lam, 16, 4, 3), batch=batch, dtype=dtype)
        good = [np.resize(a, (batch, *a.shape[1:])).astype(dtype) for a in args]
        nan, zero = good[0].copy(), [good[0].copy(), good[1].copy()]
        nan[1, 5, 2] = np.inf
        zero[0][0, :, 1] = 0
        zero[1][0, :, 1] = 0
        negative, not_a_number = good[2].copy(), good[3].copy()
        negative[1], not_a_number[0] = -1, np.nan
        for bad, error, match in [((nan, *good[1:]), InvalidChannelError, "NaN or inf"),
                                  ((*zero, *good[2:]), InvalidChannelError, "all zero"),
                                  ((*good[:2], negative, good[3]), ConfigError, "> 0"),
                                  ((*good[:3], not_a_number), ConfigError, "> 0")]:
            with pytest.raises(error, match=match):
                s.run(*bad)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert all(np.allclose(a, b, rtol=tol, atol=tol) for a, b in zip(s.run(*good), kernels.upga_forward(*good, mu, lam, 4)))


@pytest.mark.slow  # ~55 s: the forward compiled for float32 and M=4, K=3
def test_a_float32_session_runs_the_forward_compiled_for_its_sizes():
    """The float32 real-time path (batch below SERIAL_BELOW) gives upga_forward's designs to
    float32 rounding, and refuses a float64 channel in one line."""
    rng = np.random.default_rng(3)
    mu, lam = 0.01 * rng.uniform(1, 20, (4, 2)), 1e-4 * rng.uniform(1, 50, 4)
    session = kernels.UpgaSession(kernels.UpgaSteps(mu, lam, 16, 4, 3), batch=2, dtype=np.float32)
    H = saleh_valenzuela_miso(2, 16, 3, 4, seed=1)
    args = (*_split(H, np.float32), np.full(2, 10.0, np.float32), np.ones(2, np.float32))
    want = kernels.upga_forward(*args, mu, lam, 4)
    assert all(np.allclose(a, b, rtol=1e-5, atol=1e-5) for a, b in zip(session.run(*args), want))
    with pytest.raises(ValueError, match="float32"):
        session.run(args[0].astype(np.float64), *args[1:])


def test_small_batches_run_serially_and_give_the_parallel_results():
    """Below SERIAL_BELOW channels the forward runs in the calling thread (float and hardware);
    each channel's design is the one the parallel driver gives it in a larger batch, bit for bit
    in float too: the parallel loop calls the serial loop's compiled code through its address
    (:func:`kernels._core.jit.first_class`).  Before, it compiled that loop again inside itself,
    where the reassociated sums (``fastmath``) could round differently (seen: 1e-16 in the first
    ``-n 2`` run after a kernel source changed)."""
    from hbf_edge.kernels._core.batching import SERIAL_BELOW

    H, p_t, noise = _problem(SERIAL_BELOW + 5, 16, 4, seed=3)
    rng = np.random.default_rng(2)
    mu, lam = 0.01 * rng.uniform(0.5, 20, (3, 1)), 1e-4 * rng.uniform(0.5, 50, 3)
    hr, hi = _split(H)
    big = kernels.upga_forward(hr, hi, p_t, noise, mu, lam, 4)
    n = SERIAL_BELOW - 1
    small = kernels.upga_forward(hr[:n].copy(), hi[:n].copy(), p_t[:n].copy(), noise[:n].copy(), mu, lam, 4)
    for a, b in zip(small, big):
        np.testing.assert_array_equal(a, b[:n])
    f32 = [x.astype(np.float32) for x in (hr, hi, p_t, noise)]
    big = kernels.upga_forward(*f32, mu, lam, 4)
    small = kernels.upga_forward(*(x[:n].copy() for x in f32), mu, lam, 4)
    for a, b in zip(small, big):
        np.testing.assert_array_equal(a, b[:n])
    from hbf_edge import HardwareSpec

    spec = HardwareSpec(16, 4, 4, phase_bits=3)
    big = kernels.upga_forward_hw(hr, hi, p_t, noise, mu, lam, spec)
    small = kernels.upga_forward_hw(hr[:n].copy(), hi[:n].copy(), p_t[:n].copy(), noise[:n].copy(), mu, lam, spec)
    np.testing.assert_array_equal(small.codes, big.codes[:n])
    np.testing.assert_array_equal(small.w_re, big.w_re[:n])
    for site, count in small.counters.items():
        np.testing.assert_array_equal(count, big.counters[site][:n])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_channels_design_does_not_depend_on_its_group_of_lanes(dtype):
    """The channel loop runs up to LANES channels at once, their small algebra across the
    channels (``kernels/upga/_float_lanes.py``): each channel's design is the same bits whether
    it runs alone, in a short group (the lane loops' scalar remainder) or in full groups (their
    vector bodies), at M, K of 4 (the sums four terms per pass) and others (the tails), and a
    lone channel through ``upga_forward`` (its compiled check, then the same loop)."""
    from hbf_edge.kernels.upga._float_lanes import LANES, steps_range

    for M, K, seed in ((4, 4, 11), (6, 3, 12)):
        B = 2 * LANES + 6
        H, p_t, noise = _problem(B, 16, K, seed=seed)
        rng = np.random.default_rng(seed)
        mu, lam = 0.01 * rng.uniform(0.5, 20, (3, 2)), 1e-4 * rng.uniform(0.5, 50, 3)
        args = [*_split(H, dtype), p_t.astype(dtype), noise.astype(dtype), mu.astype(dtype), lam.astype(dtype)]

        def run(lo, hi, out):
            steps_range(*args, *out, dtype(0), np.bool_(True), np.int64(0), np.int64(3), np.int64(1), np.int64(lo),
                        np.int64(hi))

        def outputs():
            return [np.zeros((B, 16, M), dtype), np.zeros((B, 16, M), dtype), np.zeros((B, M, K), dtype),
                    np.zeros((B, M, K), dtype)]

        whole, alone, fives = outputs(), outputs(), outputs()
        run(0, B, whole)
        for b in range(B):
            run(b, b + 1, alone)
        for b in range(0, B, 5):
            run(b, min(B, b + 5), fives)
        for w, a, f in zip(whole, alone, fives):
            np.testing.assert_array_equal(a, w)
            np.testing.assert_array_equal(f, w)
        lone = kernels.upga_forward(*(a[5:6].copy() for a in args[:4]), mu, lam, M)  # forward_checked
        for w, a in zip(whole, lone):
            np.testing.assert_array_equal(a[0], w[5])
        naive_w = naive.forward(H[:3], p_t[:3], noise[:3], mu, lam, M)[1]
        assert _rel(whole[2][:3] + 1j * whole[3][:3], naive_w) < (1e-10 if dtype == np.float64 else 1e-3)
