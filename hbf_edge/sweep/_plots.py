"""The sweep's plots, from the summary records: retention vs Q per SNR, the metric vs SNR,
time per channel vs word length, and the Pareto front of quality against lookup-table bits
and time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.plots import _save, plt
from hbf_edge.sweep._spec import FLOAT_STAGE
from hbf_edge.sweep._summary import pareto

__all__ = ["plot_sweep"]


def _word(records: list[dict[str, Any]]) -> int | None:
    """The word length the per-Q plots show: 12 bits (the toolkit's default) if swept, else the
    longest."""
    words = sorted({r["word_bits"] for r in records if r["word_bits"] is not None})
    return None if not words else (12 if 12 in words else words[-1])


def _lines(ax: Any, records: list[dict[str, Any]], x: str, y: str, err: str | None, by: str, label: str) -> None:
    for value in sorted({r[by] for r in records}):
        rs = sorted((r for r in records if r[by] == value), key=lambda r: r[x])
        ys = np.array([r.get(y, np.nan) for r in rs], float)
        es = np.array([r.get(err, 0.0) for r in rs], float) if err else None
        ax.errorbar([r[x] for r in rs], ys, yerr=es, marker="o", ms=3, capsize=2, label=f"{label}{value}")


def plot_sweep(records: list[dict[str, Any]], out: Path, metric: str, higher_is_better: bool = True) -> list[Path]:
    """Write the plots that apply to ``records``; returns their paths."""
    written = []
    quantized = [r for r in records if r["stage"] != FLOAT_STAGE and r["precision"] is None]
    word = _word(quantized)
    snrs = sorted({r["snr_db"] for r in records})
    at_word = [r for r in quantized if r["word_bits"] == word]
    if at_word and len({r["phase_bits"] for r in at_word}) > 1:
        fig, axes = plt.subplots(1, len(snrs), figsize=(4.2 * len(snrs), 3.4), squeeze=False, sharey=True)
        for ax, snr in zip(axes[0], snrs):
            _lines(ax, [r for r in at_word if r["snr_db"] == snr], "phase_bits", "retention", "retention_ci95",
                   "stage", "")
            ax.set(title=f"{snr:g} dB, W = {word} bits", xlabel="phase bits Q")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("retention vs float")
        axes[0][0].legend(fontsize=7)
        written.append(_save(fig, out / "retention_vs_q.png"))
    if len(snrs) > 1:
        stages = sorted({r["stage"] for r in records})
        fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 3.4), squeeze=False, sharey=True)
        floats = [r for r in records if r["stage"] == FLOAT_STAGE]
        for ax, stage in zip(axes[0], stages):
            rs = [r for r in records if r["stage"] == stage and (stage == FLOAT_STAGE or r["word_bits"] == word)]
            if stage != FLOAT_STAGE:
                _lines(ax, rs, "snr_db", "mean", "ci95", "phase_bits", "Q=")
            ref = sorted({(r["snr_db"], r["reference"]) for r in (floats or rs)})
            ax.plot([a for a, _ in ref], [b for _, b in ref], "k--", label="float")
            ax.set(title=stage + ("" if stage == FLOAT_STAGE else f", W = {word} bits"), xlabel="SNR (dB)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel(metric)
        written.append(_save(fig, out / "metric_vs_snr.png"))
    timed = [r for r in quantized if r["lut_bits"] is not None and r["us_per_channel"] is not None]
    if timed and len({r["word_bits"] for r in timed}) > 1:
        top = max(snrs)
        fig, ax = plt.subplots(figsize=(5, 3.4))
        _lines(ax, [r for r in timed if r["snr_db"] == top and r["stage"] == timed[0]["stage"]], "word_bits",
               "us_per_channel", None, "phase_bits", "Q=")
        ax.set(xlabel="word length W (bits)", ylabel=f"µs per channel ({timed[0]['stage']}, chunk batch)",
               title=f"integer kernel time, {top:g} dB (machine-dependent)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, out / "latency_vs_word.png"))
    scored = [r for r in quantized if r.get("retention") is not None and r["lut_bits"] is not None]  # datapath stages
    if len(scored) > 2:
        top = max(snrs)
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
        for ax, cost, label, scale in ((axes[0], "lut_bits", "lookup-table bits", "log"),
                                       (axes[1], "us_per_channel", "µs per channel (machine-dependent)", "linear")):
            rs = [r for r in scored if r["snr_db"] == top and r[cost] is not None]
            for stage in sorted({r["stage"] for r in rs}):
                ss = [r for r in rs if r["stage"] == stage]
                ax.scatter([r[cost] for r in ss], [r["retention"] for r in ss], s=12, label=stage, alpha=0.7)
            front = pareto(rs, cost, higher_is_better)
            ax.step([r[cost] for r in front], [r["retention"] for r in front], "k-", where="post", lw=1,
                    label="Pareto front")
            ax.set(xlabel=label, xscale=scale)
            ax.grid(alpha=0.3)
        axes[0].set(ylabel=f"retention vs float at {top:g} dB")
        axes[0].legend(fontsize=7)
        written.append(_save(fig, out / "pareto.png"))
    return written
