"""What a worker runs: one chunk of channels through the active points of one group, and one
QAT.  Plain functions of plain arguments, so that Dask ships them to any worker; the channels
are drawn on the worker from (seed, chunk) and never shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["run_chunk", "run_qat"]

_policy_applied = False


def _thread_policy(threads: int | None) -> None:
    """The toolkit's thread policy, once per worker process (a worker of a cluster the user
    started has not run the CLI)."""
    global _policy_applied
    if not _policy_applied:
        from hbf_edge._threads import apply_thread_policy

        apply_thread_policy(threads)
        _policy_applied = True


def run_chunk(task: dict[str, Any]) -> dict[str, Any]:
    """Draw chunk ``task["chunk"]`` of the group's channels and score every point of the task.

    ``task``: ``family``, ``hooks`` (the family's sweep hooks), ``model_dir``, ``snr_db``,
    ``count``, ``seed`` (the chunk's), ``points``, ``designs`` (QAT directories by key),
    ``group``, ``chunk``, ``threads``.  Returns the rows (``key`` + statistics) and seconds."""
    from hbf_edge.families import CORE
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.sweep._stats import chunk_stats

    _thread_policy(task.get("threads"))
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
    _thread_policy(task.get("threads"))
    quant = task["quant"]
    return str(quant.sweep.qat(quant, Path(task["model_dir"]), out, task["point"], task["options"]))
