"""``--numba-compile-log`` (tests/compile_log.py): every compilation of the workers in the log,
and the summary naming a function compiled for two signatures and the argument that differs."""

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]

KERNEL = """
from numba import njit

@njit
def twice(x):
    return x + x
"""


def test_the_log_records_every_workers_compilations_and_names_the_repeated_ones(tmp_path):
    (tmp_path / "kern.py").write_text(KERNEL)
    (tmp_path / "test_a.py").write_text("from kern import twice\n\ndef test_a():\n    assert twice(1) == 2\n")
    (tmp_path / "test_b.py").write_text("from kern import twice\n\ndef test_b():\n    assert twice(1.5) == 3.0\n")
    log = tmp_path / "compile.jsonl"
    log.write_text("stale line from an earlier run\n")  # the controller starts a fresh log
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(tmp_path)])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "compile_log", f"--numba-compile-log={log}",
                          "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "-q", "test_a.py", "test_b.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    twice = [r for r in rows if r["function"] == "kern.twice"]
    assert sorted(r["types"][0] for r in twice) == ["float64", "int64"]
    assert {r["worker"] for r in twice} == {"gw0", "gw1"} and all(r["depth"] == 0 for r in twice)
    assert all(0 < r["self_seconds"] <= r["seconds"] for r in twice)
    assert sorted(r["test"] for r in twice) == ["test_a.py::test_a (call)", "test_b.py::test_b (call)"]
    out = run.stdout
    assert "numba compile log: " in out and "gw0 " in out and "gw1 " in out
    assert "compiled for more than one signature: 1" in out
    assert any(x.endswith("test_a.py::test_a (call)") for x in out.splitlines())  # the tests that compiled most
    line = next(x for x in out.splitlines() if "kern.twice:" in x)
    assert "2 signatures" in line and ("argument 0: int64 / float64" in line or "argument 0: float64 / int64" in line)


def test_the_summary_of_an_empty_log_says_everything_came_from_the_cache():
    from compile_log import summary

    assert summary([]) == ["numba compile log: no compilation (every kernel came from the cache)"]
