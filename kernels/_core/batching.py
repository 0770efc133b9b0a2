"""How a batch is spread over threads, for every family's kernels (numba only).

* ``SERIAL_BELOW``: batches smaller than this run in the calling thread, without a parallel
  region.  Starting one costs more than a channel, and when another process keeps the other
  cores busy the region waits for them: one N=64 UPGA channel took 7.8 ms through the parallel
  driver and 25.6 us in the calling thread, measured with an MSER training running beside it
  (2-core AMD EPYC, 2026-12-03).
* :func:`n_chunks_for`: the chunks a larger batch is split into.
* :class:`ChunkThreads`: a compiled ``nogil`` loop over the chunks of a batch on a pool of Python
  threads, the parallel driver without a ``prange`` (whose compilation costs tens of seconds per
  loop on a first run); the profiler's batched stage loops run this way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numba

__all__ = ["SERIAL_BELOW", "n_chunks_for", "ChunkThreads"]

SERIAL_BELOW = 4


def n_chunks_for(batch: int) -> int:
    """Chunks a batch is split into: a few per thread, so buffers are allocated per chunk, not
    per channel, and the threads stay balanced.  Passed to the kernels (a call to
    ``numba.get_num_threads`` inside them would disable the cache)."""
    return max(1, min(batch, 4 * numba.get_num_threads()))


class ChunkThreads:
    """``run(kernel, *args)`` calls ``kernel(*args, lo, hi)`` for the :func:`n_chunks_for` chunks
    of a batch of ``batch`` channels on ``numba.get_num_threads()`` Python threads and waits for
    them; ``kernel`` must release the GIL (``nogil=True``) for the chunks to overlap.  A context
    manager: leaving it stops the threads."""

    def __init__(self, batch: int) -> None:
        n = n_chunks_for(batch)
        self.bounds = [(c * batch // n, (c + 1) * batch // n) for c in range(n)]
        self._pool = ThreadPoolExecutor(numba.get_num_threads())

    def run(self, kernel: Callable[..., Any], *args: Any) -> None:
        for f in [self._pool.submit(kernel, *args, lo, hi) for lo, hi in self.bounds]:
            f.result()

    def __enter__(self) -> "ChunkThreads":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.shutdown()
