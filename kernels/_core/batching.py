"""How a batch is spread over threads, for every family's kernels (numba only).

* ``SERIAL_BELOW``: batches smaller than this run in the calling thread, without a parallel
  region.  Starting one costs more than a channel, and when another process keeps the other
  cores busy the region waits for them: one N=64 UPGA channel took 7.8 ms through the parallel
  driver and 25.6 us in the calling thread, measured with an MSER training running beside it
  (2-core AMD EPYC, 2026-12-03).
* :func:`n_chunks_for`: the chunks a larger batch is split into.
* :func:`run_chunks`: a compiled ``nogil`` loop over the chunks of a batch on a pool of Python
  threads, the parallel driver without a ``prange`` (whose compilation costs tens of seconds per
  loop on a first run); the profiler's batched stage loops run this way.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numba

__all__ = ["SERIAL_BELOW", "n_chunks_for", "run_chunks"]

SERIAL_BELOW = 4


def n_chunks_for(batch: int) -> int:
    """Chunks a batch is split into: a few per thread, so buffers are allocated per chunk, not
    per channel, and the threads stay balanced.  Passed to the kernels (a call to
    ``numba.get_num_threads`` inside them would disable the cache)."""
    return max(1, min(batch, 4 * numba.get_num_threads()))


_POOL: dict[str, Any] = {}


def _pool() -> ThreadPoolExecutor:
    """The process's pool of ``numba.get_num_threads()`` threads, made again after a fork (a
    forked child inherits the pool's bookkeeping but not its threads) or a change of the count."""
    key = (os.getpid(), numba.get_num_threads())
    if _POOL.get("key") != key:
        _POOL.update(key=key, pool=ThreadPoolExecutor(key[1], thread_name_prefix="hbf-edge-chunk"))
    return _POOL["pool"]


def run_chunks(kernel: Callable[..., Any], batch: int, *args: Any) -> None:
    """``kernel(*args, lo, hi)`` for one chunk of a batch of ``batch`` channels per thread of the
    process's pool of ``numba.get_num_threads()`` threads, and wait for them.
    ``kernel`` must release the GIL (``nogil=True``) for the chunks to overlap; chunks must not
    share outputs.  An exception in a chunk is raised here."""
    pool = _pool()
    n = max(1, min(batch, pool._max_workers))  # one chunk per thread: a submitted chunk costs ~15 us
    futures = [pool.submit(kernel, *args, c * batch // n, (c + 1) * batch // n) for c in range(n)]
    for f in futures:
        f.result()
