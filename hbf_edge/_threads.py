"""The thread policy, in one place: how many threads torch and Numba use.

The unfolded networks are small: a layer is a few dozen small matrix products per channel.
torch's intra-op threads (OpenMP) buy little on such work and, when another multi-threaded job
shares the machine, their spinning threads fight it for the cores.  The toolkit therefore runs
torch with one intra-op thread and keeps Numba's parallel loops over the batch (``prange``)
on every core -- the measured choice (README, "Threads").  Under that default, Numba's OpenMP
threads also wait passively (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning after each
parallel loop: alone it costs nothing measurable, and with a second toolkit command on the
machine the spinning threads took the other process's cores (README, "Threads").  In order of
precedence:

1. ``--threads N`` (or ``HBF_EDGE_THREADS=N``): torch, Numba and numpy's BLAS use N;
2. the user's own ``OMP_NUM_THREADS`` / ``NUMBA_NUM_THREADS``: left as they are;
3. the default above (``OMP_WAIT_POLICY`` only if the user has not set it).

numpy's BLAS (OpenBLAS) runs on one thread under the default: its threads spin as well, and
two quick demos at once took about 40 % longer with two BLAS threads each than with one (28-29
against 20 s), while our matrices are too small for a second BLAS thread to gain anything alone
(README, "Threads").
The user's own ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` win.

It must run before torch starts its thread pool: the CLI applies it first thing, and sets the
environment variables as well so that child processes (benchmarks in fresh processes) follow.
Numba's pool, which shares torch's OpenMP runtime, starts when the kernels are imported and
leaves torch's count as this policy set it (:mod:`hbf_edge.kernels._core.pool`).
"""

from __future__ import annotations

import os
import sys

from hbf_edge.errors import ConfigError

__all__ = ["apply_thread_policy", "DEFAULT_TORCH_THREADS"]

DEFAULT_TORCH_THREADS = 1
_USER_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads_from_env() -> int | None:
    text = os.environ.get("HBF_EDGE_THREADS")
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"HBF_EDGE_THREADS must be a positive integer, got {text!r}")
    return int(text)


def apply_thread_policy(threads: int | None = None) -> dict[str, int | str]:
    """Set torch's and Numba's thread counts by the rule above; returns what was decided."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a positive integer, got {threads!r}")
    threads = threads if threads is not None else _threads_from_env()
    if threads is None and any(v in os.environ for v in _USER_VARIABLES):
        return {"source": "environment"}
    cores = os.cpu_count() or 1
    torch_threads = threads or DEFAULT_TORCH_THREADS
    numba_threads = threads or cores
    os.environ["OMP_NUM_THREADS"] = str(torch_threads)
    wait = os.environ.get("OMP_WAIT_POLICY")
    if threads is None and wait is None:  # read when the OpenMP runtime loads: hence first thing
        os.environ["OMP_WAIT_POLICY"] = wait = "PASSIVE"
    blas = _limit_blas(threads or 1)
    if "numba" in sys.modules:  # already imported (a notebook, a test): its pool is sized; use at most that
        import numba

        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    else:
        os.environ["NUMBA_NUM_THREADS"] = str(numba_threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(torch_threads)
    return {"source": "--threads" if threads else "default", "torch": torch_threads, "numba": numba_threads,
            "wait_policy": wait or "runtime default", "blas": blas}


def _limit_blas(n: int) -> int | str:
    """numpy's BLAS on ``n`` threads, here and in child processes, unless the user set its
    variables.  numpy is loaded before any policy can run (the toolkit's own modules import it),
    so this process is limited through threadpoolctl and the children through the variables."""
    if any(v in os.environ for v in _BLAS_VARIABLES):
        return "environment"
    for v in _BLAS_VARIABLES:
        os.environ[v] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
    return n
