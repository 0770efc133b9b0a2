"""Per-layer profile of a UPGANet (JCAS) model: latency per backend and analytic cost (JSON).

Stages: the initialisation (eq. 17) and each outer layer (J inner F-steps, one W-step).
Backends (``UPGANET_BACKENDS``):

* ``torch_eager`` times the network's own stage modules one by one (init and ``model.layers[i]``);
* ``numba_float64`` / ``numba_float32`` / ``numba_hardware`` time the compiled whole forward
  (:func:`kernels.upganet_forward`, :func:`kernels.upganet_forward_hw`) and, to split it, the
  same kernel with the first layer only, so ``layer = (whole - first) / (I - 1)`` and
  ``init = first - layer`` (the wrappers' input checks and, for the hardware kernel, the
  float/integer boundary included).  The hardware kernel runs at the model's precision if it
  is quantized, else at Q=4 with the default formats;
* ``onnxruntime`` runs the exported float32 graph; its profiler assigns each node's kernel time
  to the layer in its name (``/layers.<i>/``) or to the init (every other node), and the whole
  run, timed without the profiler, is split in those shares (at batch 1 the profiler's
  per-node overhead makes its own times several times the unprofiled run).

Figures are microseconds per channel (:func:`hbf_edge.bench.time_per_channel`: median of repeated
runs after a warm-up).  The analytic count is the paper's Table I: per inner step O(N^2 K) for
``Psi X`` (eq. 12) plus O(NMK) for the rate part, in real multiply-accumulates; with a target
description (:func:`hbf_edge.profiling.load_target`) it becomes a per-layer latency estimate.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from hbf_edge.bench import time_per_channel
from hbf_edge.errors import ConfigError

__all__ = ["profile_upganet", "upganet_macs", "upganet_ops", "UPGANET_BACKENDS"]

UPGANET_BACKENDS = ("numba_float64", "numba_float32", "numba_hardware", "torch_eager", "onnxruntime")


def upganet_macs(n: int, m: int, k: int, inner: int) -> dict[str, int]:
    """Real MACs of one inner F-step and one W-step (a complex MAC is 4 real MACs).

    Inner step: ``G = H^H F`` (NMK), ``E = G W`` (MK^2), ``C W^H`` (MK^2), ``H D`` (NMK) for the
    rate gradient (eq. 10); ``X = F W`` (NMK), ``X^H X`` (NK^2), ``X (X^H X)`` (NK^2),
    ``Psi X`` (N^2 K), ``Y W^H`` (NMK) for eq. (12).  W-step: ``G``, ``E`` and ``G^H C`` (eq. 11),
    ``X``, ``X^H X``, ``X(X^H X)``, ``Psi X``, ``F^H Y`` (eq. 13) and the norm of (9).
    """
    inner_step = 4 * (4 * n * m * k + 2 * m * k * k + 2 * n * k * k + n * n * k)
    w_step = 4 * (3 * n * m * k + 2 * m * k * k + 2 * n * k * k + n * n * k) + 2 * n * k
    return {"inner_step": inner_step, "w_step": w_step, "layer": inner * inner_step + w_step}


def upganet_ops(n: int, m: int, k: int, inner: int) -> dict[str, Any]:
    """Operation counts of one layer for the target estimate: the MACs of :func:`upganet_macs`
    (2 flops each) and the special operations -- per rate evaluation ``2K`` reciprocals
    (``1/a_k``, ``1/b_k``), per inner step ``NM`` square roots and ``2NM`` divisions of
    projection (7), per W-step one square root and one division of (9)."""
    from hbf_edge.complexity import OpCount

    macs = upganet_macs(n, m, k, inner)
    step = OpCount(flops=2 * macs["inner_step"], sqrt=n * m, div=2 * n * m + 2 * k)
    w = OpCount(flops=2 * macs["w_step"], sqrt=1, div=1 + 2 * k)
    return {"inner_step": step, "w_step": w, "layer": inner * step + w}


def _split(run, whole_model: Any, first_model: Any, n_layers: int, batch: int, repeat: int,
           min_run_s: float) -> dict[str, float]:
    """Whole forward and its split into init and one layer from a one-layer run (module notes)."""
    whole = time_per_channel(lambda: run(whole_model), batch, repeat, min_run_s)
    one = time_per_channel(lambda: run(first_model), batch, repeat, min_run_s)
    # a difference of two noisy medians: on a busy machine and a tiny model it can dip below zero
    layer = max((whole - one) / (n_layers - 1), 0.0) if n_layers > 1 else one
    return {"whole_us_per_channel": 1e6 * whole, "init_us_per_channel": 1e6 * max(one - layer, 0.0),
            "layer_us_per_channel": 1e6 * layer}


def _onnxruntime(ort_stages: Any, model: Any, config: Any, H: np.ndarray, p: np.ndarray, noise: np.ndarray,
                 repeat: int, min_run_s: float) -> dict[str, Any]:
    stages, whole = ort_stages(model, config, H, p, noise, repeat, min_run_s, other=True)
    layers = [v for k, v in stages.items() if k.startswith("layer")]
    share = sum(layers) / sum(stages.values())  # the profiler's own overhead inflates node times at small batches
    return {"whole_us_per_channel": 1e6 * whole, "init_us_per_channel": 1e6 * whole * (1.0 - share),
            "layer_us_per_channel": 1e6 * whole * share / len(layers), "profiled_layer_share": share}


def _torch_stages(model: Any, H: np.ndarray, p: np.ndarray, noise: np.ndarray, repeat: int, min_run_s: float
                  ) -> dict[str, Any]:
    """The network's own stage modules one by one, and its whole forward (torch eager)."""
    import torch

    from hbf_edge import cplx
    from hbf_edge.cplx import C
    from hbf_edge.families.upganet.model import init_jcas

    batch = H.shape[0]
    Hc = cplx.from_complex(torch.from_numpy(H))
    pt, nt = torch.from_numpy(p), torch.from_numpy(noise)
    steer = C(model.steer_re, model.steer_im)
    psi1 = model.psi1()
    with torch.no_grad():
        F, W = init_jcas(Hc, pt, model.n_rf, steer)
        stages = {"init": time_per_channel(lambda: init_jcas(Hc, pt, model.n_rf, steer), batch, repeat, min_run_s)}
        for i, layer_mod in enumerate(model.layers):
            mu, lam = model.mu[i], model.lam[i]
            stages[f"layer{i}"] = time_per_channel(
                lambda: layer_mod(Hc, F, W, pt, nt, psi1, mu, lam, model.omega, model.eta), batch, repeat, min_run_s)
            F, W = layer_mod(Hc, F, W, pt, nt, psi1, mu, lam, model.omega, model.eta)
        whole = time_per_channel(lambda: model.run(Hc, pt, nt), batch, repeat, min_run_s)
    return {"whole_us_per_channel": 1e6 * whole, "stages_us_per_channel": {k: 1e6 * v for k, v in stages.items()}}


def profile_upganet(model_dir: str | os.PathLike, batches: tuple[int, ...] = (1, 256), repeat: int = 5,
                    snr_db: float = 12.0, seed: int = 2026, min_run_s: float = 0.05,
                    backends: tuple[str, ...] | None = None, target: dict[str, Any] | None = None,
                    onnxruntime: Any = None) -> dict[str, Any]:
    """Profile a UPGANet model directory; returns a JSON-ready dict (module notes).  The
    ``onnxruntime`` backend is the exporter's stage timer (``export.upga.profile``)."""
    from hbf_edge.kernels import load_upganet, load_upganet_hw, upganet_forward, upganet_forward_hw

    from hbf_edge.channels import saleh_valenzuela_like
    from hbf_edge.modeldir import load_model

    if repeat < 1 or not batches or min(batches) < 1:
        raise ConfigError("repeat and batch sizes must be >= 1")
    if backends is None:  # every backend this call can run
        backends = tuple(b for b in UPGANET_BACKENDS if onnxruntime is not None or b != "onnxruntime")
    unknown = set(backends) - set(UPGANET_BACKENDS)
    if unknown or not backends:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; a UPGANet profile knows {list(UPGANET_BACKENDS)}")
    if "onnxruntime" in backends and onnxruntime is None:
        raise ConfigError("the onnxruntime backend needs the exporter (profile_upganet(..., onnxruntime=...))")
    model, config = load_model(model_dir, family="upganet")
    kmodel = load_upganet(model_dir)
    spec = config.spec
    hw_spec = load_upganet_hw(model_dir)[1] if config.precision is not None else spec.replace(phase_bits=4)
    I = model.n_layers
    first = dataclasses.replace(kmodel, mu=kmodel.mu[:1], lam=kmodel.lam[:1])
    result: dict[str, Any] = {"model_dir": str(model_dir), "N": spec.n_antennas, "M": spec.n_rf, "K": spec.n_users,
                              "I": I, "J": model.n_inner, "snr_db": snr_db,
                              "macs": upganet_macs(spec.n_antennas, spec.n_rf, spec.n_users, model.n_inner),
                              "hardware_spec": hw_spec.to_dict(), "measured": {}}
    for batch in batches:
        H = saleh_valenzuela_like(config, batch, seed)
        p = np.full(batch, 10.0 ** (snr_db / 10.0))
        noise = np.ones(batch)
        row: dict[str, Any] = {}
        for name, dt in (("numba_float64", np.float64), ("numba_float32", np.float32)):
            if name in backends:
                args = (np.ascontiguousarray(H.real, dt), np.ascontiguousarray(H.imag, dt), p.astype(dt),
                        noise.astype(dt))
                row[name] = _split(lambda m: upganet_forward(*args, m), kmodel, first, I, batch, repeat, min_run_s)
        if "numba_hardware" in backends:
            args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p, noise)
            row["numba_hardware"] = _split(lambda m: upganet_forward_hw(*args, m, hw_spec), kmodel, first, I, batch,
                                           repeat, min_run_s)
        if "onnxruntime" in backends:
            row["onnxruntime"] = _onnxruntime(onnxruntime, model, config, H, p, noise, repeat, min_run_s)
        if "torch_eager" in backends:
            row["torch_eager"] = _torch_stages(model, H, p, noise, repeat, min_run_s)
        result["measured"][str(batch)] = row
    if target is not None:
        from hbf_edge.profiling import target_estimate

        ops = upganet_ops(spec.n_antennas, spec.n_rf, spec.n_users, model.n_inner)
        layer = target_estimate(ops["layer"], target)
        result["target"] = {"name": target["name"], "assumptions": target["assumptions"], "layer": layer,
                            "layers_total_us": round(layer["us"] * I, 3)}
    return result
