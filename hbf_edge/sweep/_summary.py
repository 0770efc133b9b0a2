"""One record per point: the metric with its 95 % interval, the retention against the float
network on the same channels, the stop reason, the lookup-table bits and the measured time."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Callable

from hbf_edge._io import atomic_file, write_json
from hbf_edge.sweep._spec import FLOAT_STAGE
from hbf_edge.sweep._stats import merge, summarize

__all__ = ["summarize_points", "write_summary", "pareto", "fronts", "CSV_COLUMNS"]

CSV_COLUMNS = ("key", "family", "stage", "snr_db", "phase_bits", "word_bits", "precision", "n", "chunks", "mean",
               "ci95", "reference", "retention", "retention_ci95", "events", "stopped", "lut_bits",
               "us_per_channel")


def summarize_points(points: list[dict[str, Any]], run: dict[str, Any],
                     lut_bits: Callable[[dict[str, Any]], int | None]) -> list[dict[str, Any]]:
    """The summary record of every point (``points`` with ``model`` paths and ``family``)."""
    records = []
    for p in points:
        kept = run["kept"][p["key"]]
        stats = merge(run["rows"][(p["key"], c)] for c in range(kept))
        times = [run["seconds"][(p["key"], c)] / run["rows"][(p["key"], c)]["n"] for c in range(kept)
                 if (p["key"], c) in run["seconds"]]
        records.append({**p, **summarize(stats), "chunks": kept, "stopped": run["reasons"][p["key"]],
                        "lut_bits": None if p["stage"] == FLOAT_STAGE else lut_bits(p),
                        "us_per_channel": round(1e6 * statistics.median(times), 3) if times else None})
    return records


def pareto(records: list[dict[str, Any]], cost: str, higher_is_better: bool = True) -> list[dict[str, Any]]:
    """The records no other beats with a lower (or equal) ``cost`` and a better (or equal)
    retention -- higher, or lower for an error rate -- by increasing cost."""
    sign = 1.0 if higher_is_better else -1.0
    front: list[dict[str, Any]] = []
    for r in sorted(records, key=lambda r: (r[cost], -sign * r["retention"])):
        if not front or sign * r["retention"] > sign * front[-1]["retention"]:
            front.append(r)
    return front


def fronts(records: list[dict[str, Any]], higher_is_better: bool = True) -> dict[str, list[str]]:
    """Per SNR, the keys of the Pareto front of retention against lookup-table bits, among the
    points that run the integer datapath (those with table bits)."""
    scored = [r for r in records if r.get("retention") is not None and r.get("lut_bits") is not None]
    return {f"{snr:g}": [r["key"] for r in pareto([r for r in scored if r["snr_db"] == snr], "lut_bits",
                                                  higher_is_better)]
            for snr in sorted({r["snr_db"] for r in scored})}


def write_summary(out: Path, result: dict[str, Any]) -> None:
    """``summary.json`` (the records and how the sweep ran) and ``summary.csv`` (one row per
    point, the columns of :data:`CSV_COLUMNS`)."""
    write_json(out / "summary.json", result)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in result["points"]:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in CSV_COLUMNS])
    with atomic_file(out / "summary.csv") as tmp:
        tmp.write_text(buf.getvalue())
