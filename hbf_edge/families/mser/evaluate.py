"""Evaluation of an MSER model: exact SER of the network against the baselines, per SNR
(``mser_unfolding_hbf.txt`` Table I, Fig. 8-9; spec section 4).

Rows (every design scored by :func:`~hbf_edge.families.mser.ser.ser_semi_analytic`, the exact
SER for Gaussian noise):

* ``network`` -- the unfolded network from its start (or the benchmark CNN of a CNN's directory,
  :mod:`~hbf_edge.families.mser.cnn`);
* ``compare:<name>`` -- other networks of the same sizes (``--compare``: the benchmark CNN beside
  the unfolded network gives Table I's three columns in one run), each from its own start;
* ``gd_<L>`` -- Algorithm 1 for as many iterations as the network has layers, with the GD steps
  the model was trained from (tuned for L iterations at training time);
* ``gd_<T>`` -- Algorithm 1 for T iterations, steps tuned for T iterations on 50 validation
  channels (seed 7) starting from the model's, best of ``starts`` starts (the paper: T = 500,
  best of 50; spec 3.1), at ``--gd-tune-snr`` (default 15 dB) or, with ``--gd-tune-each``, at
  every evaluated SNR (on the paper preset, QPSK, GD-500 tuned at 5 and 25 dB reaches 6.31e-3
  and 6.15e-4 against 1.14e-2 and 1.64e-3 tuned at 15 dB; for 16-QAM at 25 dB the 15 dB tuning
  stays better, 4.60e-3 against 4.97e-3; README, "MSER").
  Its steps and starts are reported: GD tuned honestly.  With
  ``gd_keep_best`` (``--gd-keep-best``) it keeps each channel's best checkpoint, scored on the
  channels it designs from (the estimates under imperfect CSI), so it cannot end above its start;
* ``alignment`` -- the start itself (spec 2.4);
* ``mmse_digital``, ``omp_mmse`` and ``mo_mmse`` -- the fully digital MMSE transceiver and its
  OMP and MO-AltMin hybrid approximations (spec 3.2-3.4), the MMSE baselines of Fig. 8;
* ``mmse_gd_<T>`` -- the MMSE-based GD of Fig. 10 (:mod:`~hbf_edge.families.mser.mmse_gd`), T
  iterations with line searches (0: not run);
* ``gd_<T>_from_start`` -- for a network that does not start from the alignment
  (:mod:`~hbf_edge.families.mser.start`): GD-T from the network's own start, its steps tuned
  from that start as ``gd_<T>``'s are from the alignment (``gd.steps_from_start_at_15db``), so
  the network and GD are compared from the same point.

With ``H_design`` (imperfect CSI, Fig. 10, spec 3.7) every design is computed from those
channel estimates and scored on the true ``H``: :func:`imperfect_csi` draws ``H^ = H - sigma_h dK``
(``dK`` i.i.d. CN(0, 1), ``sigma_h^2`` relative to the mean entry power of ``H``, seeded) for each
error variance and evaluates at one SNR.

CPU time per channel of the network and of ``gd_<T>`` on the same channels, both in the
compiled float kernel (:mod:`hbf_edge.kernels.mser`, the start included), gives a ratio in the
style of Table IV.  GD draws fresh symbols every iteration
(seeded); the network keeps its fixed per-layer sets.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hbf_edge._progress import progress_bar
from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.baselines import mmse_digital, mo_mmse, omp_mmse
from hbf_edge.families.mser.gd import GdSteps, dft_alignment, gd, gd_best_of, tune_steps
from hbf_edge.families.mser.mmse_gd import mmse_gd
from hbf_edge.families.mser.start import check_start, design_start
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std

__all__ = ["evaluate_mser", "imperfect_csi", "network_design", "format_table", "TUNE_SEED", "TUNE_CHANNELS"]

TUNE_SEED, TUNE_CHANNELS = 7, 50
GD_SEED = 3


def network_design(model: Any, H: np.ndarray, sizes: MserSizes, snr_db: float,
                   start: Any = None) -> list[np.ndarray]:
    """The network's design ``[F, V, U, W]`` on channels ``H`` at ``snr_db`` (torch, float64), from
    ``start`` (a design; default the model's own start, its ``start`` attribute set from the model
    directory, the alignment when absent)."""
    import torch

    sigma = torch.full((H.shape[0],), float(noise_std(snr_db)), dtype=torch.float64)
    if start is None:
        start = design_start(H, sizes, float(noise_std(snr_db)), getattr(model, "start", None))
    with torch.no_grad():
        return [x.numpy() for x in model(torch.from_numpy(H), [torch.from_numpy(x) for x in start], sigma)]


def _steps(s: GdSteps) -> dict[str, float]:
    return {"mu_p": s.mu_p, "mu_w": s.mu_w, "mu_theta_u": s.mu_theta_u, "mu_theta_f": s.mu_theta_f}


def evaluate_mser(model: Any, sizes: MserSizes, gd_steps: GdSteps, H: np.ndarray, snrs: list[float],
                  gd_iterations: int = 200, gd_starts: int = 1, n_samples: int = 64, progress: bool = True,
                  kernel: Any = None, hardware: Any = None, H_design: np.ndarray | None = None,
                  long_steps: GdSteps | None = None, mmse_gd_iterations: int = 0, tune_snr: float = 15.0,
                  tune_sweeps: int = 1, layers: int | None = None, others: dict[str, Any] | None = None,
                  gd_keep_best: int = 0, tune_each: bool = False, tune_min_gain: float = 0.0) -> dict[str, Any]:
    """SER per method and SNR (module notes): ``metrics.ser {method: [per SNR]}``, the long GD
    baseline's tuned steps, ``percent_of_gd`` (SER_GD-T / SER_network, the paper's "%") and the
    CPU time per channel of the network and of GD-T, both in the compiled kernel:
    ``kernel(H, snr_db)`` runs the network's float kernel (None: the network is timed in torch);
    ``hardware(H, snr_db, start)``, a quantized model's integer datapath, adds its design's row;
    ``H_design``: the channels the designs are computed from (default ``H``; module notes);
    ``long_steps``: the long GD's steps (default: tuned here, ``tune_sweeps`` sweeps of
    :func:`~hbf_edge.families.mser.gd.tune_steps` at ``tune_snr`` dB from the model's steps;
    ``tune_each``: one search at every SNR of ``snrs`` instead, each SNR's rows with its own
    steps, reported as ``gd.steps_by_snr``; ``tune_min_gain``: the searches' ``min_gain``);
    ``layers``: the GD-L row's iterations (default the network's layers; the benchmark CNN's
    model directory records its own L); ``others``: more networks of the same sizes
    (``--compare``), each scored from its own start as a row ``compare:<name>``; ``gd_keep_best``:
    the long GD rows (``gd_<T>``, ``gd_<T>_from_start``) keep each channel's best checkpoint
    (:func:`~hbf_edge.families.mser.gd.gd`'s ``keep_best``) of the trajectory the plain GD-T
    follows: their steps are tuned for the plain GD-T, so each channel ends no worse than with
    it.  (Tuned with the checkpoints instead, the greedy step search stopped elsewhere on the
    paper preset: 3.20e-3 at 15 dB against the plain GD-500's 2.85e-3.)  The GD-L row stays the
    plain L iterations the network unfolds."""
    L = model.n_layers if layers is None else layers
    if gd_iterations == L:  # the rows gd_L (the model's steps) and gd_T (tuned for T) would share a name
        raise ConfigError(f"--gd-iterations {gd_iterations} is the network's depth, whose GD row (gd_{L}, the "
                          "network's own steps) is always scored; ask for a longer GD")
    Hd = H if H_design is None else H_design
    t0 = time.perf_counter()
    moves: list = [None]  # the accepted moves of every search, after a placeholder for the start
    tuned = long_steps is None
    first = check_start(getattr(model, "start", None))
    aligned = first["kind"] == "alignment"
    # the long GD's steps per tuning SNR; GD-T from the network's own start gets steps tuned from that start
    by_snr: dict[float, GdSteps] = {}
    from_by_snr: dict[float, GdSteps] = {}
    if tuned:
        H_tune = mser_channels(TUNE_CHANNELS, sizes, seed=TUNE_SEED)
        for t in (snrs if tune_each else [tune_snr]):
            sigma_t = float(noise_std(t))
            by_snr[t], m = tune_steps(H_tune, sizes, sigma_t, gd_iterations, start=gd_steps, n_samples=n_samples,
                                      seed=1, sweeps=tune_sweeps, min_gain=tune_min_gain)
            moves += m[1:]
            if not aligned:
                from_by_snr[t], _ = tune_steps(H_tune, sizes, sigma_t, gd_iterations, start=gd_steps,
                                               n_samples=n_samples, seed=1, sweeps=tune_sweeps,
                                               design=design_start(H_tune, sizes, sigma_t, first),
                                               min_gain=tune_min_gain)
        long_steps = by_snr[snrs[0] if tune_each else tune_snr]
    from_start: GdSteps | None = None if aligned else from_by_snr.get(tune_snr, long_steps)
    tune_s = time.perf_counter() - t0
    short, long_ = f"gd_{L}", f"gd_{gd_iterations}"
    others = others or {}
    ser: dict[str, list[float]] = {k: [] for k in ("network", *(f"compare:{n}" for n in others), short, long_,
                                                      "alignment", "mmse_digital", "omp_mmse", "mo_mmse")}
    seconds = {"network": 0.0, long_: 0.0}
    bar = progress_bar(snrs, desc="evaluate MSER", unit="SNR", progress=progress)
    for snr in bar:
        sigma = float(noise_std(snr))
        if tune_each and tuned:
            long_steps = by_snr[snr]
            from_start = from_by_snr.get(snr)

        def score(d: Any) -> float:
            return float(np.mean(ser_semi_analytic(H, *d, sigma, sizes.constellation)))

        t0 = time.perf_counter()
        d0 = design_start(Hd, sizes, sigma, first)  # the network's start, once for every row that needs it
        ser["network"].append(score(network_design(model, Hd, sizes, snr, d0)))
        if hardware is not None:
            ser.setdefault("hardware", []).append(score(hardware(Hd, snr, d0)))
        if kernel is not None:
            t0 = time.perf_counter()
            kernel(Hd, snr)
        seconds["network"] += time.perf_counter() - t0
        for name, other in others.items():
            ser[f"compare:{name}"].append(score(network_design(other, Hd, sizes, snr)))
        ser[short].append(score(gd(Hd, sizes, sigma, L, gd_steps, n_samples, seed=GD_SEED)))
        t0 = time.perf_counter()
        if gd_starts == 1:
            d_long = gd(Hd, sizes, sigma, gd_iterations, long_steps, n_samples, seed=GD_SEED, keep_best=gd_keep_best)
        else:
            d_long = gd_best_of(Hd, sizes, sigma, gd_starts, gd_iterations, long_steps, n_samples, seed=GD_SEED,
                                keep_best=gd_keep_best)
        seconds[long_] += time.perf_counter() - t0
        ser[long_].append(score(d_long))
        if from_start is not None:  # GD from the network's own start, steps tuned from it: the fair comparison
            ser.setdefault(f"{long_}_from_start", []).append(
                score(gd(Hd, sizes, sigma, gd_iterations, from_start, n_samples, seed=GD_SEED, start=d0,
                         keep_best=gd_keep_best)))
        ser["alignment"].append(score(dft_alignment(Hd, sizes)))
        digital = mmse_digital(Hd, sizes, sigma)  # once: both hybrids factorise it
        ser["mmse_digital"].append(score(digital))
        ser["omp_mmse"].append(score(omp_mmse(Hd, sizes, sigma, digital=digital)))
        ser["mo_mmse"].append(score(mo_mmse(Hd, sizes, sigma, digital=digital)))
        if mmse_gd_iterations:
            ser.setdefault(f"mmse_gd_{mmse_gd_iterations}", []).append(
                score(mmse_gd(Hd, sizes, sigma, mmse_gd_iterations)))
    n = H.shape[0] * len(snrs)
    percent = {f"{name} / network": [round(100.0 * g / max(s, 1e-300), 2) for g, s in zip(ser[name], ser["network"])]
               for name in (long_, f"{long_}_from_start") if name in ser}
    percent.update({f"{long_} / compare:{n}": [round(100.0 * g / max(s, 1e-300), 2)
                                               for g, s in zip(ser[long_], ser[f"compare:{n}"])] for n in others})
    return {
        "n_channels": int(H.shape[0]), "snr_db": [float(x) for x in snrs], "layers": L,
        "metrics": {"ser": ser},
        "percent_of_gd": percent,
        "gd": {"iterations": gd_iterations, "starts": gd_starts, "keep_best_every": gd_keep_best,
               **({"steps_by_snr": [{"snr_db": float(t), **_steps(v)} for t, v in by_snr.items()]} if tune_each
                  else {"steps_at_15db": _steps(long_steps)}),
               "steps_of_the_model": _steps(gd_steps),
               **({"steps_from_start_at_15db": _steps(from_start)} if from_start is not None and not tune_each
                  else {}),
               **({"steps_from_start_by_snr": [{"snr_db": float(t), **_steps(v)} for t, v in from_by_snr.items()]}
                  if tune_each and from_by_snr else {}),
               "tuned_on": ("not tuned: given" if not tuned else
                            f"{TUNE_CHANNELS} channels, seed {TUNE_SEED}, "
                            + ("at every SNR" if tune_each else f"at {tune_snr:g} dB") + f", {tune_sweeps} sweep(s)"
                            + (f", a move kept when the SER falls by more than {tune_min_gain:g} of it"
                               if tune_min_gain else "")),
               "tune_seconds": round(tune_s, 2), "accepted_moves": len(moves) - 1},
        "cpu_us_per_channel": {k: round(1e6 * v / n, 1) for k, v in seconds.items()},
        "cpu_timed_in": ("numba (the float kernels), init included" if kernel is not None
                         else "torch (network), numba (GD)"),
        "cpu_ratio_gd_over_network": round(seconds[long_] / max(seconds["network"], 1e-12), 1),
    }


def imperfect_csi(evaluate: Any, H: np.ndarray, variances: list[float], seed: int) -> dict[str, Any]:
    """Fig. 10: ``evaluate(H_design) -> results`` (one SNR) for channel estimates
    ``H^ = H - sigma_h dK`` at each error variance (module notes); returns
    ``{"error_variance": [...], "ser": {design: [per variance]}}``."""
    rng = np.random.default_rng(seed)
    dK = (rng.standard_normal(H.shape) + 1j * rng.standard_normal(H.shape)) / np.sqrt(2.0)
    power = float(np.mean(np.abs(H) ** 2))
    ser: dict[str, list[float]] = {}
    for var in variances:
        res = evaluate(H - np.sqrt(var * power) * dK)
        for name, values in res["metrics"]["ser"].items():
            ser.setdefault(name, []).append(values[0])
    return {"error_variance": [float(v) for v in variances], "relative_to": "the mean entry power of H",
            "seed": seed, "ser": ser}


def format_table(results: dict[str, Any]) -> str:
    """SER per method (rows) and SNR (columns), then the network's % of the long GD."""
    snrs = results["snr_db"]
    w = max(14, *(len(n) + 1 for n in (*results["metrics"]["ser"], *results["percent_of_gd"])))
    lines = [f"{'design':<{w}}" + "".join(f"{f'{s:g} dB':>11}" for s in snrs)]
    for name, values in results["metrics"]["ser"].items():
        lines.append(f"{name:<{w}}" + "".join(f"{v:11.3e}" for v in values))
    for name, values in results["percent_of_gd"].items():
        lines.append(f"{name:<{w}}" + "".join(f"{v:10.1f}%" for v in values))
    return "\n".join(lines)
