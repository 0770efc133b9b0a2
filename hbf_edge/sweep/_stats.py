"""Sufficient statistics of a point on a chunk, merged exactly, and the stopping rule.

A row holds, for the ``n`` channels of one chunk, the sums that make every summary exact under
merging: ``sum`` and ``sumsq`` of the metric ``x``, the same of the float reference ``r`` on the
same channels, the cross sum ``sum x r`` and the error ``events`` (error-rate metrics).  Sums
merge by addition in chunk order (float addition is not associative: a fixed order makes the
merge the same bit for bit in every run).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

__all__ = ["STAT_COLUMNS", "chunk_stats", "merge", "summarize", "stopped"]

STAT_COLUMNS = ("n", "sum", "sumsq", "ref_sum", "ref_sumsq", "cross", "events")
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def chunk_stats(values: np.ndarray, reference: np.ndarray, events: int = -1) -> dict[str, Any]:
    """The row statistics of per-channel metric ``values [B]`` against ``reference [B]``
    (``events``: error events, -1 when the metric has none)."""
    x, r = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    return {"n": int(x.size), "sum": float(x.sum()), "sumsq": float(x @ x), "ref_sum": float(r.sum()),
            "ref_sumsq": float(r @ r), "cross": float(x @ r), "events": int(events)}


def merge(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sum of the statistics of ``rows`` (in the order given); ``events`` -1 if any row has none."""
    total = {k: 0 for k in STAT_COLUMNS}
    total.update(sum=0.0, sumsq=0.0, ref_sum=0.0, ref_sumsq=0.0, cross=0.0)
    for row in rows:
        for k in STAT_COLUMNS:
            if k == "events":  # a metric without error events keeps -1
                total[k] = -1 if row[k] < 0 or total[k] < 0 else total[k] + row[k]
            else:
                total[k] += row[k]
    return total


def summarize(s: dict[str, Any]) -> dict[str, Any]:
    """Mean with its 95 % half-width, and the ratio to the reference mean (``retention``) with
    its half-width by the delta method on the paired channels."""
    n = s["n"]
    mean, ref = s["sum"] / n, s["ref_sum"] / n
    unbiased = n / max(n - 1, 1)  # the same factor on every (co)variance: they cancel in the ratio's
    var = max(s["sumsq"] / n - mean * mean, 0.0) * unbiased
    out = {"n": n, "mean": mean, "ci95": Z95 * math.sqrt(var / n), "reference": ref}
    if ref != 0.0:
        ratio = mean / ref
        var_r = max(s["ref_sumsq"] / n - ref * ref, 0.0) * unbiased
        cov = (s["cross"] / n - mean * ref) * unbiased
        var_ratio = max(var - 2.0 * ratio * cov + ratio * ratio * var_r, 0.0) / (ref * ref)
        out.update(retention=ratio, retention_ci95=Z95 * math.sqrt(var_ratio / n))
    if s["events"] >= 0:
        out["events"] = s["events"]
    return out


def stopped(s: dict[str, Any], rule: Any) -> str | None:
    """Why a point with merged statistics ``s`` needs no more channels under ``rule``
    (:class:`~hbf_edge.sweep._spec.StopRule`), or None."""
    if s["n"] < max(rule.min_channels, 2):
        return None
    if rule.errors and s["events"] >= rule.errors:
        return f"{s['events']} error events"
    if rule.ci:
        summary = summarize(s)
        if summary["mean"] != 0.0 and summary["ci95"] <= rule.ci * abs(summary["mean"]):
            return f"95 % interval within {rule.ci:g} of the mean"
    return None
