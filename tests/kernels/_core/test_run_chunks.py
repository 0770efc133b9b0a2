"""run_chunks: a compiled nogil loop over chunks of a batch on Python threads (the profiler's
batched stage loops)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from hbf_edge.kernels._core import batching
from hbf_edge.kernels._core.batching import run_chunks


@njit(nogil=True)
def _mark(out, value, lo, hi):  # pragma: no cover - compiled
    for b in range(lo, hi):
        out[b] += value


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 256])
def test_every_channel_runs_once(batch):
    out = np.zeros(batch, np.int64)
    run_chunks(_mark, batch, out, 1)
    assert np.array_equal(out, np.ones(batch, np.int64))


def test_a_chunks_error_is_raised_to_the_caller():
    def boom(lo, hi):
        raise ValueError(f"chunk {lo}..{hi}")

    with pytest.raises(ValueError, match="chunk"):
        run_chunks(boom, 5)


def test_the_pool_follows_the_process(monkeypatch):
    monkeypatch.setattr(batching.numba, "get_num_threads", lambda: 2)  # a pool thread beside the caller
    run_chunks(_mark, 4, np.zeros(4, np.int64), 1)
    first = batching._POOL["pool"]
    run_chunks(_mark, 4, np.zeros(4, np.int64), 1)
    assert batching._POOL["pool"] is first  # kept between calls
    monkeypatch.setattr(batching.os, "getpid", lambda: -1)  # as in a forked child
    out = np.zeros(4, np.int64)
    run_chunks(_mark, 4, out, 2)
    assert batching._POOL["pool"] is not first and np.array_equal(out, np.full(4, 2))


@pytest.mark.parametrize("batch,threads,chunks", [(1, 2, 1), (3, 2, 2), (16, 2, 2), (64, 2, 4), (1024, 2, 8),
                                                  (1024, 1, 4), (40, 4, 4)])
def test_a_batch_is_split_into_a_few_chunks_per_thread_of_at_least_min_chunk(batch, threads, chunks):
    """Up to four per thread (the pool's queue balances a thread held up), none below
    MIN_CHUNK channels unless every thread needs one."""
    assert batching.chunks_for(batch, threads) == chunks


def test_run_batch_runs_a_small_batch_in_the_calling_thread():
    import threading

    seen = []

    def where(lo, hi):
        seen.append((threading.current_thread() is threading.main_thread(), lo, hi))

    batching.run_batch(where, batching.SERIAL_BELOW - 1)
    assert seen == [(True, 0, batching.SERIAL_BELOW - 1)]
    seen.clear()
    batching.run_batch(where, 64)
    assert sorted((lo, hi) for _, lo, hi in seen) == [(0, 16), (16, 32), (32, 48), (48, 64)]


def test_the_calling_thread_claims_chunks_beside_the_pool(monkeypatch):
    """Every thread claims the next chunk until none is left: on one thread the calling thread
    runs them all (no pool), on two it runs some and one pool thread the rest."""
    import threading
    import time

    seen = []

    def where(lo, hi):
        seen.append((threading.current_thread() is threading.main_thread(), lo, hi))
        time.sleep(0.002)  # a chunk's work: no thread takes them all before the other starts

    monkeypatch.setattr(batching.numba, "get_num_threads", lambda: 1)
    batching.run_chunks(where, 64)
    assert [s[0] for s in seen] == [True] * 4 and [s[1:] for s in seen] == [(0, 16), (16, 32), (32, 48), (48, 64)]
    seen.clear()
    monkeypatch.setattr(batching.numba, "get_num_threads", lambda: 2)
    batching.run_chunks(where, 1024)
    assert sorted(s[1:] for s in seen) == [(128 * c, 128 * (c + 1)) for c in range(8)]
    assert len(seen) == 8 and any(main for main, _, _ in seen)


def test_an_error_waits_for_the_other_threads():
    """A failed chunk is raised after every other thread stopped: nothing of the batch runs after
    the call returned."""
    import time

    done = []

    def slow_or_boom(lo, hi):
        if lo == 0:
            raise ValueError("boom")
        time.sleep(0.05)
        done.append(lo)

    with pytest.raises(ValueError, match="boom"):
        batching.run_chunks(slow_or_boom, 64)
    settled = list(done)
    time.sleep(0.2)
    assert done == settled
