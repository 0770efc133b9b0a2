"""``hbf-edge bench kernels``: per-channel latency of every backend of the UPGA forward.

Backends (:data:`CELL_BACKENDS`): the Numba float64, float32 and hardware
(fixed-point, Q=4) kernels through their checked wrappers (``upga_forward``, ``upga_forward_hw``),
the float64 and hardware kernels through their real-time sessions (``UpgaSession``,
``UpgaHwSession``: checks, tables and allocations once per model); torch eager and ``torch.compile`` (what a user tries first to speed
torch up) on the same network, float64; onnxruntime on its exported float graph (float32, the
graph ``hbf-edge export`` ships).  Every cell runs in a fresh process, as a user's process runs:
the toolkit's thread policy, and a first call (Numba's cache load, torch.compile's compilation,
onnxruntime's session) reported apart as ``first_call_s``.

Each figure is the median over ``repeat`` timed runs after that first call, with its quartiles;
small batches are looped inside a run so that one run lasts at least ``min_run_s``.  The
arithmetic floor of a channel is its analytic flop count (:mod:`hbf_edge.complexity`) over the
machine's measured single-core float64 matmul rate (times the Numba threads for a batch).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

from hbf_edge.complexity import upga_ops
from hbf_edge.errors import ConfigError

# the backends ``bench kernels`` knows, each run in a fresh process (:mod:`hbf_edge._bench_cell`)
CELL_BACKENDS = ("numba_float64", "numba_float32", "numba_hardware", "numba_float64_session", "numba_hardware_session",
                 "torch_eager", "torch_compile", "onnxruntime")

__all__ = ["bench_kernels", "matmul_gflops", "time_per_channel", "Timing", "CELL_BACKENDS"]

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


def _fresh_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Run one cell in a fresh Python process (:mod:`hbf_edge._bench_cell`); a backend that
    fails there (torch.compile without a C++ compiler, say) gives ``{"error": last line}``."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "hbf_edge._bench_cell", json.dumps(cell)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    backends: tuple[str, ...] | None = None,
    onnx_graphs: dict[int, str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time every backend for every (N, batch), each cell in a fresh process; return a JSON-ready
    dict with the median and quartiles of every figure.

    ``onnx_graphs``: N -> the exported float graph of :func:`hbf_edge._bench_cell.bench_network`
    (the exporter's, passed by the CLI); without it the ``onnxruntime`` backend is skipped and
    the result says so."""
    import numba

    from hbf_edge._progress import progress_bar

    backends = tuple(backends or CELL_BACKENDS)
    unknown = set(backends) - set(CELL_BACKENDS)
    if unknown:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; known: {list(CELL_BACKENDS)}")
    skipped = {}
    if "onnxruntime" in backends and not onnx_graphs:
        skipped["onnxruntime"] = "no exported graph was given (hbf-edge bench kernels exports one per N)"
        backends = tuple(b for b in backends if b != "onnxruntime")
    peak = matmul_gflops()
    rows = []
    bar = progress_bar(total=len(sizes) * len(batches) * len(backends), desc="bench kernels", progress=progress)
    for N in sizes:
        ops = upga_ops(N, n_rf, n_users, n_layers, n_inner)["total"]
        threads = numba.get_num_threads()
        floor_s = ops.flops / (peak * 1e9)  # one core: batch 1 runs on one
        for B in batches:
            cells = {}
            for backend in backends:
                cell = {"backend": backend, "N": N, "M": n_rf, "K": n_users, "I": n_layers, "J": n_inner,
                        "batch": B, "repeat": repeat, "min_run_s": min_run_s, "snr_db": snr_db, "seed": seed,
                        "onnx": (onnx_graphs or {}).get(N)}
                cells[backend] = _fresh_cell(cell)
                bar.update()
            us = {k: v["us_per_channel"] for k, v in cells.items() if "us_per_channel" in v}
            row: dict[str, Any] = {
                "N": N, "M": n_rf, "K": n_users, "I": n_layers, "J": n_inner, "batch": B,
                "us_per_channel": us,
                "iqr_us_per_channel": {k: round(v["q3_us"] - v["q1_us"], 3) for k, v in cells.items() if "q1_us" in v},
                "first_call_s": {k: v["first_call_s"] for k, v in cells.items() if "first_call_s" in v},
                "errors": {k: v["error"] for k, v in cells.items() if "error" in v},
                "flops_per_channel": ops.flops,
                "special_ops_per_channel": {"sqrt": ops.sqrt, "div": ops.div, "trig": ops.trig},
                "floor_us_per_channel_1core": round(floor_s * 1e6, 3),
            }
            f64 = us.get("numba_float64")
            if f64:
                cores = min(threads, B)  # the floor of a batch spread over its threads
                row["float64_over_floor"] = round(f64 / (floor_s * 1e6 / cores), 2)
                row["achieved_gflops_float64"] = round(ops.flops / (f64 * 1e-6) / 1e9, 2)
                row["over_float64"] = {k: round(v / f64, 2) for k, v in us.items() if k != "numba_float64"}
            rows.append(row)
    bar.close()
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "matmul_gflops_1core_float64": round(peak, 2),
        },
        "settings": {"snr_db": snr_db, "repeat": repeat, "seed": seed, "hardware_phase_bits": 4,
                     "note": "every cell in a fresh process under the toolkit's thread policy; us_per_channel is "
                             "the median of --repeat runs after the first call, iqr its interquartile range; "
                             "float64_over_floor compares with the floor over the cores a batch can use (1 at batch 1)"},
        "results": rows,
        "skipped": skipped,
    }
