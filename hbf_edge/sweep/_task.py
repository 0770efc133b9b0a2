"""What a worker runs: one chunk of channels through the active points of one group, and one
QAT.  Plain functions of plain arguments, so that Dask ships them to any worker; the channels
are drawn on the worker from (seed, chunk) and never shipped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["run_chunk", "run_qat"]

_worker_ready = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def _malloc_fix() -> None:
    """Undo the ``MALLOC_TRIM_THRESHOLD_`` that Dask's nanny gives its workers (a cluster the
    user started): it turns off glibc's dynamic mmap threshold, so every large temporary array
    is mapped and unmapped afresh and the networks run ~4x slower.  Fixed thresholds at glibc's
    dynamic maxima (32 MiB mmap, 64 MiB trim) restore the speed; nothing is done elsewhere."""
    import ctypes
    import ctypes.util

    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not ctypes.util.find_library("c"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def _worker_setup(threads: int | None) -> None:
    """Once per worker process (a worker of a cluster the user started has not run the CLI):
    the toolkit's thread policy and the allocator fix above."""
    global _worker_ready
    if not _worker_ready:
        from hbf_edge._threads import apply_thread_policy

        apply_thread_policy(threads)
        _malloc_fix()
        _worker_ready = True


def run_chunk(task: dict[str, Any]) -> dict[str, Any]:
    """Draw chunk ``task["chunk"]`` of the group's channels and score every point of the task.

    ``task``: ``family``, ``hooks`` (the family's sweep hooks), ``model_dir``, ``snr_db``,
    ``count``, ``seed`` (the chunk's), ``points``, ``designs`` (QAT directories by key),
    ``group``, ``chunk``, ``threads``.  Returns the rows (``key`` + statistics) and seconds."""
    from hbf_edge.families import CORE
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.sweep._stats import chunk_stats

    _worker_setup(task.get("threads"))
    config, _ = read_model_dir(task["model_dir"])
    H = CORE.get(task["family"]).draw_channels(config, task["count"], task["seed"])
    result = task["hooks"].chunk(Path(task["model_dir"]), H, task["snr_db"], task["points"], task["designs"])
    events = result.get("events", {})
    rows = [{"key": p["key"], **chunk_stats(result["values"][p["key"]], result["reference"], events.get(p["key"], -1))}
            for p in task["points"]]
    return {"group": task["group"], "chunk": task["chunk"], "rows": rows, "seconds": result["seconds"]}


def run_qat(task: dict[str, Any]) -> str:
    """Retrain the model for one point (``task``: ``quant`` stage, ``model_dir``, ``out``,
    ``point``, ``options``, ``threads``); returns the directory.  A directory that is already
    complete (its ``config.json`` is written last, atomically) is kept: a rerun does not retrain."""
    out = Path(task["out"])
    if (out / "config.json").is_file():
        return str(out)
    _worker_setup(task.get("threads"))
    quant = task["quant"]
    return str(quant.sweep.qat(quant, Path(task["model_dir"]), out, task["point"], task["options"]))
