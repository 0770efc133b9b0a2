"""``--numba-compile-log=PATH``: every Numba compilation of the test processes, and a summary.

Why: a cold suite spends most of its time compiling, and a kernel compiled twice for types that
mean nothing (a literal constant, a read-only flag, int32 against int64 rows) costs as much as
the first compilation; the summary names them.  Each process (the xdist workers, or the one
process without xdist) appends one JSON line per compilation to PATH, from Numba's
``numba:compile`` events (``numba.core.event``): the function, its argument types, the seconds
with and without the compilations nested in it, the nesting depth, the worker and the test.  At
the end the controller prints the compile seconds per worker, the functions and the tests that
took longest, and every function compiled for more than one signature with the first argument
whose type differs.  Compilations in the CLI subprocesses some tests start are not recorded (they do not load this
plugin).  Loaded by ``tests/conftest.py``; also usable as ``-p compile_log`` with ``tests`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path

OPTION = "--numba-compile-log"


def pytest_addoption(parser):
    parser.addoption(OPTION, metavar="PATH", default=None,
                     help="append every Numba compilation of the test processes to PATH (JSON lines) and "
                          "summarise them at the end (functions compiled for more than one signature first)")


def pytest_configure(config):
    path = config.getoption(OPTION)
    if not path:
        return
    if not hasattr(config, "workerinput"):  # the controller (or the only process): a fresh log
        Path(path).write_text("")
    from numba.core import event

    event.register("numba:compile", _recorder(path, os.environ.get("PYTEST_XDIST_WORKER", "main")))


def pytest_terminal_summary(terminalreporter, config):
    path = config.getoption(OPTION)
    if not path or hasattr(config, "workerinput"):
        return
    for line in summary(Path(path).read_text().splitlines()):
        terminalreporter.write_line(line)


def _recorder(path: str, worker: str):
    """A ``numba.core.event`` listener that appends a line per finished compilation; a stack
    gives each its own time without the compilations nested in it (a callee compiles while its
    caller is typed).  Built here so that numba is imported only when the option is given."""
    from numba.core import event

    class Recorder(event.Listener):
        def __init__(self) -> None:
            self.stack = []

        def on_start(self, ev) -> None:
            self.stack.append([time.perf_counter(), 0.0])

        def on_end(self, ev) -> None:
            start, nested = self.stack.pop()
            seconds = time.perf_counter() - start
            if self.stack:
                self.stack[-1][1] += seconds
            func = ev.data["dispatcher"].py_func
            line = {"function": f"{func.__module__}.{func.__qualname__}", "types": [str(t) for t in ev.data["args"]],
                    "seconds": seconds, "self_seconds": seconds - nested, "depth": len(self.stack), "worker": worker,
                    # the test (and phase: setup, call) that paid for it, as pytest names it
                    "test": os.environ.get("PYTEST_CURRENT_TEST", "")}
            with open(path, "a") as f:  # one write per line: the workers append to the same file
                f.write(json.dumps(line) + "\n")

    return Recorder()


def summary(lines: list[str], top: int = 10) -> list[str]:
    """The report printed at the end, from the log's lines."""
    rows = [json.loads(x) for x in lines if x.strip()]
    if not rows:
        return ["numba compile log: no compilation (every kernel came from the cache)"]
    per_worker = collections.Counter()
    per_test = collections.Counter()
    own = collections.Counter()
    signatures = collections.defaultdict(dict)
    for r in rows:
        if r["depth"] == 0:
            per_worker[r["worker"]] += r["seconds"]
            per_test[r.get("test") or "(outside a test)"] += r["seconds"]
        own[r["function"]] += r["self_seconds"]
        signatures[r["function"]].setdefault(tuple(r["types"]), r["seconds"])
    out = [f"numba compile log: {len(rows)} compilations, "
           + ", ".join(f"{w} {s:.1f} s" for w, s in sorted(per_worker.items()))]
    out.append("longest (own seconds, without what they compile inside):")
    out += [f"  {s:8.1f}  {name}" for name, s in own.most_common(top)]
    out.append("tests that compiled most (seconds; the first test to need a kernel pays for it):")
    out += [f"  {s:8.1f}  {name}" for name, s in per_test.most_common(top)]
    repeated = [(name, sigs) for name, sigs in signatures.items() if len(sigs) > 1]
    out.append(f"compiled for more than one signature: {len(repeated)}")
    for name, sigs in sorted(repeated, key=lambda kv: -sum(sorted(kv[1].values())[:-1])):
        (a, _), (b, _) = list(sigs.items())[:2]
        diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        where = f"argument {diff}: {a[diff]} / {b[diff]}" if diff is not None else f"{len(a)} / {len(b)} arguments"
        extra = sum(sorted(sigs.values())[:-1])
        out.append(f"  {name}: {len(sigs)} signatures, {extra:.1f} s beyond the first; {where}")
    return out
