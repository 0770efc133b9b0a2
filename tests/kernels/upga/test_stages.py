"""The profiler's stage loops (``kernels/upga/_stages.py``) against the forward they time: one
run of the last layer, after the loop's own preparation, leaves the state of the whole forward
(so a stage is timed on the work the forward does, G reused included): the hardware's codes, W
words and counters bit for bit, the float state to the rounding level.  The float loops call
the forward's compiled ``channel_steps``, but LLVM may inline it into a caller and fold that
caller's constants, and the reductions are reassociated, so two callers may round a sum
differently (seen in float32 with an empty Numba cache)."""

import numpy as np
import pytest

from hbf_edge import FixedPointFormat, HardwareSpec
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.kernels._core.batching import run_chunks
from hbf_edge.kernels.upga import _batch, _float_batch, _stages
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
def test_the_float_stage_loop_runs_the_forwards_layers(dtype):
    B, N, M, K = 2, 16, 5, 3
    hr, hi, p, n = (a.astype(dtype) for a in _channels(B, N, K, 4))
    mu, lam, zero = MU.astype(dtype), LAM.astype(dtype), dtype(0)
    want = [np.empty(s, dtype) for s in ((B, N, M), (B, N, M), (B, M, K), (B, M, K))]
    _float_batch.forward(hr, hi, p, n, mu, lam, *want, zero)
    last = B - 1  # the loop keeps the real part of the last channel's F, transposed
    for stage, reps in ((len(LAM) - 1, 1), (0, 2), (-1, 3)):
        w_re, w_im, f_t = np.empty((B, M, K), dtype), np.empty((B, M, K), dtype), np.empty((M, N), dtype)
        _stages.float_stage_loop(hr, hi, p, n, mu, lam, w_re, w_im, f_t, zero, stage, reps)
        if stage == len(LAM) - 1:
            assert _close(w_re, want[2]) and _close(w_im, want[3])
            assert _close(f_t, want[0][last].T)
        else:  # repeated stages stay finite, F's real part within the unit circle (the same work each time)
            assert np.isfinite(w_re).all() and np.isfinite(w_im).all() and (np.abs(f_t) <= 1 + 1e-5).all()
            assert not _close(f_t, want[0][last].T)
    got = [np.empty_like(a) for a in want]
    _stages.float_forward_loop(hr, hi, p, n, mu, lam, *got, zero, 2)
    # the same compiled steps_range, yet LLVM may inline it into the loop and round differently
    assert all(_close(a, b) for a, b in zip(got, want))


def _state(B, N, M, K):
    """codes, W (real, imaginary) and the overflow counters of a batch."""
    return (np.empty((B, N, M), np.int64), np.empty((B, M, K), np.int64), np.empty((B, M, K), np.int64),
            np.zeros((B, len(SITES)), np.int64))


@pytest.mark.parametrize("spec", [HardwareSpec(16, 4, 3, 3),
                                  HardwareSpec(16, 4, 3, 3, accumulator=FixedPointFormat(22, 12, saturate=False))])
def test_the_hardware_stage_loop_runs_the_forwards_layers(spec):
    B, N, M, K = 2, 16, 4, 3
    x = prepare_hw_inputs(*_channels(B, N, K, 7), MU, LAM, spec)
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    want = _state(B, N, M, K)
    _batch.forward_fx_serial(x.h_r, x.h_i, x.noise, x.mu, x.lam, NO_OUTPUT_STAGE, *tables, *want)
    got = _state(B, N, M, K)
    _stages.fx_stage_loop(x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *got, len(LAM) - 1, 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"
    again = _state(B, N, M, K)
    _stages.fx_forward_loop(x.h_r, x.h_i, x.noise, x.mu, x.lam, NO_OUTPUT_STAGE, *tables, *again, 2)
    assert all(np.array_equal(a, b) for a, b in zip(again[:3], want[:3]))
    assert np.array_equal(again[3], 2 * want[3])  # the counters count both runs


def test_the_batched_stage_loops_run_the_forwards_last_layer():
    """From ``SERIAL_BELOW`` channels the stage runs over the threads on the state the public
    drivers prepared: one run of the last layer gives the whole forward's state (float and
    hardware, codes, W and overflow counters)."""
    B, N, M, K = 9, 16, 4, 3
    hr, hi, p, n = _channels(B, N, K, 5)
    last = len(LAM) - 1
    want = [np.empty(s) for s in ((B, N, M), (B, N, M), (B, M, K), (B, M, K))]
    _float_batch.forward(hr, hi, p, n, MU, LAM, *want, 0.0)
    got = [np.empty_like(a) for a in want]
    _float_batch.init(hr, hi, p, *got, 0.0)
    _float_batch.layers(hr, hi, p, n, MU[:last], LAM[:last], *got, 0.0)
    run_chunks(_stages.float_stage_range, B, hr, hi, p, n, MU, LAM, *got, 0.0, last, 1)
    assert all(_close(a, b) for a, b in zip(got, want))

    x = prepare_hw_inputs(hr, hi, p, n, MU, LAM, HardwareSpec(N, M, K, 3))
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    want = _state(B, N, M, K)
    _batch.forward_fx_batch(x.h_r, x.h_i, x.noise, x.mu, x.lam, NO_OUTPUT_STAGE, *tables, *want)
    got = _state(B, N, M, K)
    _stages.fx_prepare(x.h_r, x.h_i, x.noise, x.mu, x.lam, *tables, *got, last)
    run_chunks(_stages.fx_stage_range, B, x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *got, last, 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"


@pytest.mark.parametrize("B", [2, 9])
def test_the_output_stage_runs_as_the_forward_ends(B):
    """Stage I is the output stage: after the layers, one run gives the forward's W (with the
    output stage) and counters, serially and over the threads."""
    N, M, K = 16, 4, 3
    x = prepare_hw_inputs(*_channels(B, N, K, 11), MU, LAM, HardwareSpec(N, M, K, 3), xi=0.5)
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    want = _state(B, N, M, K)
    _batch.forward_fx_serial(x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *want)
    got = _state(B, N, M, K)
    _stages.fx_stage_loop(x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *got, len(LAM), 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"
    got = _state(B, N, M, K)
    _stages.fx_prepare(x.h_r, x.h_i, x.noise, x.mu, x.lam, *tables, *got, len(LAM))
    run_chunks(_stages.fx_stage_range, B, x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, *tables, *got, len(LAM), 1)
    assert all(np.array_equal(a, b) for a, b in zip(got, want)), "codes, W or overflow counters differ"
