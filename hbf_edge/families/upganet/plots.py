"""PNG plots of the JCAS (UPGANet) evaluation: the paper's Fig. 2 and Fig. 3 (``upganet_jcas.txt``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.plots import _save, plt

__all__ = ["plot_upganet_vs_snr", "plot_upganet_convergence", "plot_upganet_beampattern", "plot_upganet_profile"]


def _label(name: str) -> str:
    if name == "pga":
        return "PGA (fixed steps, the paper's)"
    if name == "pga_tuned":
        return "PGA (fixed steps tuned on validation channels)"
    if name == "zf":
        return "digital ZF (comm. only)"
    if name.startswith("pga_j"):
        inner, init = name[5:].split("_", 1)
        if init == "initsteps":
            return f"PGA J={inner}, fixed at UPGANet's initial steps"
        return f"PGA J={inner}, fixed steps 0.01, {init} init"
    return name


def plot_upganet_vs_snr(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Three panels vs SNR: sum rate, beampattern MSE (dB) and the objective R - omega tau (Fig. 3a-b)."""
    fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.0), layout="constrained")
    snr = results["snr_db"]
    for ax, key, ylabel in zip(axes, ("sum_rate", "mse_db", "objective"),
                               ("sum rate (bit/s/Hz)", "beampattern MSE (dB)", "R - omega tau")):
        for name, values in results[key].items():
            if key == "objective" and name == "zf":
                continue  # ZF ignores sensing; its objective is off the scale
            ax.plot(snr, values, "k-" if name == "zf" else "o-", label=_label(name))
        ax.set(xlabel="SNR = $P_{BS}/\\sigma_n^2$ (dB)", ylabel=ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"JCAS, omega={results['omega']}, {results['n_channels']} channels")
    return _save(fig, path)


def plot_upganet_convergence(conv: dict[str, Any], path: str | os.PathLike) -> Path:
    """Mean objective after each outer layer / iteration (Fig. 2), with each curve's peak marked."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4), layout="constrained")
    for name, curve in conv["curves"].items():
        style = "-" if not name.startswith("pga") else ("--" if name.endswith(("proposed", "initsteps")) else ":")
        line, = ax.plot(range(len(curve)), curve, style, lw=2.0 if not name.startswith("pga") else 1.2,
                        label=_label(name))
        peak = conv["peak_layer"][name]
        ax.plot([peak], [curve[peak]], "o", color=line.get_color(), ms=5)
    ax.set(xlabel="outer layer / iteration i (0 = initialisation)", ylabel="R - omega tau (mean)",
           title=f"convergence at {conv['snr_db']:g} dB, {conv['n_channels']} channels (dots: peaks)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_upganet_beampattern(bp: dict[str, Any], path: str | os.PathLike) -> Path:
    """Average transmit beampatterns / P_BS of every design vs the benchmark ``a^H Psi_1 a`` (Fig. 3c)."""
    fig, ax = plt.subplots(figsize=(9.6, 4.2), layout="constrained")
    angles = np.asarray(bp["angles_deg"])
    for name, pattern in bp["patterns"].items():
        style = "k-" if name == "benchmark" else ("k:" if name == "zf" else "-")
        ax.plot(angles, pattern, style, lw=2.2 if name == "benchmark" else 1.2,
                label="benchmark $a^H \\Psi a$ (eq. 4)" if name == "benchmark" else _label(name))
    for t in bp["targets_deg"]:
        ax.axvline(t, color="gray", lw=0.6, ls=":")
    ax.set(xlabel="angle (deg)", ylabel="beampattern / $P_{BS}$", xlim=(-90, 90),
           title=f"average beampattern at {bp['snr_db']:g} dB")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the lobes fill the axes
    return _save(fig, path)


def plot_upganet_profile(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Per-stage microseconds per channel of torch eager (init, each layer) as bars, with every
    other backend's per-layer figure (and the target estimate) as horizontal lines, one panel
    per batch size."""
    batches = list(result["measured"])
    fig, axes = plt.subplots(1, len(batches), figsize=(5.2 * len(batches), 3.8), squeeze=False, layout="constrained")
    colors = {"numba_float64": "tab:blue", "numba_float32": "tab:orange", "numba_hardware": "tab:green",
              "onnxruntime": "tab:purple"}
    for ax, batch in zip(axes[0], batches):
        row = result["measured"][batch]
        if "torch_eager" in row:
            stages = row["torch_eager"]["stages_us_per_channel"]
            ax.bar(list(stages), list(stages.values()), color="tab:gray", label="torch eager")
        else:
            ax.set_xticks([])
        for name, color in colors.items():
            if name in row:
                ax.axhline(row[name]["layer_us_per_channel"], color=color, lw=1.5, label=f"{name} per layer")
        if "target" in result:
            ax.axhline(result["target"]["layer"]["us"], color="k", ls="--", lw=1.2,
                       label=f"{result['target']['name']} (estimate)")
        ax.set(ylabel="us per channel", title=f"batch {batch}", yscale="log")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle(f"UPGANet I={result['I']} J={result['J']}, N={result['N']}: per-layer latency")
    return _save(fig, path)
