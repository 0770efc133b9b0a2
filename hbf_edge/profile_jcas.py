"""Per-layer profile of a UPGANet (JCAS) model: latency per backend and analytic cost (JSON).

Stages: the initialisation (eq. 17) and each outer layer (J inner F-steps, one W-step).
Backends: ``torch_eager`` times the network's own stage modules one by one (init and
``model.layers[i]``); ``numba_float64`` / ``numba_float32`` time the compiled whole forward
(:func:`kernels.upganet.upganet_forward`) and, to split it, the same kernel with the first
layer only, so ``layer = (whole - first) / (I - 1)`` and ``init = first - layer``.  Figures are
microseconds per channel (:func:`hbf_edge.bench.time_per_channel`: median of repeated runs after
a warm-up).  The analytic count is the paper's Table I: per inner step O(N^2 K) for ``Psi X``
(eq. 12) plus O(NMK) for the rate part, in real multiply-accumulates.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from .bench import time_per_channel
from .errors import ConfigError

__all__ = ["profile_upganet", "upganet_macs"]


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


def profile_upganet(model_dir: str | os.PathLike, batches: tuple[int, ...] = (1, 256), repeat: int = 5,
                    snr_db: float = 12.0, seed: int = 2026, min_run_s: float = 0.05) -> dict[str, Any]:
    """Profile a UPGANet model directory; returns a JSON-ready dict (module notes)."""
    import torch

    from kernels.upganet import load_upganet, upganet_forward

    from . import cplx
    from .channels import saleh_valenzuela_miso
    from .cplx import C
    from .jcas import init_jcas
    from .modeldir import load_model

    if repeat < 1 or not batches or min(batches) < 1:
        raise ConfigError("repeat and batch sizes must be >= 1")
    model, config = load_model(model_dir, family="upganet")
    kmodel = load_upganet(model_dir)
    spec = config.spec
    I = model.n_layers
    first = dataclasses.replace(kmodel, mu=kmodel.mu[:1], lam=kmodel.lam[:1])
    result: dict[str, Any] = {"model_dir": str(model_dir), "N": spec.n_antennas, "M": spec.n_rf, "K": spec.n_users,
                              "I": I, "J": model.n_inner, "snr_db": snr_db,
                              "macs": upganet_macs(spec.n_antennas, spec.n_rf, spec.n_users, model.n_inner),
                              "measured": {}}
    for batch in batches:
        H = saleh_valenzuela_miso(batch, spec.n_antennas, spec.n_users, int(config.training.get("n_paths", 10)), seed=seed)
        p = np.full(batch, 10.0 ** (snr_db / 10.0))
        noise = np.ones(batch)
        row: dict[str, Any] = {}
        for name, dt in (("numba_float64", np.float64), ("numba_float32", np.float32)):
            args = (np.ascontiguousarray(H.real, dt), np.ascontiguousarray(H.imag, dt), p.astype(dt), noise.astype(dt))
            whole = time_per_channel(lambda: upganet_forward(*args, kmodel), batch, repeat, min_run_s)
            one = time_per_channel(lambda: upganet_forward(*args, first), batch, repeat, min_run_s)
            layer = (whole - one) / (I - 1) if I > 1 else one
            row[name] = {"whole_us_per_channel": 1e6 * whole, "init_us_per_channel": 1e6 * max(one - layer, 0.0),
                         "layer_us_per_channel": 1e6 * layer}
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
        row["torch_eager"] = {"whole_us_per_channel": 1e6 * whole,
                              "stages_us_per_channel": {k: 1e6 * v for k, v in stages.items()}}
        result["measured"][str(batch)] = row
    return result
