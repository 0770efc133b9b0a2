"""``hbf-edge bench threads``: the measurement behind the thread policy (:mod:`hbf_edge._threads`).

Each command runs as a user runs it -- a fresh process, default settings apart from the thread
variables -- alone and as two copies started together (a second toolkit command sharing the
machine), under each thread setting.  The result is JSON with every wall time, so the spread is
visible, and the median per cell.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["SETTINGS", "COMMANDS", "bench_threads"]

# OMP_WAIT_POLICY too: the parent's own policy sets it, and each setting must start from nothing
_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "HBF_EDGE_THREADS",
              "OMP_WAIT_POLICY")
SETTINGS = {
    "toolkit default": {},
    "all threads (torch and Numba on every core)": {"HBF_EDGE_THREADS": str(os.cpu_count() or 1)},
    "one thread everywhere": {"HBF_EDGE_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
}
COMMANDS = {
    "train": ["train", "upga", "-N", "32", "-I", "5", "--epochs", "1", "-q", "--out"],
    # without the background precompilation: a first run would time that process too
    "demo-quick": ["demo", "--quick", "--no-precompile", "-q", "--out"],
}


def _wall(args: list[str], env: dict[str, str], copies: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "hbf_edge", *args, os.path.join(tmp, str(i))], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(copies)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"`hbf-edge {' '.join(args)}` failed: {err.strip().splitlines()[-1:]}")
        return time.perf_counter() - t0


def bench_threads(commands: tuple[str, ...] = ("train", "demo-quick"), repeat: int = 2,
                  progress: bool = True) -> dict[str, Any]:
    """Wall seconds of each command per setting, alone and two at once."""
    from hbf_edge._progress import progress_bar

    base = {k: v for k, v in os.environ.items() if k not in _VARIABLES}
    rows = []
    bar = progress_bar(total=len(commands) * len(SETTINGS) * 2 * repeat, desc="bench threads", progress=progress)
    for command in commands:
        for name, variables in SETTINGS.items():
            for copies in (1, 2):
                walls = []
                for _ in range(repeat):
                    walls.append(round(_wall(COMMANDS[command], {**base, **variables}, copies), 2))
                    bar.update()
                rows.append({"command": command, "setting": name, "copies": copies, "wall_s": walls,
                             "median_s": round(statistics.median(walls), 2)})
    bar.close()
    for command in commands:  # each setting against the best one of its cell
        for copies in (1, 2):
            cell = [r for r in rows if r["command"] == command and r["copies"] == copies]
            best = min(r["median_s"] for r in cell)
            for r in cell:
                r["over_best"] = round(r["median_s"] / best, 3)
    return {"machine": {"cpu_count": os.cpu_count(), "platform": sys.platform}, "repeat": repeat,
            "settings": {k: v or "(none: the toolkit's policy)" for k, v in SETTINGS.items()}, "results": rows}
