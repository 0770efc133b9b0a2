"""DeepFP against the model-driven solvers on held-out channels: the paper's Tables I-II
(``deepfp.txt`` Section V-B/C) -- weighted sum rate and CPU time relative to FastFP-100, and the
number of FastFP iterations that matches DeepFP.

Every iterative method starts from the same seeded random ``V0`` (Section IV-D).  The WSR values
come from the float64 numpy solvers of :mod:`hbf_edge.families.deepfp.solvers` and the network in float64.
CPU time is like for like: DeepFP and FastFP both run in torch (float64, no autograd) through
the same real-arithmetic layer code (:func:`hbf_edge.families.deepfp.model.fastfp_t` computes the eigenvalue
where DeepFP runs its DNN), on the first ``time_samples`` channels in batches of ``batch``;
``time.process_time`` counts every thread, as the paper's "CPU time" does.  WMMSE-SC and EZF
are timed in numpy (their rows say so).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from hbf_edge._progress import progress_bar

from hbf_edge import cplx
from hbf_edge.families.deepfp.model import DeepFP, direction, fastfp_t, fastfp_update, fp_state, to_c
from hbf_edge.errors import ConfigError
from hbf_edge.families.deepfp.solvers import solve
from hbf_edge.families.deepfp.wsr import check_problem, random_init, weighted_sum_rate

__all__ = ["evaluate_deepfp", "matching_iterations", "layer_profile", "timed_batches"]


def matching_iterations(trajectory: np.ndarray, target: float) -> int | None:
    """The fewest iterations whose mean WSR (``trajectory[i]`` after ``i`` iterations) reaches
    ``target``; None if no iteration does."""
    hit = np.flatnonzero(np.asarray(trajectory) >= target)
    return int(hit[0]) if hit.size else None


def timed_batches(n: int, batch: int) -> list[slice]:
    return [slice(s, min(s + batch, n)) for s in range(0, n, batch)]


def _cpu_seconds(fn: Any, H: np.ndarray, V0: np.ndarray, batch: int) -> tuple[float, float]:
    """``(cpu, wall)`` seconds per channel of ``fn(H_batch, V0_batch)`` over ``H``, after one
    untimed warm-up call (first-call allocation and dispatch costs are not the method's)."""
    fn(H[:2], V0[:2])
    cpu = wall = 0.0
    for sl in timed_batches(H.shape[0], batch):
        h, v = H[sl], V0[sl]
        c0, w0 = time.process_time(), time.perf_counter()
        fn(h, v)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    return cpu / H.shape[0], wall / H.shape[0]


def layer_profile(model: DeepFP, H: np.ndarray, V0: np.ndarray, batch: int = 100) -> dict[str, float]:
    """CPU milliseconds per channel and layer of each stage, torch float64, averaged over the
    layers: the FP quantities (eq. 26-30, shared by DeepFP and FastFP), the DNN (DeepFP), the
    largest eigenvalue (FastFP's eq. 34) and the update (eq. 38 and 37)."""
    acc = {"fp_state": 0.0, "dnn": 0.0, "eigenvalue": 0.0, "update": 0.0}
    with torch.no_grad():
        for sl in timed_batches(H.shape[0], batch):
            h, V = to_c(H[sl]), to_c(V0[sl])
            Hp, V, _, _ = model.pad(h, V)
            for i in range(model.n_layers):
                t = time.process_time()
                _, _, Lam, Lmat = fp_state(Hp, V)
                G = direction(V, Lam, Lmat)
                t1 = time.process_time()
                step = model.step(i, V, G, Lmat)
                t2 = time.process_time()
                torch.linalg.eigvalsh(cplx.to_complex(Lmat))
                t3 = time.process_time()
                V = fastfp_update(V, G, step)
                t4 = time.process_time()
                for k, dt in zip(acc, (t1 - t, t2 - t1, t3 - t2, t4 - t3)):
                    acc[k] += dt
    scale = 1e3 / (H.shape[0] * model.n_layers)
    return {k: v * scale for k, v in acc.items()}


def evaluate_deepfp(model: DeepFP, H: np.ndarray, fastfp_iterations: int = 100, seed: int = 2026,
                    time_samples: int = 200, batch: int = 100, baselines: tuple[str, ...] = ("ezf",),
                    progress: bool = True) -> dict[str, Any]:
    """Table I/II figures of ``model`` on channels ``H [B, L, K, L, N_r, N_t]`` (dataset units).

    Returns a JSON-ready dict: ``rows`` (method, iterations, mean WSR, percentage of FastFP-100,
    CPU seconds per channel, percentage of FastFP-100's), ``fastfp_trajectory`` (mean WSR after
    0..``fastfp_iterations`` iterations), ``deepfp_layers`` (mean WSR after each layer),
    ``matching_iterations``, and per-channel WSRs (``per_channel``) for the CDF plot.
    """
    H, _, _ = check_problem(H)
    B, L, K, _, _, Nt = H.shape
    for m in baselines:
        if m not in ("ezf", "wmmse_sc", "wmmse"):
            raise ConfigError(f"unknown baseline {m!r}; choose from ezf, wmmse_sc, wmmse")
    if "wmmse_sc" in baselines and L != 1:
        raise ConfigError("WMMSE-SC is a single-cell baseline")
    d = model.n_streams
    V0 = random_init((B, L, K, Nt, d), np.ones(L), seed)
    model = model.to(torch.float64).eval()

    def run_net(h: np.ndarray, v: np.ndarray, trajectory: bool = False) -> Any:
        with torch.no_grad():
            return model(to_c(h), to_c(v), trajectory=trajectory)

    per_layer = np.empty((model.n_layers, B))
    traj = np.empty((fastfp_iterations + 1, B))
    per_channel: dict[str, np.ndarray] = {}
    bar = progress_bar(timed_batches(B, batch), desc="DeepFP vs FastFP", unit="batch", progress=progress)
    for sl in bar:
        _, outs = run_net(H[sl], V0[sl], trajectory=True)
        for i, o in enumerate(outs):
            per_layer[i, sl] = weighted_sum_rate(H[sl], o.re.numpy() + 1j * o.im.numpy())
        traj[:, sl] = solve(H[sl], "fastfp", fastfp_iterations, V0=V0[sl], trajectory=True)["wsr_trajectory"]
    per_channel["deepfp"], per_channel["fastfp"] = per_layer[-1], traj[-1]
    deep = float(per_layer[-1].mean())
    mean_traj = traj.mean(axis=1)
    k_match = matching_iterations(mean_traj, deep)

    n_time = min(time_samples, B)
    Ht, Vt = H[:n_time], V0[:n_time]
    with torch.no_grad():
        times = {"deepfp": _cpu_seconds(lambda h, v: model(to_c(h), to_c(v)), Ht, Vt, batch),
                 "fastfp": _cpu_seconds(lambda h, v: fastfp_t(to_c(h), to_c(v), fastfp_iterations), Ht, Vt, batch)}
        profile = layer_profile(model, Ht, Vt, batch)
        if k_match is not None:
            times["fastfp_match"] = _cpu_seconds(lambda h, v: fastfp_t(to_c(h), to_c(v), k_match), Ht, Vt, batch)
    ref_wsr, ref_cpu = float(mean_traj[-1]), times["fastfp"][0]

    def row(method: str, iterations: int | None, wsr: float, t: tuple[float, float], backend: str) -> dict[str, Any]:
        return {"method": method, "iterations": iterations, "wsr": wsr, "wsr_percent": 100 * wsr / ref_wsr,
                "cpu_s_per_channel": t[0], "wall_s_per_channel": t[1], "cpu_percent": 100 * t[0] / ref_cpu,
                "backend": backend}

    rows = [row("DeepFP", model.n_layers, deep, times["deepfp"], "torch float64"),
            row("FastFP", fastfp_iterations, ref_wsr, times["fastfp"], "torch float64")]
    if k_match is not None:
        rows.append(row("FastFP", k_match, float(mean_traj[k_match]), times["fastfp_match"], "torch float64"))
    for m in baselines:
        iters = 0 if m == "ezf" else fastfp_iterations
        c0, w0 = time.process_time(), time.perf_counter()
        solve(Ht, m, iters, V0=Vt)  # timed on the same channels as the networks
        t = ((time.process_time() - c0) / n_time, (time.perf_counter() - w0) / n_time)
        vals = np.concatenate([solve(H[sl], m, iters, V0=V0[sl])["wsr"] for sl in timed_batches(B, batch)])
        per_channel[m] = vals
        rows.append(row({"ezf": "EZF", "wmmse_sc": "WMMSE-SC", "wmmse": "WMMSE"}[m], iters or None,
                        float(vals.mean()), t, "numpy float64"))
    return {"n_channels": B, "n_cells": L, "users_per_cell": K, "n_tx": Nt, "n_rx": int(H.shape[4]), "n_streams": d,
            "n_layers": model.n_layers, "time_samples": n_time, "batch": batch, "seed": seed,
            "torch_threads": torch.get_num_threads(), "rows": rows, "matching_iterations": k_match,
            "per_layer_cpu_ms": profile,
            "fastfp_trajectory": mean_traj.tolist(), "deepfp_layers": per_layer.mean(axis=1).tolist(),
            "per_channel": {k: v.tolist() for k, v in per_channel.items()}}
