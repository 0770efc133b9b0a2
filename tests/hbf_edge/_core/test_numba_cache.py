"""The suite's Numba settings never write its optimisation-1 kernels into a cache the user's own
runs read (tests/conftest.py)."""

import json
import os
import pathlib
import subprocess
import sys

CONFTEST = pathlib.Path(__file__).resolve().parents[2] / "conftest.py"
PROBE = ("import json, os, runpy, sys; runpy.run_path(sys.argv[1]); "
         "print(json.dumps([os.environ.get('NUMBA_OPT'), os.environ.get('NUMBA_CACHE_DIR')]))")


def _setup(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_OPT", "NUMBA_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", PROBE, str(CONFTEST)], env={**base, **env}, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_suite_keeps_its_level_1_kernels_out_of_the_users_cache(tmp_path):
    opt, cache = _setup()
    assert opt == "1" and cache.endswith(os.path.join(".pytest_cache", "numba"))
    opt, cache = _setup(NUMBA_CACHE_DIR=str(tmp_path))  # the user's cache: a subfolder of it, not it
    assert opt == "1" and pathlib.Path(cache) == tmp_path / "tests-opt1"
    opt, cache = _setup(NUMBA_OPT="3", NUMBA_CACHE_DIR=str(tmp_path))  # the user's own level: their cache
    assert opt == "3" and pathlib.Path(cache) == tmp_path
