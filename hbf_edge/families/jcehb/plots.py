"""PNG plots of the JCEHB evaluation: sum rate of every design (``mixed_timescale_jcehb.txt``
Fig. 10; a bar chart at one SNR, lines over several), the signalling overhead (Fig. 9) and the
validation rate during training, batch by batch (Fig. 16), and the online scheme's rate frame by
frame (Fig. 17)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hbf_edge.plots import _save, plt

__all__ = ["plot_rates", "plot_overhead", "plot_tracking", "plot_online"]


def plot_rates(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Sum rate per design: horizontal bars at one SNR, lines against SNR otherwise; the
    network drawn in the accent colour (bars) or thickest (lines)."""
    rates = results["metrics"]["sum_rate"]
    snrs = results["snr_db"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    if len(snrs) == 1:
        names = list(rates)
        ax.barh(names, [rates[n][0] for n in names], color=["C3" if n == "network" else "C0" for n in names])
        ax.invert_yaxis()
        ax.set(xlabel="sum rate (bit/s/Hz)", title=f"JCEHB at {snrs[0]:g} dB: {results['pilots']} pilots, "
                                                   f"{results['hb_layers']} HBDUN layers, {results['n_channels']} channels")
        ax.grid(True, axis="x", alpha=0.3)
    else:
        for name, values in rates.items():
            ax.plot(snrs, values, "o-", lw=2.5 if name == "network" else 1.2, label=name)
        ax.set(xlabel="SNR (dB)", ylabel="sum rate (bit/s/Hz)",
               title=f"JCEHB: {results['pilots']} pilots, {results['hb_layers']} HBDUN layers")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_overhead(bits: dict[str, Any], path: str | os.PathLike) -> Path:
    """Fig. 9: signalling bits per superframe against the number of frames, per scheme."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    labels = {"single": "single timescale (full CSI every slot)", "offline": "offline mixed timescale",
              "online": "online mixed timescale"}
    for key, label in labels.items():
        ax.plot(bits["frames"], bits[key], "o-", ms=3, label=label)
    a = bits["assumptions"]
    ax.set(xlabel="frames", ylabel="signalling bits per superframe",
           title=f"pilot overhead: q = {a['q_bits']}, T_s = {a['slots_per_frame']}, N_sample = {a['statistics_samples']}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_tracking(track: dict[str, Any], path: str | os.PathLike, start: str = "") -> Path:
    """Fig. 16: the validation sum rate against the training batches of each stage (batch 0:
    where the stage started -- for a model fine-tuned on new statistics, the old model on them).
    The separate design's estimator stage is trained on its NMSE and is left out."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    offset = 0
    for stage in dict.fromkeys(r["stage"] for r in track["records"] if r["stage"] != "separate CE"):  # rate stages
        recs = [r for r in track["records"] if r["stage"] == stage]
        ax.plot([offset + r["batch"] for r in recs], [-r["val_loss"] for r in recs], "o-", ms=3, label=stage)
        offset += recs[-1]["batch"]
    ax.set(xlabel=f"training batches of {track['batch_size']} channels", ylabel="validation sum rate (bit/s/Hz)",
           title="JCEHB training" + (f" from {start}" if start else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_online(online: dict[str, Any], path: str | os.PathLike, offline: dict[str, float] | None = None,
                offline_channels: int | None = None, others: dict[str, dict[str, Any]] | None = None) -> Path:
    """Fig. 17-18: the sum rate of the online network (the unfolded one, or the black box) and of
    online RLS-SSCA after each frame (frame 0: before any sample); other online runs (``others``:
    name -> their record, e.g. the black box for Fig. 18) as curves of their own, and
    offline-trained networks (``offline``: name -> rate at the training SNR on
    ``offline_channels`` evaluation channels) as horizontal lines."""
    frames = online["per_frame"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    x = [r["frame"] for r in frames]
    label = lambda rec: "online black box" if rec.get("design") == "black-box" else "online network"  # noqa: E731
    ax.plot(x, [r["network"] for r in frames], "o-", lw=2.5, color="C3", label=label(online))
    for i, (name, rec) in enumerate((others or {}).items()):
        ax.plot([r["frame"] for r in rec["per_frame"]], [r["network"] for r in rec["per_frame"]], "^-",
                color=f"C{i + 1}", label=f"{label(rec)}: {name}")
    ax.plot(x, [r["rls_ssca"] for r in frames], "s-", color="C0",
            label=f"online RLS-{online['reference_pilots']} + SSCA (SCA-{online['reference_iterations']})")
    for i, (name, rate) in enumerate((offline or {}).items()):
        ax.axhline(rate, ls="--", color=f"C{i + 4}", label=f"offline: {name} ({offline_channels} channels)")
    ax.set(xlabel=f"frames ({online['samples']} full-CSI samples each)", ylabel="sum rate (bit/s/Hz)",
           title=f"online mixed timescale, scored on {online['test_channels']} channels")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
