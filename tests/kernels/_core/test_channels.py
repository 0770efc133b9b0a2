"""serial_channels / parallel_channels / parallel_chunks / run_channels: a compiled loop over a range of channels,
in the calling thread or ``prange`` over the batch through the loop's address
(``kernels._core.jit.first_class``)."""

from __future__ import annotations

import numpy as np
import pytest
from numba.core.types.function_type import CompileResultWAP

from hbf_edge.kernels._core import batching
from hbf_edge.kernels._core.jit import first_class, njit


@njit(cache=False)
def _range(x, out, scale, flag, b0, b1):  # pragma: no cover - compiled
    """Channel b: a running sum that rounds in float (so a different order would show)."""
    for b in range(b0, b1):
        s = 0.0
        for j in range(x.shape[1]):
            s += x[b, j] * scale
        out[b] = s if flag else -s
        out[b, 0] += b  # which channel wrote it


@pytest.mark.parametrize("parallel_run", ["parallel_channels", "parallel_chunks"])
@pytest.mark.parametrize("batch", [1, 3, 4, 37])
def test_parallel_runs_give_the_serial_loops_bits_on_every_channel_once(batch, parallel_run):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 101))
    serial, parallel = np.zeros((batch, 2)), np.zeros((batch, 2))
    batching.serial_channels(_range, x, serial, 1.0 / 3.0, True)
    getattr(batching, parallel_run)(_range, x, parallel, 1.0 / 3.0, True)
    assert np.array_equal(serial, parallel)
    expected = np.add.reduce(x * (1.0 / 3.0), axis=1)  # a different order: close, not necessarily equal
    np.testing.assert_allclose(serial[:, 1], expected, rtol=1e-12)
    np.testing.assert_allclose(serial[:, 0] - np.arange(batch), expected, rtol=1e-12, atol=1e-12)


def test_run_channels_picks_the_calling_thread_below_serial_below(monkeypatch):
    used = []
    monkeypatch.setattr(batching, "serial_channels", lambda k, *a: used.append("serial"))
    monkeypatch.setattr(batching, "parallel_channels", lambda k, *a: used.append("parallel"))
    for batch in (batching.SERIAL_BELOW - 1, batching.SERIAL_BELOW):
        batching.run_channels(_range, np.zeros((batch, 1)), np.zeros((batch, 2)), 1.0, True)
    assert used == ["serial", "parallel"]


def test_first_class_is_the_dispatchers_own_compiled_code():
    """The address handed to the driver is the cfunc wrapper of the overload the serial path
    calls: no second compilation of the loop."""
    x, out = np.zeros((2, 3)), np.zeros((2, 2))
    run = first_class(_range, x, out, 1.0, True, np.int64(0), np.int64(0))
    assert isinstance(run, CompileResultWAP)
    assert len(_range.overloads) == 1
    cres = next(iter(_range.overloads.values()))
    assert run.__wrapper_address__() == cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
    assert first_class(_range, x, out, 1.0, True, np.int64(0), np.int64(0)).__wrapper_address__() == \
        run.__wrapper_address__()
