"""Per-layer profile of a DeepFP model (``deepfp.txt`` eq. 48-52): latency per backend and the
analytic cost of each stage (JSON).

Stages of a layer: ``fp_state`` (eq. 10, 26-28, 30 and the direction of 38), ``dnn`` (eq. 51,
one step DNN per user, and the base step it scales) and ``update`` (eq. 38 and 37).  Backends (``DEEPFP_BACKENDS``):

* ``torch_eager`` -- the network's own code (:mod:`hbf_edge.families.deepfp.model`), every stage of every
  layer timed apart, float64;
* ``numba_float64`` -- :func:`kernels.deepfp_forward`, each layer alone (``layers=(i, i + 1)``
  from the V that layer receives) and the whole forward;
* ``numba_hardware`` -- :func:`kernels.deepfp_forward_hw` the same way, for a quantized model
  only (integer DNNs, fixed-point V).

Figures are microseconds per network (:func:`hbf_edge.bench.time_per_channel`: median of
repeated runs after a warm-up), on seeded networks of the model's own configuration.  The
analytic count is in real multiply-accumulates per stage (:func:`deepfp_macs`); with a target
description (:func:`hbf_edge.profiling.load_target`) it becomes a per-layer estimate.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hbf_edge.bench import time_per_channel
from hbf_edge.complexity import OpCount
from hbf_edge.errors import ConfigError

__all__ = ["profile_deepfp", "deepfp_macs", "deepfp_ops", "DEEPFP_BACKENDS", "DEEPFP_STAGES"]

DEEPFP_BACKENDS = ("numba_float64", "numba_hardware", "torch_eager")
DEEPFP_STAGES = ("fp_state", "dnn", "update")


def deepfp_macs(n_cells: int, users: int, n_rx: int, n_tx: int, d: int, hidden: int, n_hidden: int,
                exact_step: bool = False) -> dict[str, int]:
    """Real multiply-accumulates of one layer per network (a complex MAC is 4 real MACs).

    ``fp_state``: per user, ``H_{lk,i} V_ij`` for every BS and user (``L K N_r d N_t``), ``D``
    and ``F`` (``L K d N_r^2``), two ``N_r x N_r`` inverses (``(2 N_r)^3`` real MACs each, the
    real embedding), ``Y``, ``F^-1 A``, ``Gamma``, ``Y (I + Gamma)``, ``M`` and ``Lambda``;
    per BS, eq. (30) over all users (``L K (N_r^2 N_t + N_r N_t^2 / 2)``, upper triangle) and
    the direction ``L_l Z_lk`` (``K N_t^2 d`` per cell).  ``dnn``: per user
    ``hidden (2 N_t d) + (n_hidden - 1) hidden^2 + hidden``.  ``update``: 6 real MACs per entry of V
    (``Z + s G`` with a real step, ``|V|^2``, the scaling of eq. 37).  With ``exact_step`` the
    base step's ``L_l G_lk`` and ``Re tr(G^H L G)`` add ``N_t^2 d`` complex MACs per user to ``dnn``
    (the stage that computes the step, as in torch's ``DeepFP.step``).
    """
    U = n_cells * users
    per_user = (U * n_rx * d * n_tx + U * d * n_rx ** 2 + 3 * n_rx ** 2 * d + 2 * d * d * n_rx + n_tx * d * n_rx)
    fp = 4 * (U * per_user + n_cells * U * (n_rx ** 2 * n_tx + n_rx * n_tx * n_tx // 2) + U * n_tx * n_tx * d)
    fp += U * 2 * (2 * n_rx) ** 3
    dnn = 4 * U * (hidden * 2 * n_tx * d + (n_hidden - 1) * hidden * hidden + hidden)
    if exact_step:  # the base step L_l G_lk and Re tr(G^H L G), computed with the DNN's step (model.step)
        dnn += 4 * U * (n_tx * n_tx * d + n_tx * d)
    update = 6 * U * n_tx * d  # per complex entry: Z + s G (real s), |V|^2 and the power scaling
    return {"fp_state": fp, "dnn": dnn, "update": update, "layer": fp + dnn + update}


def deepfp_ops(n_cells: int, users: int, n_rx: int, n_tx: int, d: int, hidden: int, n_hidden: int,
               exact_step: bool = False) -> dict[str, OpCount]:
    """Operation counts for the target estimate: the MACs of :func:`deepfp_macs` (2 flops each)
    plus the special operations -- per user the ``2 x 2 N_r`` pivot reciprocals of the two
    inverses, the ``2 N_t d`` divisions of the DNN input by ``||L_l||_F`` and one exponential
    (counted as a trig-class function); per cell two square roots (the Frobenius norm, eq. 37)."""
    macs = deepfp_macs(n_cells, users, n_rx, n_tx, d, hidden, n_hidden, exact_step)
    U = n_cells * users
    fp = OpCount(flops=2 * macs["fp_state"], div=U * 4 * n_rx, sqrt=n_cells)
    dnn = OpCount(flops=2 * macs["dnn"], div=U * (2 * n_tx * d + 1), trig=U)
    update = OpCount(flops=2 * macs["update"], sqrt=n_cells, div=n_cells)
    return {"fp_state": fp, "dnn": dnn, "update": update, "layer": fp + dnn + update}


def _torch_stages(model: Any, H: np.ndarray, V0: np.ndarray, repeat: int, min_run_s: float) -> dict[str, Any]:
    import torch

    from hbf_edge.families.deepfp.model import direction, fastfp_update, fp_state, to_c

    batch = H.shape[0]
    per_layer = []
    with torch.no_grad():
        Hp, V, _, _ = model.pad(to_c(H), to_c(V0))

        def state(v):
            _, _, Lam, Lmat = fp_state(Hp, v)
            return Lmat, direction(v, Lam, Lmat)

        for i in range(model.n_layers):
            Lmat, G = state(V)
            step = model.step(i, V, G, Lmat)
            times = {"fp_state": time_per_channel(lambda: state(V), batch, repeat, min_run_s),
                     "dnn": time_per_channel(lambda: model.step(i, V, G, Lmat), batch, repeat, min_run_s),
                     "update": time_per_channel(lambda: fastfp_update(V, G, step), batch, repeat, min_run_s)}
            per_layer.append({k: 1e6 * v for k, v in times.items()})
            V, _ = model.layer(i, Hp, V)  # the next layer's input (rounded to V's words if quantized)
        whole = time_per_channel(lambda: model(to_c(H), to_c(V0)), batch, repeat, min_run_s)
    return {"whole_us_per_channel": 1e6 * whole, "layers": per_layer,
            "layer_us_per_channel": float(np.mean([sum(r.values()) for r in per_layer]))}


def _kernel_layers(run: Any, v0: tuple[np.ndarray, np.ndarray], n_layers: int, batch: int, repeat: int,
                   min_run_s: float) -> dict[str, Any]:
    """``run(v_re, v_im, layers) -> (v_re, v_im)``: each layer alone from its own input, and the whole."""
    per_layer = []
    v = v0
    for i in range(n_layers):
        per_layer.append(1e6 * time_per_channel(lambda: run(*v, (i, i + 1)), batch, repeat, min_run_s))
        v = run(*v, (i, i + 1))
    whole = time_per_channel(lambda: run(*v0, None), batch, repeat, min_run_s)
    return {"whole_us_per_channel": 1e6 * whole, "layers_us_per_channel": per_layer,
            "layer_us_per_channel": float(np.mean(per_layer))}


def profile_deepfp(model_dir: str | os.PathLike, batches: tuple[int, ...] = (1, 64), repeat: int = 5,
                   seed: int = 2026, min_run_s: float = 0.05, backends: tuple[str, ...] = DEEPFP_BACKENDS,
                   target: dict[str, Any] | None = None, load_torch: Any = None) -> dict[str, Any]:
    """Profile a DeepFP model directory; returns a JSON-ready dict (module notes).

    ``load_torch(model_dir) -> (module, ModelConfig)`` loads the torch network, quantized or not
    (the quant stage's ``load``); default: the float network only."""
    from hbf_edge.kernels.deepfp.forward import deepfp_forward, load_deepfp
    from hbf_edge.kernels.deepfp.hardware import deepfp_forward_hw, int_dnn

    from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
    from hbf_edge.families.deepfp.wsr import random_init

    if repeat < 1 or not batches or min(batches) < 1:
        raise ConfigError("repeat and batch sizes must be >= 1")
    unknown = set(backends) - set(DEEPFP_BACKENDS)
    if unknown or not backends:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; a DeepFP profile knows {list(DEEPFP_BACKENDS)}")
    if load_torch is None:
        from hbf_edge.modeldir import load_model as load_torch
    model, config = load_torch(model_dir)
    kmodel = load_deepfp(model_dir)
    net = NetworkConfig.from_dict(config.family_config["network"])
    quantized = kmodel.quantization is not None
    sizes = (net.n_cells, net.n_users, net.n_rx, kmodel.n_tx, kmodel.n_streams, kmodel.hidden, kmodel.n_hidden,
             kmodel.exact_step)
    result: dict[str, Any] = {"model_dir": str(model_dir), "network": net.to_dict(), "I": kmodel.n_layers,
                              "step_base": kmodel.step_base,
                              "quantized": quantized, "macs": deepfp_macs(*sizes), "measured": {}}
    if "numba_hardware" in backends and not quantized:
        result["skipped"] = {"numba_hardware": "a float model (quantize it for the hardware mode)"}
    dnn = int_dnn(kmodel) if quantized else None
    for batch in batches:
        H = generate_channels(net, batch, seed=seed)
        V0 = random_init((batch, net.n_cells, net.n_users, net.n_tx, net.n_streams), np.ones(net.n_cells), seed)
        hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
        v0 = (np.ascontiguousarray(V0.real), np.ascontiguousarray(V0.imag))
        row: dict[str, Any] = {}
        if "numba_float64" in backends:
            row["numba_float64"] = _kernel_layers(
                lambda vr, vi, layers: deepfp_forward(hr, hi, vr, vi, kmodel, layers)[:2], v0, kmodel.n_layers,
                batch, repeat, min_run_s)
        if "numba_hardware" in backends and quantized:
            def hw(vr, vi, layers):
                r = deepfp_forward_hw(hr, hi, vr, vi, kmodel, layers, dnn)
                v = r.v
                return np.ascontiguousarray(v.real), np.ascontiguousarray(v.imag)

            row["numba_hardware"] = _kernel_layers(hw, v0, kmodel.n_layers, batch, repeat, min_run_s)
        if "torch_eager" in backends:
            row["torch_eager"] = _torch_stages(model, H, V0, repeat, min_run_s)
        result["measured"][str(batch)] = row
    if target is not None:
        from hbf_edge.profiling import target_estimate

        ops = deepfp_ops(*sizes)
        est = {k: target_estimate(v, target) for k, v in ops.items()}
        result["target"] = {"name": target["name"], "assumptions": target["assumptions"], "stages": est,
                            "layers_total_us": round(est["layer"]["us"] * kmodel.n_layers, 3)}
    return result
