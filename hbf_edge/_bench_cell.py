"""One cell of ``hbf-edge bench kernels``: one backend at one (N, batch), timed in this fresh
process as a user's process runs it (the toolkit's thread policy, nothing warmed up beforehand
except by the backend's own first call).

``python -m hbf_edge._bench_cell '{"backend": ..., "N": ..., "batch": ..., ...}'`` prints one JSON
object: the median and quartiles in µs per channel, the seconds the first call took (Numba's
cache load, torch.compile's compilation, onnxruntime's session), and the process's threads.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

__all__ = ["bench_steps", "bench_network", "run_cell"]


def bench_steps(n_layers: int, n_inner: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trained-looking step sizes drawn with ``seed``: mu [I, J], lambda [I]."""
    rng = np.random.default_rng(seed)
    return 0.01 * rng.uniform(1.0, 20.0, (n_layers, n_inner)), 1e-4 * rng.uniform(1.0, 50.0, n_layers)


def bench_network(n_layers: int, n_inner: int, n_rf: int, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """The benchmark's UPGA torch network with :func:`bench_steps` (module, mu, lambda); the
    parent exports the same network to ONNX."""
    import torch

    from hbf_edge.families.upga.model import UPGA

    mu, lam = bench_steps(n_layers, n_inner, seed)
    net = UPGA(n_layers, n_inner, n_rf)
    with torch.no_grad():
        net.mu.copy_(torch.from_numpy(mu))
        net.lam.copy_(torch.from_numpy(lam))
    return net, mu, lam


def _callable(cell: dict[str, Any]) -> Any:
    """The zero-argument function that runs the cell's forward once."""
    from hbf_edge.channels import saleh_valenzuela_miso

    N, B, M, K = cell["N"], cell["batch"], cell["M"], cell["K"]
    H = saleh_valenzuela_miso(B, N, K, seed=cell["seed"] + N)
    hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
    p_t, noise = np.full(B, 10 ** (cell["snr_db"] / 10)), np.ones(B)
    backend = cell["backend"]
    if backend == "onnxruntime":
        import onnxruntime as ort

        sess = ort.InferenceSession(cell["onnx"], providers=["CPUExecutionProvider"])
        feed = {"h_re": hr.astype(np.float32), "h_im": hi.astype(np.float32), "p_t": p_t.astype(np.float32),
                "noise": noise.astype(np.float32)}
        return lambda: sess.run(None, feed)
    if backend.startswith("numba"):
        from hbf_edge import kernels
        from hbf_edge.hw.spec import HardwareSpec

        mu, lam = bench_steps(cell["I"], cell["J"], cell["seed"])
        if backend == "numba_float32":
            h32 = [a.astype(np.float32) for a in (hr, hi, p_t, noise)]
            return lambda: kernels.upga_forward(*h32, mu, lam, M)
        spec = HardwareSpec(N, M, K, phase_bits=4)
        if backend == "numba_hardware":
            return lambda: kernels.upga_forward_hw(hr, hi, p_t, noise, mu, lam, spec)
        if backend == "numba_hardware_session":  # the real-time path: checks and tables once
            hw = kernels.UpgaHwSession(mu, lam, spec, batch=B)
            return lambda: hw.run(hr, hi, p_t, noise)
        if backend == "numba_float64_session":
            session = kernels.UpgaSession(kernels.UpgaSteps(mu, lam, N, M, K), batch=B)
            return lambda: session.run(hr, hi, p_t, noise)
        return lambda: kernels.upga_forward(hr, hi, p_t, noise, mu, lam, M)
    import torch

    net, _, _ = bench_network(cell["I"], cell["J"], M, cell["seed"])
    ht = [torch.from_numpy(a) for a in (hr, hi, p_t, noise)]
    fn = torch.compile(net) if backend == "torch_compile" else net

    def run() -> None:
        with torch.no_grad():
            fn(*ht)

    return run


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Time one cell in this process (module notes)."""
    from hbf_edge._threads import apply_thread_policy
    from hbf_edge.bench import time_per_channel

    threads = apply_thread_policy()
    t0 = time.perf_counter()
    fn = _callable(cell)
    fn()  # the first call: compile, load caches, build the session
    first = time.perf_counter() - t0
    t = time_per_channel(fn, cell["batch"], cell["repeat"], cell["min_run_s"])
    return {"us_per_channel": round(1e6 * t, 3), "q1_us": round(1e6 * t.q1, 3), "q3_us": round(1e6 * t.q3, 3),
            "first_call_s": round(first, 3), "threads": threads}


if __name__ == "__main__":  # pragma: no cover - run as a fresh process by hbf_edge.bench
    print(json.dumps(run_cell(json.loads(sys.argv[1]))))
