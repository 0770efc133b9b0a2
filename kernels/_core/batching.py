"""How a batch is spread over threads, for every family's kernels (numba only).

* ``SERIAL_BELOW``: batches smaller than this run in the calling thread, without a parallel
  region.  Starting one costs more than a channel, and when another process keeps the other
  cores busy the region waits for them: one N=64 UPGA channel took 7.8 ms through the parallel
  driver and 25.6 us in the calling thread, measured with an MSER training running beside it
  (2-core AMD EPYC, 2026-12-03).
* :func:`n_chunks_for`: the chunks a larger batch is split into.
* :func:`run_chunks`: a compiled ``nogil`` loop over the chunks of a batch on Python threads
  (the calling one and a pool beside it), the parallel driver without a ``prange`` to compile;
  :func:`run_batch` picks it or the calling thread by ``SERIAL_BELOW``, and
  :func:`threaded_channels` runs a loop over a channel range this way.  The profiler's batched
  stages, JCEHB's float and hardware slots, MSER's float, candidate and hardware layers and its
  MMSE-GD (milliseconds per channel), and the UPGA float initialisation and single steps run
  this way; the UPGA forwards keep their ``prange`` drivers, faster batched
  (``kernels/upga/_float_batch.py`` says by how much).
* :func:`parallel_channels`: a compiled loop over a range of channels (``kernel(*args, b0,
  b1)``), ``prange`` over the channels of a batch, each calling the loop's compiled code through
  its address (:func:`kernels._core.jit.first_class`); :func:`serial_channels` runs the same loop
  in the calling thread, :func:`run_channels` picks by ``SERIAL_BELOW``.  UPGANet's hardware
  forward runs this way (and, in chunks, :func:`parallel_chunks`, the UPGA float forward and
  DeepFP's float and hardware forwards): each driver compiles in about a second, where a
  ``prange`` that called the channel's code directly linked it in and compiled it again (10-24 s
  each in a cold test run on a 2-core Zen 3 EPYC, 2026-12-07), and gives the serial loop's bits
  by construction.  The ``prange`` itself still costs 1-12 s to compile per signature (MSER's
  48-argument hardware driver the most), which is why the millisecond-per-channel loops above
  use threads: measured on MSER's GD at paper sizes, 2 threads, batches 64 and 256, both within
  0.96-1.03 ms per channel (``scratch/s71/mser_ab2.py``).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable

import numba
import numpy as np
from numba import prange

from hbf_edge.kernels._core.jit import first_class, njit

__all__ = ["SERIAL_BELOW", "n_chunks_for", "chunks_for", "run_chunks", "run_batch", "serial_channels",
           "parallel_channels", "parallel_chunks", "threaded_channels", "run_channels"]

SERIAL_BELOW = 4
MIN_CHUNK = 16  # channels per chunk at least: a submission costs ~15 us, a tenth of 16 UPGA channels


def n_chunks_for(batch: int) -> int:
    """Chunks a batch is split into: a few per thread, so buffers are allocated per chunk, not
    per channel, and the threads stay balanced.  Passed to the kernels (a call to
    ``numba.get_num_threads`` inside them would disable the cache)."""
    return max(1, min(batch, 4 * numba.get_num_threads()))


_POOL: dict[str, Any] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads, made again after a fork (a forked child
    inherits the pool's bookkeeping but not its threads) or a change of the count."""
    key = (os.getpid(), workers)
    if _POOL.get("key") != key:
        _POOL.update(key=key, pool=ThreadPoolExecutor(workers, thread_name_prefix="hbf-edge-chunk"))
    return _POOL["pool"]


def chunks_for(batch: int, threads: int) -> int:
    """Chunks :func:`run_chunks` splits a batch into: up to four per thread, none below
    ``MIN_CHUNK`` channels, at least one per thread.

    Why several per thread: the pool's queue then balances the threads when one is held up
    (another process on the core).  With one chunk per thread the UPGA forward at N = 64, batch
    1024, two threads, took 16.1-16.4 us per channel at the median of 15 runs on a busy host,
    against 9.7-9.8 with eight chunks and 9.5-10.2 through a ``prange`` over eight chunks
    (``scratch/s69/gil2.py``, 2026-12-07).  A submitted chunk costs ~15 us, hence the floor on
    its size."""
    return max(1, min(batch, max(threads, min(4 * threads, batch // MIN_CHUNK))))


def run_chunks(kernel: Callable[..., Any], batch: int, *args: Any) -> None:
    """``kernel(*args, lo, hi)`` for each chunk (:func:`chunks_for`) of a batch of ``batch``
    channels on ``numba.get_num_threads()`` threads: the calling thread and as many pool threads
    as needed beside it, each claiming the next chunk until none is left.  ``kernel`` must
    release the GIL (``nogil=True``) for the chunks to overlap; chunks must not share outputs.
    An exception in a chunk is raised here, after every thread has stopped.

    Why the calling thread works too: it would only wait, and each chunk handed to a pool thread
    costs a wake-up.  MSER's GD calls its layers kernel once per iteration; at batch 8, 20
    iterations, paper sizes, 2 threads, it took 1.69-1.90 ms per channel with every chunk on
    the pool against 1.14 claimed this way (``prange``: 1.20-1.53), and at batch 64 and 256 all
    three within 0.96-1.03 ms (``scratch/s71/mser_ab2.py``, 2-core Zen 3 EPYC, 2026-12-07)."""
    threads = numba.get_num_threads()
    n = chunks_for(batch, threads)
    claim = itertools.count()

    def work() -> None:
        c = next(claim)  # atomic under the GIL
        while c < n:
            kernel(*args, c * batch // n, (c + 1) * batch // n)
            c = next(claim)

    helpers = min(threads, n) - 1
    futures = [_pool(threads - 1).submit(work) for _ in range(helpers)] if helpers > 0 else []
    try:
        work()
    finally:
        wait(futures)
    for f in futures:
        f.result()


def run_batch(kernel: Callable[..., Any], batch: int, *args: Any) -> None:
    """``kernel(*args, lo, hi)`` over a batch of ``batch`` channels: below ``SERIAL_BELOW`` once in
    the calling thread (no pool to wake or wait for), else :func:`run_chunks`.  Both run the one
    compiled loop, so a channel gets the same bits either way."""
    if batch < SERIAL_BELOW:
        kernel(*args, np.int64(0), np.int64(batch))
    else:
        run_chunks(kernel, batch, *args)


@njit(cache=True, parallel=True)
def _channels_prange(run, n, n_chunks, *args):  # pragma: no cover - compiled
    """``run(*args, lo, hi)`` for ``n_chunks`` even chunks ``lo .. hi - 1`` of ``n`` channels,
    ``prange`` over the chunks."""
    for c in prange(n_chunks):
        run(*args, np.int64(c * n // n_chunks), np.int64((c + 1) * n // n_chunks))


def serial_channels(range_kernel: Callable[..., Any], *args: Any) -> None:
    """``range_kernel(*args, b0, b1)``, a compiled loop over channels ``b0 .. b1 - 1`` (the batch
    is the leading axis of ``args[0]``), on every channel in the calling thread."""
    range_kernel(*args, np.int64(0), np.int64(args[0].shape[0]))


def parallel_channels(range_kernel: Callable[..., Any], *args: Any) -> None:
    """:func:`serial_channels`'s work, ``prange`` over the channels, each calling
    ``range_kernel``'s compiled code (module notes)."""
    n = np.int64(args[0].shape[0])
    _channels_prange(first_class(range_kernel, *args, np.int64(0), np.int64(0)), n, n, *args)


def parallel_chunks(range_kernel: Callable[..., Any], *args: Any) -> None:
    """:func:`parallel_channels` over :func:`n_chunks_for` chunks of channels instead of single
    channels: for loops that allocate their workspaces once per call."""
    n = args[0].shape[0]
    _channels_prange(first_class(range_kernel, *args, np.int64(0), np.int64(0)), np.int64(n),
                     np.int64(n_chunks_for(n)), *args)


def threaded_channels(range_kernel: Callable[..., Any], *args: Any) -> None:
    """:func:`serial_channels`'s work in chunks on the process's Python threads
    (:func:`run_chunks`; ``range_kernel`` must be ``nogil``): no ``prange`` to compile, for
    loops whose channel takes milliseconds (module notes)."""
    run_chunks(range_kernel, args[0].shape[0], *args)


def run_channels(range_kernel: Callable[..., Any], *args: Any) -> None:
    """:func:`serial_channels` below ``SERIAL_BELOW`` channels, else :func:`parallel_channels`."""
    (serial_channels if args[0].shape[0] < SERIAL_BELOW else parallel_channels)(range_kernel, *args)
