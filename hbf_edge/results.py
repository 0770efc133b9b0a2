"""The common part of every result file (standard library only): evaluation, retention and profile.

Each family writes its own tables under its own keys; every result file also carries the same
envelope -- ``schema`` (``hbf-edge/<kind>/<version>``), ``family`` and ``model_dir`` -- and
the keys of its kind that generic readers rely on:

* ``evaluation`` (``results.json``): ``n_channels`` and ``metrics``, the family's metrics
  (``FamilySpec.metrics``) as ``{metric: {method: value or [value per SNR]}}`` with
  ``snr_db`` where they are per SNR;
* ``retention`` (``retention.json``): ``method`` (``qat`` | ``ptq``);
* ``profile`` (``profile.json``): ``measured`` ``{batch: {backend: {whole_us_per_channel}}}``
  and ``target``;
* ``simulation`` (``simulate.json``): ``n_beams`` and the applied beams' score, ``sum_rate`` (the
  rate families) or ``ser`` (MSER).

Beside each JSON file, :func:`write_result` writes its tables as tidy CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path
from typing import Any

__all__ = ["SCHEMAS", "stamp", "check", "Table", "tables", "write_result"]

SCHEMAS = {"evaluation": 1, "retention": 1, "profile": 1, "simulation": 1, "firmware": 1, "numerical": 1}
_REQUIRED = {"evaluation": ("n_channels", "metrics"), "retention": ("method",), "profile": ("measured", "target"),
             "simulation": ("n_beams",), "firmware": ("bundle", "targets"),
             "numerical": ("sites", "overflows", "sum_rate")}
_ONE_OF = {"simulation": ("sum_rate", "ser")}  # at least one of these


def stamp(result: dict[str, Any], kind: str, family: str, model_dir: Any, **keys: Any) -> dict[str, Any]:
    """Add the envelope (and ``keys``) to ``result`` in place; returns it, checked.  (A
    simulation's ``model_dir`` is None: it reads a bundle, named by its ``bundle`` key.)"""
    result.update(schema=f"hbf-edge/{kind}/{SCHEMAS[kind]}", family=family,
                  model_dir=None if model_dir is None else str(model_dir), **keys)
    check(result)
    return result


def check(result: dict[str, Any]) -> str:
    """The kind of a result whose envelope and required keys are present (KeyError otherwise)."""
    kind, _, _ = str(result["schema"]).removeprefix("hbf-edge/").partition("/")
    for key in ("family", "model_dir") + _REQUIRED[kind]:
        if key not in result:
            raise KeyError(f"a {kind} result needs {key!r}")
    either = _ONE_OF.get(kind, ())
    if either and not any(key in result for key in either):
        raise KeyError(f"a {kind} result needs one of {', '.join(map(repr, either))}")
    return kind


@dataclasses.dataclass(frozen=True)
class Table:
    """One table of a result: ``rows`` of ``(label, [cell per column])``."""

    title: str
    columns: list[str]
    rows: list[tuple[str, list[Any]]]


def _per_snr_tables(result: dict[str, Any]) -> list[Table]:
    """Every ``{method: [value per SNR]}`` block of a result (an evaluation's metrics, a
    retention's rates and ratios), one row per method and one column per SNR."""
    snrs = result.get("snr_db")
    if not isinstance(snrs, list) or not snrs:
        return []
    columns = [f"{x:g} dB" for x in snrs]
    blocks = dict(result.get("metrics") or {})
    blocks.update({k: v for k, v in result.items() if k not in blocks and k != "metrics"})
    out = []
    for key, block in blocks.items():
        if isinstance(block, dict):
            rows = [(str(m), list(v)) for m, v in block.items() if isinstance(v, list) and len(v) == len(snrs)
                    and all(isinstance(x, (int, float)) for x in v)]
            if rows:
                out.append(Table(key, columns, rows))
    return out


def _profile_tables(result: dict[str, Any]) -> list[Table]:
    """Microseconds per channel, one table per batch: a row per stage, a column per backend."""
    out = []
    for batch, backends in result["measured"].items():
        names = list(backends)
        stages = list(result.get("stages") or [])
        rows = [(stage, [backends[b].get("us_per_channel", {}).get(stage) for b in names]) for stage in stages]
        rows.append(("whole forward", [backends[b].get("whole_us_per_channel") for b in names]))
        out.append(Table(f"us per channel at batch {batch}", names, rows))
    return out


def _scalars(node: Any, prefix: str = "") -> list[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        return [row for k, v in node.items() for row in _scalars(v, f"{prefix}{k}.")]
    if isinstance(node, (int, float, str, bool)) or node is None:
        return [(prefix[:-1], [node])]
    return []


def tables(result: dict[str, Any]) -> list[Table]:
    """The tables a person (or a spreadsheet) reads from a result file: per-SNR blocks for an
    evaluation or retention, per-stage latency for a profile, and the scalar settings and
    figures of any result (a simulation report, say) as a key/value table."""
    found = _profile_tables(result) if "measured" in result and "stages" in result else _per_snr_tables(result)
    scalars = [row for row in _scalars({k: v for k, v in result.items() if k not in ("measured", "cost")})
               if row[0] not in ("schema", "family", "model_dir")]
    if scalars:
        found.append(Table("figures and settings", ["value"], scalars))
    return found


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """``path`` (strict JSON) and, beside it, ``<stem>.csv``: every table of :func:`tables`
    in tidy form (``table,row,column,value``), for spreadsheets and dataframes."""
    from hbf_edge._io import atomic_file, write_json

    path = write_json(path, result)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["table", "row", "column", "value"])
    for table in tables(result):
        for label, cells in table.rows:
            for column, cell in zip(table.columns, cells):
                writer.writerow([table.title, label, column, "" if cell is None else cell])
    with atomic_file(Path(path).with_suffix(".csv")) as tmp:
        tmp.write_text(buf.getvalue())
    return path
