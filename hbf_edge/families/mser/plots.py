"""PNG plots of the MSER evaluation: SER against SNR for every design (``mser_unfolding_hbf.txt``
Fig. 8) and against the CSI error variance (Fig. 10)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hbf_edge.plots import _save, plt

__all__ = ["plot_ser_vs_snr", "plot_ser_vs_csi_error"]

_LABELS = {"network": "unfolded network", "alignment": "DFT alignment (start)", "mmse_digital": "fully digital MMSE",
           "omp_mmse": "OMP hybrid (MMSE)", "mo_mmse": "MO-AltMin hybrid (MMSE)", "hardware": "integer datapath"}


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    if name.startswith("mmse_gd_"):
        return "MMSE-based GD, " + name.removeprefix("mmse_gd_") + " iterations"
    return name.replace("gd_", "GD, ") + " iterations"


def plot_ser_vs_snr(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Exact SER (log scale) against SNR, one line per design; the network drawn thickest."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    snrs = results["snr_db"]
    for name, values in results["metrics"]["ser"].items():
        label = _label(name)
        ax.semilogy(snrs, values, "o-", lw=2.5 if name == "network" else 1.2, label=label)
    ax.set(xlabel="SNR (dB)", ylabel="SER (exact, Gaussian noise)",
           title=f"MSER: {results['layers']} layers, {results['n_channels']} channels")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_ser_vs_csi_error(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Exact SER (log scale) against the CSI error variance at one SNR, one line per design."""
    c = results["imperfect_csi"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, values in c["ser"].items():
        label = _label(name)
        ax.semilogy(c["error_variance"], values, "o-", lw=2.5 if name == "network" else 1.2, label=label)
    ax.set(xlabel="CSI error variance sigma_h^2 (relative to the mean entry power of H)",
           ylabel="SER (exact, Gaussian noise)", title=f"MSER, imperfect CSI at {c['snr_db']:g} dB, "
           f"{results['n_channels']} channels")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
