"""The thread policy: the default, ``--threads`` / ``HBF_EDGE_THREADS``, and the user's own
variables winning; in a fresh process, as a user runs the CLI."""

import json
import os
import subprocess
import sys

import pytest

from hbf_edge._threads import apply_thread_policy
from hbf_edge.errors import ConfigError

PROBE = ("import json, sys; from hbf_edge.cli import main; main(sys.argv[1:]); import torch, numba; "
         "import os; from threadpoolctl import threadpool_info; "
         "blas = sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}); "
         "print(json.dumps([torch.get_num_threads(), numba.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'), blas]))")


def _probe(*argv, **env):
    """[torch threads, Numba threads, OMP_WAIT_POLICY, BLAS thread counts] after the CLI's policy,
    in a fresh process."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "HBF_EDGE_THREADS", "OMP_WAIT_POLICY",
                         "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv, "families"], env={**base, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _threads(*argv, **env):
    return _probe(*argv, **env)[:2]


def test_default_is_one_torch_thread_and_numba_on_every_core():
    assert _threads() == [1, os.cpu_count()]


def test_threads_option_and_variable_set_both():
    assert _threads("--threads", "1") == [1, 1]
    assert _threads(HBF_EDGE_THREADS="1") == [1, 1]


def test_the_default_makes_openmp_threads_wait_passively_unless_the_user_chose():
    assert _probe()[2] == "PASSIVE"
    assert _probe(OMP_WAIT_POLICY="active")[2] == "active"
    assert _probe("--threads", "2")[2] is None  # torch on several threads: its runtime's own default


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS caps its threads at the cores")
def test_numpys_blas_follows_the_policy_unless_the_user_set_it():
    assert _probe()[3] == [1]  # numpy is loaded before the policy runs: limited in the process itself
    assert _probe("--threads", "2")[3] == [2]
    assert _probe(OPENBLAS_NUM_THREADS="2")[3] == [2]


def test_the_users_own_variables_win():
    assert _threads(OMP_NUM_THREADS="2", NUMBA_NUM_THREADS="1") == [2, 1]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="positive integer"):
        apply_thread_policy(bad)
