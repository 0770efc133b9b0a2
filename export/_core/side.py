"""A part of a bundle built by a second process while this one builds the rest.

Why: the quantized ONNX graphs of a UPGA bundle are one long, single-threaded torch trace (about
7 of the 11.5-14.5 s ``hbf-edge export`` of the quick demo's model, Intel Xeon, 2026-12-05),
and the beams, the C datapath and the float graph (about 3.5 s more) do not need them.  On two
cores the graphs are built in a second process from the start, and the bundle writer takes its
files when it gets to them (README, "Export bundle").

The process runs ``python -m MODULE OUT ARGS...`` on one thread, writes only into its own
temporary folder, and is stopped (and the folder removed) by :meth:`SideProcess.close`, which the
bundle writer calls however it ends: a failure, Ctrl-C or SIGTERM leaves nothing behind.  Its
messages go to a file that is read only when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hbf_edge._process import stop_process
from hbf_edge.export._core.bundle import BundleError

__all__ = ["SideProcess", "side_cores", "worth_a_side_process"]

_ERRORS = "stderr.txt"


def side_cores() -> int:
    """How many cores the thread policy lets the toolkit use (``--threads`` / ``HBF_EDGE_THREADS``,
    else ``NUMBA_NUM_THREADS``, else the machine's): a second process only when it is at least 2."""
    for name in ("HBF_EDGE_THREADS", "NUMBA_NUM_THREADS"):
        text = os.environ.get(name, "")
        if text.isdigit() and int(text) >= 1:
            return int(text)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worth_a_side_process(*modules: str) -> bool:
    """Whether a part that needs ``modules`` goes to a second process: when the thread policy
    allows two cores and this process has not imported them yet.  The second process pays the
    imports itself (torch and Brevitas: about 3 s); that is worth it only when this one would pay
    them too (a fresh ``hbf-edge export``), not in a session that already holds them."""
    return side_cores() >= 2 and not any(m in sys.modules for m in modules)


class SideProcess:
    """``python -m module OUT *args`` in the background; :meth:`result` waits for its folder."""

    def __init__(self, what: str, module: str, *args: str) -> None:
        self.what = what
        self.dir = Path(tempfile.mkdtemp(prefix="hbf-edge-side-"))
        self.process: subprocess.Popen | None = None
        env = dict(os.environ, HBF_EDGE_THREADS="1")  # one core: this process keeps the other busy
        try:
            with open(self.dir / _ERRORS, "wb") as errors:
                self.process = subprocess.Popen([sys.executable, "-m", module, str(self.dir / "out"), *args], env=env,
                                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except BaseException:
            self.close()
            raise

    def result(self) -> Path:
        """Wait for the process; the folder it wrote.  ``BundleError`` with its last message if it
        failed."""
        code = self.process.wait()
        if code != 0:
            lines = (self.dir / _ERRORS).read_text(errors="replace").strip().splitlines() or ["no message"]
            raise BundleError(f"{self.what}: its process failed (exit {code}): {lines[-1]}")
        return self.dir / "out"

    def close(self) -> None:
        """Stop the process if it still runs and remove its folder (idempotent)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)
        shutil.rmtree(self.dir, ignore_errors=True)
