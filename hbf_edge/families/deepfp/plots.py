"""PNG plots of the DeepFP evaluation: WSR against layers / iterations (``deepfp.txt`` Fig. 5)
and the distribution of the per-channel WSR (Fig. 8-9)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.plots import _save, plt

__all__ = ["plot_deepfp_convergence", "plot_deepfp_cdf", "plot_deepfp_profile"]


def plot_deepfp_convergence(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Mean WSR after each FastFP iteration and after each DeepFP layer, with the iteration
    count at which FastFP matches DeepFP marked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    traj = results["fastfp_trajectory"]
    ax.plot(range(len(traj)), traj, "-", label="FastFP ($\\lambda_{max}$), after i iterations")
    layers = results["deepfp_layers"]
    ax.plot(range(1, len(layers) + 1), layers, "o-", label="DeepFP, after layer i")
    k = results.get("matching_iterations")
    if k is not None:
        ax.axvline(k, color="grey", ls=":", label=f"FastFP matches DeepFP at {k} iterations")
    ax.set(xlabel="iteration / layer i", ylabel="mean WSR (bit/s/Hz)",
           title=f"{results['n_cells']} cell(s), $N_t$={results['n_tx']}, $N_r$={results['n_rx']}, "
                 f"K={results['users_per_cell']}, d={results['n_streams']}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_deepfp_cdf(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Empirical CDF of the per-channel WSR of every method."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    names = {"deepfp": "DeepFP", "fastfp": "FastFP-100", "ezf": "EZF", "wmmse_sc": "WMMSE-SC", "wmmse": "WMMSE"}
    for key, values in results["per_channel"].items():
        v = np.sort(np.asarray(values))
        ax.plot(v, np.arange(1, v.size + 1) / v.size, label=names.get(key, key))
    ax.set(xlabel="WSR (bit/s/Hz)", ylabel="CDF", title=f"{results['n_channels']} held-out channels")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_deepfp_profile(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Microseconds per network of every layer, one panel per batch size: torch eager as stacked
    stages (FP state, DNN, update), each kernel backend as a bar beside it, the target estimate
    as a dashed line."""
    batches = list(result["measured"])
    fig, axes = plt.subplots(1, len(batches), figsize=(6.0 * len(batches), 4.0), squeeze=False, layout="constrained")
    layers = np.arange(result["I"])
    for ax, batch in zip(axes[0], batches):
        row = result["measured"][batch]
        kernels = [k for k in ("numba_float64", "numba_hardware") if k in row]
        width = 0.8 / (len(kernels) + ("torch_eager" in row))
        x = layers - 0.4 + width / 2
        if "torch_eager" in row:
            bottom = np.zeros(len(layers))
            for stage, color in zip(("fp_state", "dnn", "update"), ("tab:gray", "tab:red", "tab:olive")):
                vals = np.array([r[stage] for r in row["torch_eager"]["layers"]])
                ax.bar(x, vals, width, bottom=bottom, color=color, label=f"torch eager: {stage}")
                bottom += vals
            x = x + width
        for name, color in zip(kernels, ("tab:blue", "tab:green")):
            ax.bar(x, row[name]["layers_us_per_channel"], width, color=color, label=name)
            x = x + width
        if "target" in result:
            ax.axhline(result["target"]["stages"]["layer"]["us"], color="k", ls="--", lw=1.2,
                       label=f"{result['target']['name']} (estimate)")
        ax.set(xlabel="layer", ylabel="us per network", title=f"batch {batch}", yscale="log", xticks=layers)
        ax.legend(fontsize=7)
    net = result["network"]
    fig.suptitle(f"DeepFP L={result['I']}: {net['n_cells']} cell(s), N_t={net['n_tx']}, N_r={net['n_rx']}, "
                 f"K={net['n_users']}, d={net['n_streams']}: per-layer latency")
    return _save(fig, path)
