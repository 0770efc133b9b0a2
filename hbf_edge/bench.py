"""``hbf-edge bench kernels``: per-channel latency of every backend of the UPGA forward.

Backends: the Numba float64, float32 and hardware (fixed-point) kernels, and the torch eager
forward of the same network (float64, torch's default threads).  onnxruntime is reported when
an exported ``model.onnx`` is given (the export issue); otherwise it is ``null`` with a reason.

Each figure is the median over ``repeat`` timed runs after a warm-up run (which also compiles
or loads the Numba cache); small batches are looped inside a run so that one run lasts at least
``min_run_s``.  The arithmetic floor of a channel is its analytic flop count
(:mod:`hbf_edge.complexity`) over the machine's measured single-core float64 matmul rate times
the Numba thread count.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.complexity import upga_ops
from hbf_edge.hw.spec import HardwareSpec

__all__ = ["bench_kernels", "matmul_gflops", "time_per_channel", "Timing"]

_MATMUL = """
import time, numpy as np
a = np.random.default_rng(0).random((1024, 1024)); b = a.T.copy(); a @ b
best = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
print(2 * 1024**3 / best / 1e9)
"""


def matmul_gflops() -> float:
    """Single-core float64 matmul rate (GFLOP/s), measured in a subprocess pinned to 1 thread."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _MATMUL], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


class Timing(float):
    """Seconds per channel: the median of the runs, with their quartiles ``q1`` and ``q3`` (a
    float, so every caller that wants the median just uses it)."""

    q1: float
    q3: float

    def __new__(cls, median: float, q1: float, q3: float) -> "Timing":
        obj = super().__new__(cls, median)
        obj.q1, obj.q3 = q1, q3
        return obj

    @property
    def spread(self) -> float:
        """Interquartile range over the median (0 when every run took the same time)."""
        return (self.q3 - self.q1) / float(self) if float(self) > 0 else 0.0


def time_per_channel(fn: Callable[[], Any], batch: int, repeat: int, min_run_s: float) -> Timing:
    """Seconds per channel of ``fn`` on a batch: median (and quartiles) of ``repeat`` runs after
    a warm-up, each run looping ``fn`` long enough to last ``min_run_s``."""
    fn()  # warm-up: compile / load the cache, touch the memory
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-9)
    loops = max(1, int(min_run_s / once))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - t0) / loops)
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(float(median) / batch, float(q1) / batch, float(q3) / batch)


def bench_kernels(
    sizes: tuple[int, ...] = (32, 64, 256),
    batches: tuple[int, ...] = (1, 1024),
    n_rf: int = 4,
    n_users: int = 4,
    n_layers: int = 10,
    n_inner: int = 1,
    repeat: int = 7,
    min_run_s: float = 0.05,
    snr_db: float = 10.0,
    seed: int = 0,
    onnx_model: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time every backend for every (N, batch); return a JSON-ready dict."""
    import numba
    import torch
    from hbf_edge._progress import progress_bar

    from hbf_edge import kernels

    from hbf_edge.families.upga.model import UPGA

    peak = matmul_gflops()
    threads = numba.get_num_threads()
    rng = np.random.default_rng(seed)
    mu = 0.01 * rng.uniform(1.0, 20.0, (n_layers, n_inner))  # trained-looking step sizes
    lam = 1e-4 * rng.uniform(1.0, 50.0, n_layers)
    net = UPGA(n_layers, n_inner, n_rf)
    with torch.no_grad():
        net.mu.copy_(torch.from_numpy(mu))
        net.lam.copy_(torch.from_numpy(lam))
    rows = []
    bar = progress_bar(total=len(sizes) * len(batches), desc="bench kernels", progress=progress)
    for N in sizes:
        ops = upga_ops(N, n_rf, n_users, n_layers, n_inner)["total"]
        floor_s = ops.flops / (peak * 1e9 * threads)
        spec = HardwareSpec(N, n_rf, n_users, phase_bits=4)
        for B in batches:
            H = saleh_valenzuela_miso(B, N, n_users, seed=seed + N)
            hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
            p_t, noise = np.full(B, 10 ** (snr_db / 10)), np.ones(B)
            h32 = [a.astype(np.float32) for a in (hr, hi, p_t, noise)]
            ht = [torch.from_numpy(a) for a in (hr, hi, p_t, noise)]

            def torch_forward() -> None:
                with torch.no_grad():
                    net(*ht)

            timings = {
                "numba_float64": time_per_channel(
                    lambda: kernels.upga_forward(hr, hi, p_t, noise, mu, lam, n_rf), B, repeat, min_run_s),
                "numba_float32": time_per_channel(
                    lambda: kernels.upga_forward(*h32, mu, lam, n_rf), B, repeat, min_run_s),
                "numba_hardware": time_per_channel(
                    lambda: kernels.upga_forward_hw(hr, hi, p_t, noise, mu, lam, spec), B, repeat, min_run_s),
                "torch_eager": time_per_channel(torch_forward, B, repeat, min_run_s),
            }
            row = {
                "N": N, "M": n_rf, "K": n_users, "I": n_layers, "J": n_inner, "batch": B,
                "us_per_channel": {k: round(v * 1e6, 3) for k, v in timings.items()},
                "onnxruntime": None if onnx_model is None else "not implemented until the export issue",
                "flops_per_channel": ops.flops,
                "special_ops_per_channel": {"sqrt": ops.sqrt, "div": ops.div, "trig": ops.trig},
                "floor_us_per_channel": round(floor_s * 1e6, 3),
                "float64_over_floor": round(timings["numba_float64"] / floor_s, 2),
                "achieved_gflops_float64": round(ops.flops / timings["numba_float64"] / 1e9, 2),
                "hardware_over_float64": round(timings["numba_hardware"] / timings["numba_float64"], 2),
            }
            rows.append(row)
            bar.update()
    bar.close()
    # the speed-ups: the float64 batch kernel (largest batch) against torch eager
    speedups = {}
    big = max(batches)
    for N in sizes:
        at = {r["batch"]: r["us_per_channel"] for r in rows if r["N"] == N}
        k = at[big]["numba_float64"]
        speedups[str(N)] = {
            f"torch_eager_batch{b}_over_float64_batch{big}": round(at[b]["torch_eager"] / k, 1) for b in batches
        }
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "numba_threads": threads,
            "torch_threads": torch.get_num_threads(),
            "matmul_gflops_1core_float64": round(peak, 2),
        },
        "settings": {"snr_db": snr_db, "repeat": repeat, "seed": seed, "hardware_phase_bits": 4},
        "results": rows,
        "speedups": speedups,
    }
