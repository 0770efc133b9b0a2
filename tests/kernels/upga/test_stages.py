"""The profiler's stages against the forward they time, both run by the forwards' own channel
loops (``steps_range``, ``steps_fx_range``) on the state the stages before them leave: one run
of the last layer leaves the state of the whole forward (so a stage is timed on the work the
forward does): the hardware's codes, W words and counters bit for bit; the float state to the
rounding level (the reductions are reassociated, and a function that inlines a reduction may
round it differently: seen in float32 with an empty Numba cache)."""

import numpy as np
import pytest

from hbf_edge import FixedPointFormat, HardwareSpec
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.kernels._core.batching import run_chunks
from hbf_edge.kernels.upga import _batch, _float_batch
from hbf_edge.kernels.upga._fixed import NO_OUTPUT_STAGE, SITES
from hbf_edge.kernels.upga.hardware import prepare_hw_inputs

MU = np.array([[0.05, 0.02], [0.2, 0.01], [0.11, 0.3]])
LAM = np.array([3e-3, 1e-4, 2e-2])


def _close(got, want):
    """Float states equal to the rounding level: a layer run twice or skipped moves them by
    ~1e-3 and more."""
    rtol = 1e-12 if want.dtype == np.float64 else 1e-5
    return np.allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def _channels(B, N, K, seed):
    H = saleh_valenzuela_miso(B, N, K, seed=seed)
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), 10 ** (rng.uniform(0, 20, B) / 10), \
        rng.uniform(0.5, 2.0, B)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_forwards_channel_loop_runs_one_stage_as_the_forward(dtype):
    """The profiler's float stages: ``steps_range`` on the state the layers before a stage
    leave.  The last layer run once gives the whole forward's state; the initialisation or a
    layer run three times stays finite on the unit circle, and the whole forward run twice per
    channel gives the forward's state."""
    B, N, M, K = 2, 16, 5, 3
    hr, hi, p, n = (a.astype(dtype) for a in _channels(B, N, K, 4))
    mu, lam, zero = MU.astype(dtype), LAM.astype(dtype), dtype(0)
    want = [np.empty(s, dtype) for s in ((B, N, M), (B, N, M), (B, M, K), (B, M, K))]
    _float_batch.forward(hr, hi, p, n, mu, lam, *want, zero)
    got = [np.empty_like(a) for a in want]

    def run(init, first, stop, reps):
        _float_batch.steps_range(hr, hi, p, n, mu, lam, *got, zero, np.bool_(init), np.int64(first), np.int64(stop),
                                 np.int64(reps), np.int64(0), np.int64(B))

    last = len(LAM) - 1
    run(True, 0, last, 1)
    run(False, last, last + 1, 1)
    assert all(_close(a, b) for a, b in zip(got, want))
    for init, first, stop in ((True, 0, 0), (False, 0, 1)):
        run(True, 0, first, 1)
        run(init, first, stop, 3)
        assert all(np.isfinite(a).all() for a in got)
        assert np.allclose(got[0] ** 2 + got[1] ** 2, 1, atol=1e-5) and not _close(got[0], want[0])
    run(True, 0, len(LAM), 2)
    assert all(_close(a, b) for a, b in zip(got, want))


def _state(B, N, M, K):
    """codes, W (real, imaginary) and the overflow counters of a batch."""
    return (np.empty((B, N, M), np.int64), np.empty((B, M, K), np.int64), np.empty((B, M, K), np.int64),
            np.zeros((B, len(SITES)), np.int64))


def _steps_fx(x, got, init, first, last, output, reps, threads=False):
    """``steps_fx_range`` on every channel of ``x``: in the calling thread, or in chunks on the
    Python threads as the profiler runs a batch."""
    args = (x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, x.lut_c, x.lut_s, x.n_codes, x.fms, *got, np.bool_(init),
            np.int64(first), np.int64(last), np.bool_(output), np.int64(reps))
    B = x.h_r.shape[0]
    if threads:
        run_chunks(_batch.steps_fx_range, B, *args)
    else:
        _batch.steps_fx_range(*args, np.int64(0), np.int64(B))


@pytest.mark.parametrize("spec", [HardwareSpec(16, 4, 3, 3),
                                  HardwareSpec(16, 4, 3, 3, accumulator=FixedPointFormat(22, 12, saturate=False))])
def test_the_hardware_channel_loop_runs_one_stage_as_the_forward(spec):
    B, N, M, K = 2, 16, 4, 3
    x = prepare_hw_inputs(*_channels(B, N, K, 7), MU, LAM, spec)
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    want = _state(B, N, M, K)
    _batch.forward_fx_serial(x.h_r, x.h_i, x.noise, x.mu, x.lam, NO_OUTPUT_STAGE, *tables, *want)
    last = len(LAM) - 1
    got = _state(B, N, M, K)
    _steps_fx(x, got, True, 0, last, False, 1)
    _steps_fx(x, got, False, last, last + 1, False, 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"
    again = _state(B, N, M, K)
    _steps_fx(x, again, True, 0, len(LAM), False, 2)
    assert all(np.array_equal(a, b) for a, b in zip(again[:3], want[:3]))
    assert np.array_equal(again[3], 2 * want[3])  # the counters count both runs


def test_the_batched_stages_run_the_forwards_last_layer():
    """From ``SERIAL_BELOW`` channels the stage runs over the threads on the state prepared
    before it: one run of the last layer gives the whole forward's state (float and hardware,
    codes, W and overflow counters)."""
    B, N, M, K = 9, 16, 4, 3
    hr, hi, p, n = _channels(B, N, K, 5)
    last = len(LAM) - 1
    want = [np.empty(s) for s in ((B, N, M), (B, N, M), (B, M, K), (B, M, K))]
    _float_batch.forward(hr, hi, p, n, MU, LAM, *want, 0.0)
    got = [np.empty_like(a) for a in want]
    _float_batch.init(hr, hi, p, *got, 0.0)
    _float_batch.layers(hr, hi, p, n, MU[:last], LAM[:last], *got, 0.0)
    run_chunks(_float_batch.steps_range, B, hr, hi, p, n, MU, LAM, *got, 0.0, np.bool_(False), np.int64(last),
               np.int64(last + 1), np.int64(1))
    assert all(_close(a, b) for a, b in zip(got, want))

    x = prepare_hw_inputs(hr, hi, p, n, MU, LAM, HardwareSpec(N, M, K, 3))
    want = _state(B, N, M, K)
    _batch.forward_fx_batch(x.h_r, x.h_i, x.noise, x.mu, x.lam, NO_OUTPUT_STAGE, x.lut_c, x.lut_s, x.n_codes, x.fms,
                            *want)
    got = _state(B, N, M, K)
    _steps_fx(x, got, True, 0, last, False, 1)
    _steps_fx(x, got, False, last, last + 1, False, 1, threads=True)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"


@pytest.mark.parametrize("B", [2, 9])
def test_the_output_stage_runs_as_the_forward_ends(B):
    """The output stage on the last layer's codes: after the layers, one run gives the
    forward's W (with the output stage) and counters, serially and over the threads; the whole
    forward with it, too."""
    N, M, K = 16, 4, 3
    x = prepare_hw_inputs(*_channels(B, N, K, 11), MU, LAM, HardwareSpec(N, M, K, 3), xi=0.5)
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    want = _state(B, N, M, K)
    _batch.forward_fx_serial(x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *want)
    I = len(LAM)
    for threads in (False, True):
        got = _state(B, N, M, K)
        _steps_fx(x, got, True, 0, I, False, 1)
        _steps_fx(x, got, False, I, I, True, 1, threads)
        assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"
    got = _state(B, N, M, K)
    _steps_fx(x, got, True, 0, I, True, 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
