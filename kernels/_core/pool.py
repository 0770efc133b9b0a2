"""Start Numba's thread pool without changing the calling thread's OpenMP thread count.

Why: with Numba's ``omp`` threading layer (the one picked on Linux when TBB is absent), the
pool's start calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` on the thread that starts it.
torch links the same GNU OpenMP runtime (one ``libgomp.so.1`` per process, shared by soname)
and reads its intra-op thread count from that very setting, so the first parallel kernel call
silently raised torch from the policy's one thread to Numba's count: torch's reductions then
summed in a different order (seen: a 10^7-element sum changed in its last digits, and MSER
training kept a different epoch with ``NUMBA_NUM_THREADS=2`` than with 1, 2026-12-05).  Numba's
own parallel regions name their thread count explicitly, so restoring the setting costs them
nothing (checked in ``tests/kernels/_core/test_pool.py``).

What: :func:`start_pool` reads ``omp_get_max_threads()`` of the calling thread, starts Numba's
pool (``numba.get_num_threads()`` does, a public call) and puts the value back.  It runs once,
when the kernels are imported (:mod:`hbf_edge.kernels._core.jit`), so the start happens at a
known point and never inside a user's torch code.  Where no GNU OpenMP runtime is found (macOS, Windows, or
a layer other than ``omp`` chosen), there is nothing to restore and only the pool is started.
"""

from __future__ import annotations

import ctypes
import functools

import numba

__all__ = ["start_pool", "openmp_threads"]


@functools.cache
def _gomp():
    """The process's GNU OpenMP runtime (loaded once; the same library torch and Numba use)."""
    try:
        lib = ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None
    lib.omp_get_max_threads.restype = ctypes.c_int
    lib.omp_set_num_threads.argtypes = [ctypes.c_int]
    return lib


def openmp_threads() -> int | None:
    """The calling thread's OpenMP thread count (what torch's next parallel op uses), or
    ``None`` when no GNU OpenMP runtime is found."""
    lib = _gomp()
    return None if lib is None else int(lib.omp_get_max_threads())


@functools.cache
def start_pool() -> int:
    """Start Numba's pool, keeping the calling thread's OpenMP count; returns Numba's count."""
    before = openmp_threads()
    threads = numba.get_num_threads()  # starts the pool (and its threading layer) if not yet started
    if before is not None:
        _gomp().omp_set_num_threads(before)
    return threads
