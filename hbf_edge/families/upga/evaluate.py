"""Held-out evaluation: sum rate vs SNR and vs layers/iterations, for a model and baselines.

Methods (names are the keys of the JSON results and of the ``--dump`` file):

* ``upga``   -- the trained unfolded network;
* ``pga30``, ``pga100`` -- conventional PGA, fixed steps mu=0.01, lambda=1e-4, with the
  model's J inner F-steps, 30 / 100 outer iterations (Algorithm 1), run by the Numba float64
  kernel (:func:`pga_designs`);
* ``omp``    -- OMP spatially sparse precoding factorising digital ZF (hybrid baseline);
* ``zf``     -- fully digital zero forcing (upper reference; no F).

Every method sees the same channels at every SNR (``P_t = 10^(SNR/10)``, ``sigma_n^2`` =
``noise``).  All rates are computed by one function, :func:`hbf_edge.objectives.sum_rate`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hbf_edge._progress import progress_bar

from hbf_edge import cplx
from hbf_edge._io import atomic_file
from hbf_edge.baselines import omp_hybrid, zero_forcing
from hbf_edge.channels import validate_miso_channels
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError
from hbf_edge.objectives import sum_rate
from hbf_edge.units import snr_db_to_power
from hbf_edge.families.upga.model import PGA_LAMBDA0, PGA_MU0, UPGA

__all__ = ["METHODS", "evaluate", "layer_summary", "pga_designs", "write_dump"]

METHODS = ("upga", "pga30", "pga100", "omp", "zf")
PGA_ITERATIONS = {"pga30": 30, "pga100": 100}


def _to_c(z: np.ndarray) -> C:
    t = torch.from_numpy(np.ascontiguousarray(z))
    return C(t.real.contiguous(), t.imag.contiguous())


def _to_np(z: C) -> np.ndarray:
    return (z.re.numpy() + 1j * z.im.numpy()).astype(np.complex128)


def pga_designs(H: np.ndarray, p_t: np.ndarray, noise: float, iterations: int, n_rf: int,
                n_inner: int) -> Iterator[tuple[C, C]]:
    """Algorithm 1 with the fixed steps ``PGA_MU0``, ``PGA_LAMBDA0``: the initialisation, then the
    design after each of ``iterations`` layers, as :func:`hbf_edge.families.upga.model.pga_iterates`
    yields them, on the Numba float64 kernel (``kernels.upga_iterates``, parallel over the
    channels) instead of torch's one intra-op thread.  Each design is a view of arrays the next
    layer overwrites: copy what you keep.

    Equal to ``pga_iterates`` to the rounding level (tested).  Why: PGA-100 was most of an
    evaluation, 2.2-3.3 s per SNR on the demo's 1000 channels in torch against 0.75 s here
    (2026-12-07, the 2-core AMD EPYC of family 25 model 1, ``scratch/s72/pgak.py``)."""
    from hbf_edge import kernels

    h_re, h_im = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
    noise_a = np.full(H.shape[0], float(noise))
    mu, lam = np.full((iterations, n_inner), PGA_MU0), np.full(iterations, PGA_LAMBDA0)
    for design in kernels.upga_iterates(h_re, h_im, p_t, noise_a, mu, lam, n_rf):
        f_re, f_im, w_re, w_im = (torch.from_numpy(a) for a in design)
        yield C(f_re, f_im), C(w_re, w_im)


def layer_summary(entry: dict[str, list[float]]) -> dict[str, Any]:
    """What one SNR's layer-by-layer curve says (``evaluate``'s ``layers[snr]``: the network's
    ``I + 1`` means, PGA's 101).

    Returns
    -------
    dict
        ``lowest_layer_minus_start``: the lowest layer's mean rate minus the initialisation's
        (< 0: some layer does worse than where the network started, issue 19);
        ``first_layer_reaching`` ``{"pga30", "pga100"}``: the first layer ``i >= 1`` whose mean
        rate is at least that baseline's, or None.
    """
    net, pga = entry["upga"], entry["pga"]
    first = {name: next((i for i in range(1, len(net)) if net[i] >= pga[iters]), None)
             for name, iters in PGA_ITERATIONS.items()}
    return {"lowest_layer_minus_start": min(net[1:]) - net[0], "first_layer_reaching": first}


def evaluate(
    model: UPGA,
    H: np.ndarray,
    snr_db: list[float],
    noise: float = 1.0,
    keep_precoders: bool = False,
    progress: bool = True,
    design_scale: float = 1.0,
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """Evaluate ``model`` and the baselines on channels ``H`` at every SNR.

    Parameters
    ----------
    model : UPGA
    H : ndarray of complex, [S, N, K]
        Held-out channels.
    snr_db : list of float
        SNRs in dB.
    noise : float
        ``sigma_n^2`` (> 0).
    keep_precoders : bool
        Also return every method's precoders for :func:`write_dump`.
    design_scale : float
        ``c > 0``: the network designs on the equivalent problem ``(H / c, c^2 P_t)`` -- channels
        scaled onto its training gain -- and its ``W`` is mapped back by ``1 / c``.  The sum rate
        is invariant, ``R(F, W; H, P_t) = R(F, c W; H / c, c^2 P_t)``, so every rate (per layer
        too) is the true channel's; only the network's inputs move (``--rescale-channels``).
        The baselines always run on ``H`` as given.

    Returns
    -------
    results : dict
        ``snr_db``; ``sum_rate[method]`` (mean per SNR); ``sum_rate_std[method]``;
        ``layers[snr]`` with the mean rate after the initialisation and after each layer for
        ``upga`` (I+1 values) and each iteration for ``pga`` (101 values); ``layer_summary[snr]``
        (:func:`layer_summary`).
    precoders : dict or None
        Keys ``F_<method>`` ([SNR, S, N, M]) and ``W_<method>``; ``W_zf`` is [SNR, S, N, K].
    """
    H = validate_miso_channels(H, name="evaluation channels")
    if not snr_db:
        raise ConfigError("need at least one SNR")
    if not (np.isfinite(noise) and noise > 0):
        raise ConfigError(f"noise power must be > 0, got {noise!r}")
    S, N, K = H.shape
    Hc = _to_c(H)
    n_rf, J = model.n_rf, model.n_inner
    longest = max(PGA_ITERATIONS.values())
    rates: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    layers: dict[str, dict[str, list[float]]] = {}
    kept: dict[str, list[np.ndarray]] = {}
    noise_t = torch.full((S,), float(noise), dtype=torch.float64)
    if not (np.isfinite(design_scale) and design_scale > 0):
        raise ConfigError(f"design_scale must be > 0, got {design_scale!r}")
    H_net = Hc if design_scale == 1.0 else _to_c(H / design_scale)
    bar = progress_bar(total=len(snr_db) * len(METHODS), desc="evaluate", progress=progress)
    for snr in snr_db:
        p_np = np.full(S, snr_db_to_power(snr, noise))
        p_t = torch.from_numpy(p_np)
        designs: dict[str, tuple[C, C]] = {}
        with torch.no_grad():
            (F, W), traj = model.run(H_net, p_t * design_scale ** 2, noise_t, trajectory=True)
            designs["upga"] = (F, cplx.scale(W, 1.0 / design_scale))
            layer_entry = {"upga": [float(r.mean()) for r in traj]}
            bar.update()
            # one run of PGA-100 gives PGA-30 too (its 30th iterate: the steps are fixed)
            layer_entry["pga"] = []
            for i, design in enumerate(pga_designs(H, p_np, noise, longest, n_rf, J)):
                layer_entry["pga"].append(float(sum_rate(Hc, *design, noise_t).mean()))
                for name, iters in PGA_ITERATIONS.items():
                    if i == iters:  # a copy: the next iteration overwrites the design in place
                        designs[name] = tuple(C(z.re.clone(), z.im.clone()) for z in design)
                        bar.update()
        layers[f"{snr:g}"] = layer_entry
        F_omp, W_omp = omp_hybrid(H, p_np, n_rf)
        designs["omp"] = (_to_c(F_omp), _to_c(W_omp))
        bar.update()
        X = zero_forcing(H, p_np)
        designs["zf"] = (_to_c(X), cplx.eye(K, Hc.re))
        bar.update()
        for name, (F, W) in designs.items():
            r = sum_rate(Hc, F, W, noise_t).numpy()
            rates[name].append([float(r.mean()), float(r.std())])
            if keep_precoders:
                if name == "zf":
                    kept.setdefault("W_zf", []).append(_to_np(F))
                else:
                    kept.setdefault(f"F_{name}", []).append(_to_np(F))
                    kept.setdefault(f"W_{name}", []).append(_to_np(W))
    bar.close()
    results = {
        "n_channels": S,
        "sizes": {"N": N, "M": n_rf, "K": K, "I": model.n_layers, "J": J},
        "noise_power": float(noise),
        "design_scale_db": round(20.0 * float(np.log10(design_scale)), 4),
        "snr_db": [float(s) for s in snr_db],
        "sum_rate": {m: [v[0] for v in rates[m]] for m in METHODS},
        "sum_rate_std": {m: [v[1] for v in rates[m]] for m in METHODS},
        "layers": layers,
        "layer_summary": {snr: layer_summary(entry) for snr, entry in layers.items()},
    }
    precoders = {k: np.stack(v) for k, v in kept.items()} if keep_precoders else None
    return results, precoders


def write_dump(
    path: str | os.PathLike, H: np.ndarray, snr_db: list[float], noise: float, precoders: dict[str, np.ndarray]
) -> Path:
    """Write channels, SNRs and every method's final precoders so rates can be recomputed.

    Samples are SNR-major: sample ``s = i * S + c`` is channel ``c`` at ``snr_db[i]``.  Keys:
    ``H`` (S' x N x K), ``snr_db`` (S',), ``noise_power`` (scalar), ``F_<method>`` (S' x N x M)
    and ``W_<method>`` (S' x M x K), and ``W_zf`` (S' x N x K) for fully digital ZF.
    """
    n_snr, S = len(snr_db), H.shape[0]
    out: dict[str, np.ndarray] = {
        "H": np.tile(H, (n_snr, 1, 1)),
        "snr_db": np.repeat(np.asarray(snr_db, dtype=np.float64), S),
        "noise_power": np.asarray(float(noise)),
    }
    for key, value in precoders.items():
        out[key] = value.reshape((n_snr * S,) + value.shape[2:])
    path = Path(path)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return path
