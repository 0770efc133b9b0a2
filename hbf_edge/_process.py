"""Second processes of the toolkit: stopping one that may still run (the demo's background
precompilation), and :class:`SideProcess`, a job on the other core whose result the caller
takes later (the bundle writer's quantized graphs, the demo's evaluation)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["SideProcess", "side_cores", "stop_process"]

_ERRORS = "stderr.txt"


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM ``process`` if it still runs and wait for it; SIGKILL if it outlives ``timeout``
    seconds (SIGTERM ends Python at once; that is the fallback)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def side_cores() -> int:
    """How many cores the thread policy lets the toolkit use (``--threads`` / ``HBF_EDGE_THREADS``,
    else ``NUMBA_NUM_THREADS``, else the machine's): a second process only when it is at least 2."""
    for name in ("HBF_EDGE_THREADS", "NUMBA_NUM_THREADS"):
        text = os.environ.get(name, "")
        if text.isdigit() and int(text) >= 1:
            return int(text)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class SideProcess:
    """``python ARGS`` in the background on one thread, ``ARGS = argv(OUT)`` for a new folder
    ``OUT`` that the process writes (it does not exist yet); :meth:`result` waits for it.

    The process writes only there; its messages go to a file read only when it fails, and
    :meth:`close` stops it and removes the folder, however the caller ends (a failure, Ctrl-C or
    SIGTERM leaves nothing behind).  A failure raises ``error`` naming ``what`` and the process's
    last message, one line.
    """

    def __init__(self, what: str, argv: Callable[[Path], Sequence[str]], error: type[Exception]) -> None:
        self.what, self.error = what, error
        self.dir = Path(tempfile.mkdtemp(prefix="hbf-edge-side-"))
        self.process: subprocess.Popen | None = None
        env = dict(os.environ, HBF_EDGE_THREADS="1")  # one core: the caller keeps the other busy
        try:
            with open(self.dir / _ERRORS, "wb") as errors:
                self.process = subprocess.Popen([sys.executable, *argv(self.dir / "out")], env=env,
                                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except BaseException:
            self.close()
            raise

    def result(self) -> Path:
        """Wait for the process; the folder it wrote."""
        code = self.process.wait()
        if code != 0:
            lines = (self.dir / _ERRORS).read_text(errors="replace").strip().splitlines() or ["no message"]
            raise self.error(f"{self.what}: its process failed (exit {code}): {lines[-1]}")
        return self.dir / "out"

    def close(self) -> None:
        """Stop the process if it still runs and remove its folder (idempotent)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)
        shutil.rmtree(self.dir, ignore_errors=True)
