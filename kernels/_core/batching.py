"""How a batch is spread over threads, for every family's kernels (numba only).

* ``SERIAL_BELOW``: batches smaller than this run in the calling thread, without a parallel
  region.  Starting one costs more than a channel, and when another process keeps the other
  cores busy the region waits for them: one N=64 UPGA channel took 7.8 ms through the parallel
  driver and 25.6 us in the calling thread, measured with an MSER training running beside it
  (2-core AMD EPYC, 2026-12-03).
* :func:`n_chunks_for`: the chunks a larger batch is split into.
"""

from __future__ import annotations

import numba

__all__ = ["SERIAL_BELOW", "n_chunks_for"]

SERIAL_BELOW = 4


def n_chunks_for(batch: int) -> int:
    """Chunks a batch is split into: a few per thread, so buffers are allocated per chunk, not
    per channel, and the threads stay balanced.  Passed to the kernels (a call to
    ``numba.get_num_threads`` inside them would disable the cache)."""
    return max(1, min(batch, 4 * numba.get_num_threads()))
