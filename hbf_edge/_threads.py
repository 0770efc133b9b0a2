"""The thread policy, in one place: how many threads torch and Numba use.

The unfolded networks are small: a layer is a few dozen small matrix products per channel.
torch's intra-op threads (OpenMP) buy little on such work and, when another multi-threaded job
shares the machine, their spinning threads fight it for the cores.  The toolkit therefore runs
torch with one intra-op thread and keeps Numba's parallel loops over the batch (``prange``)
on every core -- the measured choice (README, "Threads").  In order of precedence:

1. ``--threads N`` (or ``HBF_EDGE_THREADS=N``): torch and Numba both use N;
2. the user's own ``OMP_NUM_THREADS`` / ``NUMBA_NUM_THREADS``: left as they are;
3. the default above.

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
    if "numba" in sys.modules:  # already imported (a notebook, a test): its pool is sized; use at most that
        import numba

        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    else:
        os.environ["NUMBA_NUM_THREADS"] = str(numba_threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(torch_threads)
    return {"source": "--threads" if threads else "default", "torch": torch_threads, "numba": numba_threads}
