"""A sweep's folder: what makes it resumable, and the tidy tables it ends with.

::

    DIR/sweep.json          the spec and the identity of what was swept (seed, chunk, models' hashes)
    DIR/parts/*.json        one file per finished task, written atomically: its rows and timings
    DIR/qat/<point>/        the QAT model directory of each ``qat`` point
    DIR/results.parquet     one row per point x chunk (the chunks the stopping rule kept)
    DIR/timings.parquet     the seconds each point's design took on each chunk (machine-dependent,
                            so kept apart from the results, which are the same bit for bit)
    DIR/summary.json/.csv   one record per point, with 95 % intervals; DIR/*.png the plots

A finished task's rows never change: the rows of (point, chunk) depend only on the model, the
point, the seed and the chunk size, which ``sweep.json`` pins.  A rerun reads the parts and
computes only what is missing; a changed budget or stopping rule reuses every part.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from hbf_edge._io import atomic_file, read_json, write_json
from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import model_digest
from hbf_edge.sweep._stats import STAT_COLUMNS

__all__ = ["prepare", "read_parts", "write_part", "write_tables", "qat_dir", "POINT_COLUMNS"]

POINT_COLUMNS = ("key", "model", "family", "stage", "snr_db", "phase_bits", "word_bits", "precision", "seed")


def prepare(out: Path, spec: Any, overwrite: bool) -> dict[str, Any]:
    """Create (or reopen, to resume) the sweep folder ``out``; returns its identity record.
    A folder of another sweep -- another seed, chunk size or model content -- is refused
    unless ``overwrite``; a folder that is not a sweep's is never touched."""
    identity = {"seed": spec.to_dict()["seed"], "chunk": spec.chunk, "models": {m: model_digest(m) for m in spec.models}}
    record = out / "sweep.json"
    if out.exists() and not record.is_file() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not a sweep folder: choose another --out (--overwrite replaces "
                          "sweep folders only)")
    if record.is_file() and overwrite:
        shutil.rmtree(out)
    elif record.is_file():
        old = read_json(record, ConfigError).get("identity", {})
        differs = [k for k in ("seed", "chunk") if old.get(k) != identity[k]]
        differs += [m for m in spec.models if m in old.get("models", {}) and old["models"][m] != identity["models"][m]]
        if differs:
            raise ConfigError(f"{out} holds a sweep with another {', '.join(differs)} (pass --overwrite to replace it, "
                              f"or choose another --out)")
        identity["models"] = {**old.get("models", {}), **identity["models"]}
    (out / "parts").mkdir(parents=True, exist_ok=True)
    write_json(record, {"identity": identity, "spec": spec.to_dict()})
    return identity


def qat_dir(out: Path, key: str) -> Path:
    """The QAT model directory of point ``key``."""
    return out / "qat" / key.replace("/", "_")


def write_part(out: Path, group: int, chunk: int, rows: list[dict[str, Any]], seconds: dict[str, float]) -> None:
    """One finished task's rows (``key``, ``chunk`` and the statistics) and timings, atomically."""
    tag = hashlib.sha256(" ".join(sorted(r["key"] for r in rows)).encode()).hexdigest()[:12]
    with atomic_file(out / "parts" / f"g{group:04d}-c{chunk:07d}-{tag}.json") as tmp:
        tmp.write_text(json.dumps({"rows": rows, "seconds": seconds}))


def read_parts(out: Path) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[tuple[str, int], float]]:
    """Every stored row and timing by ``(key, chunk)``; a part a killed run left half-written
    cannot exist (atomic), an unreadable one is skipped and recomputed."""
    rows, seconds = {}, {}
    for path in sorted((out / "parts").glob("g*-c*.json")):
        try:
            part = json.loads(path.read_text())
            chunk = int(path.name.split("-c")[1].split("-")[0])
            for row in part["rows"]:
                rows[(row["key"], chunk)] = row
                seconds[(row["key"], chunk)] = float(part["seconds"][row["key"]])
        except (ValueError, KeyError, IndexError, TypeError):
            path.unlink(missing_ok=True)
    return rows, seconds


def write_tables(out: Path, points: list[dict[str, Any]], kept: dict[str, int],
                 rows: dict[tuple[str, int], dict[str, Any]], seconds: dict[tuple[str, int], float]) -> None:
    """``results.parquet`` (point x chunk, the chunks ``kept[key]`` of each point, sorted) and
    ``timings.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {c: [] for c in (*POINT_COLUMNS, "chunk", *STAT_COLUMNS)}
    timing: dict[str, list[Any]] = {"key": [], "chunk": [], "n": [], "seconds": []}
    for point in sorted(points, key=lambda p: p["key"]):
        for c in range(kept[point["key"]]):
            row = rows[(point["key"], c)]
            for name in POINT_COLUMNS:
                columns[name].append(point[name])
            columns["chunk"].append(c)
            for name in STAT_COLUMNS:
                columns[name].append(row[name])
            for name, value in (("key", point["key"]), ("chunk", c), ("n", row["n"]),
                                ("seconds", seconds.get((point["key"], c)))):
                timing[name].append(value)
    schema = pa.schema([("key", pa.string()), ("model", pa.string()), ("family", pa.string()), ("stage", pa.string()),
                        ("snr_db", pa.float64()), ("phase_bits", pa.int32()), ("word_bits", pa.int32()),
                        ("precision", pa.string()), ("seed", pa.int64()), ("chunk", pa.int64()), ("n", pa.int64()), ("sum", pa.float64()),
                        ("sumsq", pa.float64()), ("ref_sum", pa.float64()), ("ref_sumsq", pa.float64()),
                        ("cross", pa.float64()), ("events", pa.int64())])
    for name, table in (("results.parquet", pa.table(columns, schema=schema)), ("timings.parquet", pa.table(timing))):
        with atomic_file(out / name) as tmp:
            pq.write_table(table, tmp)
