"""Private: the Numba and torch timers of :func:`hbf_edge.profiling.profile_model` (UPGA), one
per backend; each returns ``(stages, whole)``, microseconds per channel as
:func:`hbf_edge.bench.time_per_channel` measures them.

Numba stages are timed as the forward runs them, on the state the stages before them leave
(prepared untimed), by the forwards' own channel loops, which take a range of layers and a
number of runs (``steps_range``, ``steps_fx_range``): below ``SERIAL_BELOW`` channels in the
calling thread, from it in chunks over Python threads (the loops release the GIL).
"""

from __future__ import annotations

from typing import Any

import numpy as np

OUTPUT_STAGE = "output"  # measured by the numba_hardware backend only


def stage_names(n_layers: int) -> list[str]:
    return ["init"] + [f"layer {i}" for i in range(n_layers)]


# Numba stages below SERIAL_BELOW channels: runs of a stage per timed call, and of the whole
# forward; with min_run_s = 0 (no minimum duration asked: the tests) one run of each
STAGE_REPS, WHOLE_REPS = 1000, 100
BATCH_STAGE_REPS = 10  # from SERIAL_BELOW channels: runs of a stage per channel and timed call


def _reps(n: int, min_run_s: float) -> int:
    return n if min_run_s > 0 else 1


def time_numba(model: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, dtype: Any, repeat: int,
               min_run_s: float) -> tuple[dict[str, float], float]:
    """The float kernels' stages and whole forward in ``dtype``, each run by the forward's own
    channel loop (:func:`kernels.upga._float_batch.steps_range`, which takes a range of layers and a
    number of runs) on the state the layers before it leave, prepared untimed: below
    ``SERIAL_BELOW`` channels in the calling thread, from it in chunks over the Python threads.
    The public wrappers' input checks and copies are per call, not per stage, so they are left
    out of both."""
    from hbf_edge.kernels._core.batching import SERIAL_BELOW, run_batch
    from hbf_edge.kernels.upga import _float_batch as k

    from hbf_edge.bench import time_per_channel

    B = H.shape[0]
    hr, hi = np.ascontiguousarray(H.real, dtype), np.ascontiguousarray(H.imag, dtype)
    p, n = p_t.astype(dtype), noise.astype(dtype)
    mu = np.ascontiguousarray(model.mu.detach().numpy(), dtype)
    lam = np.ascontiguousarray(model.lam.detach().numpy(), dtype)
    N, K, M = hr.shape[1], hr.shape[2], model.n_rf
    zero = np.dtype(dtype).type(0)
    state = (np.empty((B, N, M), dtype), np.empty((B, N, M), dtype), np.empty((B, M, K), dtype), np.empty((B, M, K), dtype))
    serial = B < SERIAL_BELOW

    def run(init: bool, first: int, last: int, reps: int) -> None:
        args = (hr, hi, p, n, mu, lam, *state, zero, np.bool_(init), np.int64(first), np.int64(last), np.int64(reps))
        run_batch(k.steps_range, B, *args)  # as the forward runs it (README "Per-layer profile")

    reps = _reps(STAGE_REPS if serial else BATCH_STAGE_REPS, min_run_s)
    stages = {}
    for i, name in enumerate(stage_names(len(lam)), start=-1):
        run(True, 0, max(i, 0), 1)  # the state before the stage
        step = (True, 0, 0) if i < 0 else (False, i, i + 1)  # the initialisation alone, or layer i
        stages[name] = time_per_channel(lambda step=step: run(*step, reps), B * reps, repeat, min_run_s)
    whole_reps = _reps(WHOLE_REPS, min_run_s) if serial else 1
    whole = time_per_channel(lambda: run(True, 0, len(lam), whole_reps), B * whole_reps, repeat, min_run_s)
    return stages, whole


def time_hardware(model: Any, config: Any, layers: list[Any], H: np.ndarray, p_t: np.ndarray, noise: np.ndarray,
                  repeat: int, min_run_s: float) -> tuple[dict[str, float], float]:
    """The hardware stages and whole forward at the per-layer precision ``layers``, on inputs
    quantised once, each run by :func:`kernels.upga.hardware.run_stages` on the state the
    stages before it leave, prepared untimed (as :func:`time_numba`); with a code search, the
    search and the forward it ends are timed whole."""
    from hbf_edge.kernels._core.batching import SERIAL_BELOW
    from hbf_edge.kernels.upga import _batch as k
    from hbf_edge.kernels.upga.hardware import COUNTER_SITES, model_search, prepare_hw_inputs, run_search, run_stages

    from hbf_edge.bench import time_per_channel

    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise,
                          model.mu.detach().numpy(), model.lam.detach().numpy(), layers[0], layers,
                          xi=config.output_xi)
    B, N, K = x.h_r.shape
    M = config.spec.n_rf
    codes = np.empty((B, N, M), np.int64)
    w_r, w_i = np.empty((B, M, K), np.int64), np.empty((B, M, K), np.int64)
    counts = np.zeros((B, len(COUNTER_SITES) - 1), np.int64)
    tables = (x.lut_c, x.lut_s, x.n_codes, x.fms)
    search = model_search(config)
    I = config.n_layers
    names = stage_names(I)  # stage -1 the initialisation, i layer i, I the output stage
    if config.output_xi is not None and search is None:
        names.append(OUTPUT_STAGE)
    serial = B < SERIAL_BELOW

    reps, stages = _reps(STAGE_REPS if serial else BATCH_STAGE_REPS, min_run_s), {}
    for i, name in enumerate(names, start=-1):
        run_stages(x, codes, w_r, w_i, counts, True, 0, min(max(i, 0), I), False)  # the state before the stage
        # the initialisation alone, layer i, or the output stage (i = I) on the last layer's codes
        step = (True, 0, 0, False) if i < 0 else (False, i, i + 1, False) if i < I else (False, I, I, True)
        stages[name] = time_per_channel(lambda step=step: run_stages(x, codes, w_r, w_i, counts, *step, reps),
                                        B * reps, repeat, min_run_s)
    if search is not None:  # the code search ends with the output stage; it starts from the last layer's codes
        k.forward_fx_batch(x.h_r, x.h_i, x.noise, x.mu, x.lam, k.NO_OUTPUT_STAGE, *tables, codes, w_r, w_i, counts)
        start = codes.copy()

        def searched() -> None:
            codes[:] = start
            run_search(x, search, codes, w_r, w_i, counts)

        stages[OUTPUT_STAGE] = time_per_channel(searched, B, repeat, min_run_s)

        def forward() -> None:
            k.forward_fx_batch(x.h_r, x.h_i, x.noise, x.mu, x.lam, k.NO_OUTPUT_STAGE, *tables, codes, w_r, w_i, counts)
            run_search(x, search, codes, w_r, w_i, counts)

        return stages, time_per_channel(forward, B, repeat, min_run_s)
    whole_reps = _reps(WHOLE_REPS, min_run_s) if serial else 1
    whole = time_per_channel(
        lambda: run_stages(x, codes, w_r, w_i, counts, True, 0, I, x.xi != k.NO_OUTPUT_STAGE, whole_reps),
        B * whole_reps, repeat, min_run_s)
    return stages, whole


def time_torch(model: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, repeat: int,
               min_run_s: float) -> tuple[dict[str, float], float]:
    import torch

    from hbf_edge import cplx
    from hbf_edge.bench import time_per_channel

    B = H.shape[0]
    Hc = cplx.from_complex(torch.from_numpy(H))
    p, n = torch.from_numpy(p_t), torch.from_numpy(noise)
    mu, lam = model.mu.detach(), model.lam.detach()
    with torch.no_grad():
        stages = {"init": time_per_channel(lambda: model.init(Hc, p), B, repeat, min_run_s)}
        F, W = model.init(Hc, p)
        for i, layer in enumerate(model.layers):
            stages[f"layer {i}"] = time_per_channel(lambda: layer(Hc, F, W, p, n, mu[i], lam[i]), B, repeat, min_run_s)
            F, W = layer(Hc, F, W, p, n, mu[i], lam[i])
        whole = time_per_channel(lambda: model.run(Hc, p, n), B, repeat, min_run_s)
    return stages, whole
