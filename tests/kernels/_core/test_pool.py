"""Numba's pool starts without changing torch's thread count (kernels._core.pool), in fresh
processes: torch's count must stay the policy's after a parallel kernel ran, whichever of torch
and the kernels came first, and Numba's parallel loops must still use all of Numba's threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

# A parallel kernel through the kernels' own njit (importing it starts the pool), reporting the
# Numba threads its loop ran on and torch's count before and after.
PROBE = """
import json, sys
first = sys.argv[1]
if first == "torch":
    import torch
    before = torch.get_num_threads()  # torch's lazy OpenMP set-up happens here, before Numba's pool
from hbf_edge.kernels._core.jit import njit
import numba, numpy as np
if first == "kernels":
    import torch
    before = torch.get_num_threads()

@njit(parallel=True)
def ids(n):
    out = np.empty(n, np.int64)
    for i in numba.prange(n):
        out[i] = numba.get_thread_id()
    return out

used = len(set(ids(4096).tolist()))
print(json.dumps([before, torch.get_num_threads(), used, numba.get_num_threads(), numba.threading_layer()]))
"""


def _probe(first):
    env = {k: v for k, v in os.environ.items() if k != "HBF_EDGE_THREADS"}
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", PROBE, first], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", ["torch", "kernels"])
def test_a_parallel_kernel_leaves_torch_on_its_own_thread_count(first):
    before, after, used, numba_threads, layer = _probe(first)
    assert (before, after) == (1, 1), layer
    assert numba_threads == 2
    assert used == 2  # the restored OpenMP setting does not shrink Numba's own parallel loops


def test_openmp_threads_reads_the_setting_torch_uses():
    import torch

    from hbf_edge.kernels._core.pool import openmp_threads, start_pool

    assert start_pool() >= 1
    if sys.platform.startswith("linux"):  # the same runtime as torch's: the same count
        assert openmp_threads() == torch.get_num_threads()
