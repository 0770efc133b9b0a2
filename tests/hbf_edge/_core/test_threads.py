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
         "print(json.dumps([torch.get_num_threads(), numba.get_num_threads()]))")


def _threads(*argv, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "HBF_EDGE_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv, "families"], env={**base, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_default_is_one_torch_thread_and_numba_on_every_core():
    assert _threads() == [1, os.cpu_count()]


def test_threads_option_and_variable_set_both():
    assert _threads("--threads", "1") == [1, 1]
    assert _threads(HBF_EDGE_THREADS="1") == [1, 1]


def test_the_users_own_variables_win():
    assert _threads(OMP_NUM_THREADS="2", NUMBA_NUM_THREADS="1") == [2, 1]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="positive integer"):
        apply_thread_policy(bad)
