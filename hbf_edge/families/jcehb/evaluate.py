"""Evaluation of a JCEHB model: sum rate (3) and NMSE (33) of every design on the same slots
(``mixed_timescale_jcehb.txt`` Tables I, III-V, Fig. 10; spec sections 3-4).

Every design sees the same channels and the same pilot noise (one seeded draw; a design with
fewer pilots uses the first columns).  Rows:

* ``network`` -- the model itself: its beams, its pilots, CEDUN, HBDUN;
* ``hbdun_perfect`` -- the model's HBDUN on the true equivalent channel (an upper reference);
* ``rls<L>_sca<L_h>`` -- RLS with the network's pilot count and SCA with as many iterations as
  HBDUN has layers (the same resources);
* ``rls<Lr>_sca<I>`` -- the reference RLS-SSCA (the paper's Tables III-IV: RLS-90, SCA-70);
* ``rls<Lr>_rzf`` -- the same estimate with regularised ZF;
* ``sca<I>_perfect`` -- SCA on the true equivalent channel;
* ``compare:<dir>`` -- other model directories (e.g. the separate design);
* ``network_K<k>``, ``rls<Lr>_sca<I>_K<k>`` (Fig. 14a, ``test_users``) -- the network cut to its
  first k users (:meth:`~hbf_edge.families.jcehb.model.JcehbNet.with_users`) and the reference,
  on the first k users of the same slots.

The baselines use the SSCA beams the model directory records (designed on its training
channels) and DFT pilots of the model's pilot power, observed at the model's pilot noise (its
``pilot_boost_db`` above the data SNR, :func:`~hbf_edge.families.jcehb.system.pilot_noise_power`).  CPU time per slot and channel (Table V):
the network in its float kernel (CEDUN + HBDUN on the received pilots; torch when no kernel runs
the model) against RLS + SCA of the reference in numpy, both batched over the channels, neither
timing the pilots' observation (the RF front end's part).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from hbf_edge._progress import progress_bar
from hbf_edge.families.jcehb.baselines import rls, rzf, sca
from hbf_edge.families.jcehb.system import (JcehbSizes, analog, design_sum_rate, dft_pilots, equivalent, nmse,
                                            noise_power, observe, pilot_noise, pilot_noise_power, sum_rate)

__all__ = ["evaluate_jcehb", "network_slot", "format_table"]


def network_slot(model: Any, H: np.ndarray, noise: np.ndarray | None, nu: float,
                 layers: int | None = None) -> dict[str, np.ndarray]:
    """The torch network on one slot per channel: ``H_eq``, ``H_hat``, ``F_bb``, ``W_bb`` (numpy);
    ``noise=None``: HBDUN on the true ``H_eq``; ``layers``: CEDUN on the first pilots only (Fig. 14b)."""
    import torch

    with torch.no_grad():
        if layers is None:
            out = model(torch.from_numpy(H), None if noise is None else torch.from_numpy(noise), nu)
        else:
            He = model.equivalent(torch.from_numpy(H))
            H_hat = model.estimate(model.observe(He, torch.from_numpy(noise), nu), layers)
            F, W = model.digital(H_hat, nu)
            out = {"H_eq": He, "H_hat": H_hat, "F_bb": F, "W_bb": W}
    return {k: v.numpy() for k, v in out.items()}


def _score(model: Any, H: np.ndarray, noise: np.ndarray | None, nu: float,
           layers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    out = network_slot(model, H, noise, nu, layers)
    W_rf = analog(model.phi_f.detach().numpy(), model.phi_w.detach().numpy())[1]
    return sum_rate(out["H_eq"], out["F_bb"], out["W_bb"], W_rf, nu), nmse(out["H_hat"], out["H_eq"])


def evaluate_jcehb(model: Any, sizes: JcehbSizes, H: np.ndarray, snrs: list[float], rls_pilots: int = 90,
                   sca_iterations: int = 70, noise_seed: int = 7, others: dict[str, Any] | None = None,
                   kernel: Callable[[np.ndarray, float], Callable[[], Any]] | None = None,
                   hardware: Callable[[np.ndarray, float], dict[str, Any]] | None = None,
                   test_pilots: tuple[int, ...] = (), test_users: tuple[int, ...] = (),
                   progress: bool = True) -> dict[str, Any]:
    """Sum rate and NMSE per design and SNR (module notes): ``metrics.sum_rate {design: [per
    SNR]}``, ``metrics.nmse`` (estimating designs), ``percent_of_reference`` (network / the
    reference RLS-SCA) and the CPU time per channel of the network and of the reference.
    ``kernel(H, snr_db)``: the network's float kernel prepared on one slot per channel (the
    received pilots formed), returning the call to time.  ``hardware(H, snr_db)``: a quantized
    model's integer datapath on the same slots (the kernel stage's ``forward_hw``), scored as the
    row ``hardware`` (sum rate and NMSE), its overflow counters in ``hardware_counters``.
    ``test_pilots`` (Fig. 14b): rows ``network_L<n>`` (the first n CEDUN layers on the first n
    pilots of the same slots) and ``rls<n>_sca<L_h>``.  ``test_users`` (Fig. 14a): rows
    ``network_K<k>`` and ``<reference>_K<k>`` on the first k users."""
    L, Lh, S = model.n_pilots, model.n_hb, sizes.n_streams
    noise = pilot_noise(H.shape[0], sizes, max(L, rls_pilots), noise_seed)
    F_s, W_s = analog(model.ssca_phi_f.numpy(), model.ssca_phi_w.numpy())
    He_s = equivalent(H, F_s, W_s)
    G_s = F_s.conj().T @ F_s
    same, ref = f"rls{L}_sca{Lh}", f"rls{rls_pilots}_sca{sca_iterations}"
    names = ["network", "hbdun_perfect"] + list(dict.fromkeys([same, ref])) + [ f"rls{rls_pilots}_rzf", f"sca{sca_iterations}_perfect"]
    names += [f"compare:{k}" for k in (others or {})]
    extra = ["hardware"] if hardware is not None else []
    short = {n: (f"network_L{n}", f"rls{n}_sca{Lh}") for n in test_pilots}
    extra += [name for pair in short.values() for name in pair if name not in names]
    fewer = {k: (f"network_K{k}", f"{ref}_K{k}") for k in test_users}
    extra += [name for pair in fewer.values() for name in pair]
    rate: dict[str, list[float]] = {k: [] for k in names[:1] + extra + names[1:]}
    err: dict[str, list[float]] = {k: [] for k in ["network", *extra, *dict.fromkeys([same, ref])]
                                   + [f"compare:{k}" for k in (others or {})]}
    counters: dict[str, int] = {}
    seconds = {"network": 0.0, ref: 0.0}
    bar = progress_bar(snrs, desc="evaluate JCEHB", unit="SNR", progress=progress)
    for snr in bar:
        nu = noise_power(snr)
        nu_p = pilot_noise_power(nu, getattr(model, "pilot_boost_db", 0.0))  # the baselines' pilots, as the network's
        r, e = _score(model, H, noise, nu)
        rate["network"].append(float(r.mean()))
        err["network"].append(float(e.mean()))
        rate["hbdun_perfect"].append(float(_score(model, H, None, nu)[0].mean()))
        if hardware is not None:
            out = hardware(H, snr)
            rate["hardware"].append(float(design_sum_rate(H, out, nu).mean()))
            err["hardware"].append(float(nmse(out["H_hat"], equivalent(H, out["F_rf"], out["W_rf"])).mean()))
            for site, c in out["counters"].items():
                counters[site] = counters.get(site, 0) + int(c)
        if kernel is not None:
            run = kernel(H, snr)  # the received pilots formed and checked, outside the timing
            run()  # compile or load the cache outside the timing
            t0 = time.perf_counter()
            run()
        else:
            t0 = time.perf_counter()
            network_slot(model, H, noise, nu)
        seconds["network"] += time.perf_counter() - t0
        for n, (net_name, _) in short.items():
            r, e = _score(model, H, noise, nu, n)
            rate[net_name].append(float(r.mean()))
            err[net_name].append(float(e.mean()))
        estimates = {}
        iterative = {same: (L, Lh), ref: (rls_pilots, sca_iterations)}
        iterative.update({rls_name: (n, Lh) for n, (_, rls_name) in short.items() if rls_name not in iterative})
        for name, (n_pilots, iterations) in iterative.items():
            X = dft_pilots(sizes.n_rf_tx, n_pilots, model.pilot_power)
            Y = observe(He_s, X, W_s, noise, nu_p)
            t0 = time.perf_counter()
            H_hat = estimates[name] = rls(X, Y)
            F, W = sca(H_hat, G_s, nu, S, iterations)
            if name == ref:
                seconds[ref] += time.perf_counter() - t0
            rate[name].append(float(sum_rate(He_s, F, W, W_s, nu).mean()))
            err[name].append(float(nmse(H_hat, He_s).mean()))
        rate[f"rls{rls_pilots}_rzf"].append(float(sum_rate(He_s, *rzf(estimates[ref], G_s, nu, S), W_s, nu).mean()))
        rate[f"sca{sca_iterations}_perfect"].append(float(sum_rate(He_s, *sca(He_s, G_s, nu, S, sca_iterations),
                                                                    W_s, nu).mean()))
        for k, (net_name, ref_name) in fewer.items():  # Fig. 14a: the first k users of the same slots
            r, e = _score(model.with_users(k), H[:, :k], noise[:, :k], nu)
            rate[net_name].append(float(r.mean()))
            err[net_name].append(float(e.mean()))
            X = dft_pilots(sizes.n_rf_tx, rls_pilots, model.pilot_power)
            H_hat = rls(X, observe(He_s[:, :k], X, W_s[:k], noise[:, :k], nu_p))
            F, W = sca(H_hat, G_s, nu, S, sca_iterations)
            rate[ref_name].append(float(sum_rate(He_s[:, :k], F, W, W_s[:k], nu).mean()))
            err[ref_name].append(float(nmse(H_hat, He_s[:, :k]).mean()))
        for key, other in (others or {}).items():
            r, e = _score(other, H, noise, nu)
            rate[f"compare:{key}"].append(float(r.mean()))
            err[f"compare:{key}"].append(float(e.mean()))
    n = H.shape[0] * len(snrs)
    return {
        "n_channels": int(H.shape[0]), "snr_db": [float(s) for s in snrs], "pilots": L, "hb_layers": Lh,
        "metrics": {"sum_rate": rate, "nmse": err},
        "percent_of_reference": {f"{net} / {base}": [round(100 * a / b, 2) for a, b in zip(rate[net], rate[base])]
                                 for net, base in [("network", ref), *fewer.values()]},
        "baseline_beams": "SSCA on the model's training channels", "pilot_power": model.pilot_power,
        "pilot_boost_db": getattr(model, "pilot_boost_db", 0.0),
        "noise_seed": noise_seed,
        "cpu_us_per_channel": {k: round(1e6 * v / n, 1) for k, v in seconds.items()},
        "cpu_timed_in": ("numba (the network's float kernel), numpy (RLS + SCA)" if kernel is not None
                         else "torch (network), numpy (RLS + SCA)"),
        "cpu_ratio_reference_over_network": round(seconds[ref] / max(seconds["network"], 1e-12), 1),
        **({"hardware_counters": counters} if hardware is not None else {}),
    }


def format_table(results: dict[str, Any]) -> str:
    """Sum rate (bit/s/Hz) and NMSE (dB) per design (rows) and SNR (columns)."""
    snrs = results["snr_db"]
    head = "".join(f"{f'{s:g} dB':>11}" for s in snrs)
    w = max(22, 2 + max(len(n) for n in [*results["metrics"]["sum_rate"], *results["percent_of_reference"]]))
    lines = [f"{'sum rate':<{w}}" + head]
    for name, values in results["metrics"]["sum_rate"].items():
        lines.append(f"{name:<{w}}" + "".join(f"{v:11.3f}" for v in values))
    for name, values in results["percent_of_reference"].items():
        lines.append(f"{name:<{w}}" + "".join(f"{v:10.2f}%" for v in values))
    lines.append(f"{'NMSE (dB)':<{w}}" + head)
    for name, values in results["metrics"]["nmse"].items():
        lines.append(f"{name:<{w}}" + "".join(f"{10 * np.log10(v):11.2f}" for v in values))
    return "\n".join(lines)
