"""Compile the demo's later kernels ahead, in a background process (``hbf-edge demo``).

Why: Numba compiles a kernel the first time a process calls it, then caches it on disk.  A first
demo after an install spent about 133 s of its 4 minutes compiling the kernels of its export
and profile stages (README, "The first demo after an install").  Its first stages (training,
evaluation, QAT) keep one core busy with torch on one thread; meanwhile a second process, on
the other core, runs the later stages on tiny sizes (``python -m hbf_edge.demo``:
Numba specialises on types, not sizes), which writes their kernels into the cache the demo
then loads them from.  If the demo gets to a kernel first, it compiles it itself, as without
this process; if it needs a kernel while this process is compiling it, it waits on that kernel's
compile lock (:mod:`kernels._core.compile_lock`) and loads it (a first demo's QAT waited so for
the hardware forward, README "The first demo after an install").  The demo never waits for the
process as a whole, and nothing it does reaches the demo's results.

The work comes in parts, one process each (the demo's: its stages in order, and the float32
kernels of its profile).  Each runs at a lower priority on one thread: the first at ``nice`` 10,
the others at 19, so that they take what the demo and the first part leave idle (the demo waits
for kernels the first part is compiling: with one process, a first demo's QAT took about 37 s
and its profile about 28 s longer than warm, a core idle meanwhile; README "A first demo on the
2-core AMD EPYC of family 25 model 1").  A process writes nothing but the Numba cache and its
tiny run's temporary folder (which the demo removes), and is stopped when the demo ends.  When a part completes it leaves a stamp named by the part and a digest of
everything Numba's cache depends on (the toolkit's source files by path, size and modification
time, stricter than Numba's own stamp, a hash of each file's contents; the Python, Numba and
NumPy versions; ``NUMBA_OPT`` and the cache location), and later demos with the same digest do
not start that part again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from hbf_edge._process import stop_process

__all__ = ["Background", "run", "start", "stop", "stamp_path"]

_PACKAGES = ("hbf_edge", "hbf_edge.kernels", "hbf_edge.quant", "hbf_edge.export")
_ERRORS = "stderr.txt"  # the process's messages, read only when it failed


def _digest() -> str:
    """A digest of what decides whether Numba's cache holds the demo's kernels (module notes).
    The packages' folders come from their import specs: nothing of them is imported here."""
    from importlib.util import find_spec

    import numba
    import numpy

    h = hashlib.sha256()
    for name in (sys.version, numba.__version__, numpy.__version__, os.environ.get("NUMBA_OPT", ""),
                 os.environ.get("NUMBA_CACHE_DIR", "")):
        h.update(name.encode() + b"\0")
    for package in _PACKAGES:
        for root in find_spec(package).submodule_search_locations:
            for path in sorted(Path(root).rglob("*.py")):
                st = path.stat()
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def stamp_path(part: str) -> Path:
    """Where the stamp of a completed part goes: the Numba cache directory when
    ``NUMBA_CACHE_DIR`` sets one, else the toolkit's own ``__pycache__`` (where Numba caches
    the kernels of a writable install)."""
    root = os.environ.get("NUMBA_CACHE_DIR") or str(Path(__file__).resolve().parent / "__pycache__")
    return Path(root) / f"hbf_edge_precompiled_{_digest()}_{part}"


@dataclasses.dataclass
class Background:
    """The running precompilation: its process and the temporary folder of its tiny run."""

    process: subprocess.Popen
    work: Path
    stopped: bool = False


def start(module: str, part: str, nice: int) -> Background | None:
    """Start ``python -m MODULE WORK STAMP PART NICE`` in the background (a module whose main
    calls :func:`run` with that part's stages), unless a stamp says the cache already holds the
    part's kernels or Numba's JIT is off (then ``None``)."""
    from numba.core import config

    stamp = stamp_path(part)
    if stamp.exists() or config.DISABLE_JIT:
        return None
    work = Path(tempfile.mkdtemp(prefix=f"hbf-edge-precompile-{part}-"))
    env = dict(os.environ, HBF_EDGE_THREADS="1")  # one core: the demo keeps the other busy
    with open(work / _ERRORS, "wb") as errors:
        process = subprocess.Popen([sys.executable, "-m", module, str(work / "run"), str(stamp), part, str(nice)],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    return Background(process, work)


def stop(background: Background | None) -> str | None:
    """Stop the background process if it still runs (the demo has ended; what it compiled stays
    in the cache) and remove its folder.  Returns a one-line note if it had failed (the demo
    went on without it, at most slower), else ``None``."""
    if background is None or background.stopped:
        return None
    background.stopped = True
    process = background.process
    note = None
    if process.poll() is not None and process.returncode != 0:
        lines = (background.work / _ERRORS).read_text(errors="replace").strip().splitlines() or ["no message"]
        note = f"the background precompilation failed (exit {process.returncode}): {lines[-1]}"
    else:
        stop_process(process)
    shutil.rmtree(background.work, ignore_errors=True)
    return note


def run(work: str, stamp: str, stages: Callable[[Path], None], nice: int) -> int:
    """The background process's body at ``nice`` (module notes): ``stages(work)`` (the tiny
    run), then the stamp."""
    if hasattr(os, "nice"):
        os.nice(nice)
    from hbf_edge._threads import apply_thread_policy

    apply_thread_policy()
    Path(work).mkdir(parents=True, exist_ok=True)
    stages(Path(work))
    try:
        Path(stamp).parent.mkdir(parents=True, exist_ok=True)
        Path(stamp).touch()
    except OSError:  # a read-only install: the next demo runs this again, which costs only time
        pass
    return 0
