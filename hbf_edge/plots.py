"""PNG plots of evaluation results (matplotlib, headless Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hbf_edge._io import atomic_file  # noqa: E402

__all__ = ["plot_rate_vs_snr", "plot_rate_vs_layers", "plot_retention", "plot_beampattern", "plot_profile",
           "plot_numerical"]

_LABELS = {
    "upga": "UPGA (unfolded, trained)",
    "pga30": "PGA, 30 iterations",
    "pga100": "PGA, 100 iterations",
    "omp": "OMP hybrid (El Ayach 2014)",
    "zf": "fully digital ZF",
}
_STYLES = {"upga": "o-", "pga30": "s--", "pga100": "^--", "omp": "d:", "zf": "k-"}


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_rate_vs_snr(results: dict[str, Any], path: str | os.PathLike,
                     extra: dict[str, tuple[list[float], list[float]]] | None = None) -> Path:
    """Sum rate vs SNR for every method of an evaluation (top), and below it each close method's
    difference to PGA-100, where the curves that overlap on the top panel come apart.

    ``extra`` adds curves measured elsewhere, ``{label: (snr_db, rates)}``: the quantized
    designs of a retention table, for instance.
    """
    snr = results["snr_db"]
    rates = results["sum_rate"]
    fig, (ax, dx) = plt.subplots(2, 1, figsize=(6.6, 6.4), sharex=True, height_ratios=(3, 2), layout="constrained")
    for method, values in rates.items():
        ax.plot(snr, values, _STYLES.get(method, "-"), label=_LABELS.get(method, method), ms=5)
    extra_style = {label: (marker, colour) for label, marker, colour in  # the same look on both panels
                   zip(extra or {}, "P*Xhv", ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"))}
    for label, (x, y) in (extra or {}).items():
        ax.plot(x, y, extra_style[label][0], color=extra_style[label][1], ms=9, ls="none", label=label, zorder=4)
    s = results["sizes"]
    ax.set(ylabel="sum rate (bit/s/Hz)",
           title=f"N={s['N']}, M={s['M']}, K={s['K']}, I={s['I']}, J={s['J']}; {results['n_channels']} channels")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ref = rates.get("pga100")
    if ref is not None:
        ref_at = dict(zip(snr, ref))
        dx.axhline(0.0, color="gray", lw=0.8)
        for method in ("upga", "pga30"):
            if method in rates:
                dx.plot(snr, [v - r for v, r in zip(rates[method], ref)], _STYLES[method], ms=5,
                        label=_LABELS[method])
        for label, (x, y) in (extra or {}).items():
            pairs = [(a, b - ref_at[a]) for a, b in zip(x, y) if a in ref_at]
            dx.plot([a for a, _ in pairs], [b for _, b in pairs], extra_style[label][0], color=extra_style[label][1],
                    ms=9, ls="none", label=label)
        dx.set(ylabel="minus PGA-100 (bit/s/Hz)")
        dx.grid(True, alpha=0.3)
        dx.legend(fontsize=7)
    dx.set(xlabel="SNR = $P_t/\\sigma_n^2$ (dB)")
    return _save(fig, path)


def plot_rate_vs_layers(
    results: dict[str, Any], path: str | os.PathLike, snrs: list[str] | None = None
) -> Path:
    """Sum rate after each UPGA layer / PGA iteration, one panel per SNR (keys of ``layers``;
    default: those of 0, 10 and 20 dB that were evaluated, else all)."""
    if snrs is None:
        snrs = [s for s in ("0", "10", "20") if s in results["layers"]] or list(results["layers"])
    fig, axes = plt.subplots(1, len(snrs), figsize=(4.2 * len(snrs), 3.8), squeeze=False, layout="constrained")
    for ax, snr in zip(axes[0], snrs):
        entry = results["layers"][snr]
        ax.plot(range(len(entry["pga"])), entry["pga"], "--", label="PGA (fixed steps)")
        ax.plot(range(len(entry["upga"])), entry["upga"], "o-", label="UPGA (trained steps)")
        ax.axhline(entry["pga"][30], color="gray", lw=0.8, ls=":", label="PGA after 30 iterations")
        # symlog keeps layer 0 (the initialisation) on a log-like axis of layers/iterations
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0, len(entry["pga"]) - 1)
        ax.set(xlabel="layer / iteration (0 = initialisation)", title=f"SNR {snr} dB")
        if ax is axes[0][0]:
            ax.set_ylabel("sum rate (bit/s/Hz)")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


def plot_retention(study: dict[str, Any], path: str | os.PathLike) -> Path:
    """Sum-rate retention vs phase bits, one panel per SNR, for PTQ-round, PTQ-refit and QAT, and
    QAT with the code search in the hardware kernel when the study has one."""
    rows = study["rows"]
    snrs = study["snr_db"]
    q = [r["phase_bits"] for r in rows]
    curves = [("ptq_round", "d:", "PTQ: round phases"), ("ptq_refit", "s--", "PTQ: round + ZF refit"), ("quantized", "o-", "QAT")]
    if study.get("code_search") is not None and all("ptq_refit_search" in r["retention"] for r in rows):
        curves += [("ptq_refit_search", "v--", "PTQ-refit + code search (kernel)"),
                   ("hardware", "^-", "QAT + code search (kernel)")]
    top = max(100.5, max(100 * v + 0.5 for r in rows for key, _, _ in curves for v in r["retention"][key]))
    fig, axes = plt.subplots(1, len(snrs), figsize=(4.6 * len(snrs), 3.8), squeeze=False, layout="constrained")
    for i, (ax, snr) in enumerate(zip(axes[0], snrs)):
        for key, style, label in curves:
            ax.plot(q, [100 * r["retention"][key][i] for r in rows], style, label=label)
        ax.set(xlabel="phase bits Q", title=f"SNR {snr:g} dB", ylim=(None, top), xticks=q)
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.set_ylabel("sum rate, % of float UPGA")
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


def plot_beampattern(patterns: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Each user's beam as the model intended it (wide, pale) and as the front end applied it
    (thin, dashed, on top), in dB normalised to the peak; below, applied minus intended, which
    is where a calibration error or a code mismatch shows (zero for an exact replay)."""
    import numpy as np

    angles = patterns["angles_deg"]
    peak = max(float(patterns["intended"].max()), float(patterns["applied"].max()))
    fig, (ax, dx) = plt.subplots(2, 1, figsize=(7.0, 5.6), sharex=True, height_ratios=(3, 1.3), layout="constrained")
    for k, (want, got) in enumerate(zip(patterns["intended"], patterns["applied"])):
        want_db = 10 * np.log10(np.maximum(want / peak, 1e-6))
        got_db = 10 * np.log10(np.maximum(got / peak, 1e-6))
        line, = ax.plot(angles, want_db, "-", lw=4.0, alpha=0.35, label=f"user {k} intended")
        ax.plot(angles, got_db, "--", lw=1.2, color=line.get_color(), label=f"user {k} applied")
        dx.plot(angles, got_db - want_db, "-", lw=1.0, color=line.get_color())
    ax.set(ylabel="power (dB, peak = 0)", ylim=(-40, 1), title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    dx.axhline(0.0, color="gray", lw=0.8)
    dx.set(xlabel="angle (deg)", ylabel="applied - intended (dB)")
    dx.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_profile(result: dict[str, Any], batch: str, path: str | os.PathLike) -> Path:
    """Stacked bars: per-channel time of each stage (init, layers) for every backend."""
    data = result["measured"][batch]
    backends = list(data)
    fig, ax = plt.subplots(figsize=(1.6 * len(backends) + 3.0, 4.2), layout="constrained")
    bottom = [0.0] * len(backends)
    cmap = plt.get_cmap("viridis", len(result["stages"]))
    for j, stage in enumerate(result["stages"]):
        heights = [data[b]["us_per_channel"].get(stage, 0.0) for b in backends]  # the output stage: hardware only
        ax.bar(backends, heights, bottom=bottom, color=cmap(j), label=stage, edgecolor="white", linewidth=0.3)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.scatter(backends, [data[b]["whole_us_per_channel"] for b in backends], color="k", marker="_", s=400,
               zorder=3, label="whole forward")
    ax.set(xlabel="backend", ylabel="time per channel (us)", title=f"per-layer latency, batch {batch}")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return _save(fig, path)


def plot_numerical(result: dict[str, Any], sample: dict[str, Any], path: str | os.PathLike) -> Path:
    """hls4ml-style numerical profile: per datapath site, a box of log2 |value| (float network,
    every stage, nonzero values) over the bar of its format's range, LSB to largest word (the narrowest stage's
    format); sites with overflows are named in red with their count."""
    import numpy as np

    sites = list(result["sites"])
    fig, ax = plt.subplots(figsize=(8.0, 0.42 * len(sites) + 1.6), layout="constrained")
    for y, site in enumerate(sites):
        stages = result["sites"][site].values()
        lo = max(s["lsb"] for s in stages)
        hi = min(s["largest"] for s in stages)
        ax.barh(y, np.log2(hi) - np.log2(lo), left=np.log2(lo), height=0.7, color="#cfe3f7", edgecolor="#7aa6d6")
    data = [np.log2(sample[s][sample[s] > 0]) for s in sites]  # exact zeros (DFT columns) have no log
    ax.boxplot(data, positions=range(len(sites)), orientation="horizontal", widths=0.45, showfliers=True,
               flierprops={"markersize": 2, "alpha": 0.4}, whis=(0.1, 99.9))
    over = result["overflows"]["total"]
    ax.set_yticks(range(len(sites)), [f"{s} ({over[s]} overflows)" if over.get(s) else s for s in sites])
    for label, s in zip(ax.get_yticklabels(), sites):
        if over.get(s):
            label.set_color("red")
    snr = result["snr_db"]  # one SNR, or several (every SNR's values pooled)
    snr_text = ", ".join(f"{x:g}" for x in snr) if isinstance(snr, list) else f"{snr:g}"
    ax.set(xlabel="log2 |value|  (box: float network, whiskers 0.1-99.9 %; bar: format, LSB to largest word)",
           title=f"numerical profile, {result['n_channels']} channels at {snr_text} dB")
    ax.set_xlim(left=max(ax.get_xlim()[0], -40))
    return _save(fig, path)
