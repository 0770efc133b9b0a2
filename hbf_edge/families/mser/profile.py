"""Per-layer profile of an MSER model: latency per backend, the op count of spec 6.5 and a target
estimate (JSON).

Stages: ``init`` (the DFT alignment, spec 2.4) and each layer (eq. 27-30 and 26).  Backends
(``MSER_BACKENDS``):

* ``torch_eager`` -- the network's own code, each layer timed alone from the design it
  receives, and the whole forward;
* ``numba_float64`` -- the compiled layers of :mod:`hbf_edge.kernels.mser`, called directly on
  checked arrays (``MserSession``: input checks excluded, as torch's are), the same way;
* ``numba_hardware`` -- a quantized model's integer datapath (``MserHwSession``: the input words
  prepared once): the whole forward (its L layers, the rounding to codes and the refit layers in
  one compiled call), and each of those L + refit iterations timed alone, applied again and
  again to the words the whole run has at its entry (``layers_us_per_channel`` has L + refit
  entries; the rounding is in layer L - 1's);
* ``onnxruntime`` -- the exported float32 graph of the network (the export stage's backend,
  :mod:`export.mser.profile`), whole, and one graph per layer, each timed on the design the
  layers before it give in onnxruntime;
* ``onnxruntime_int`` -- a quantized model's integer graph, the bundle's ``model.int.onnx``
  (:mod:`export.mser.profile`), whole (its L layers, the rounding, the refit layers), on the same
  input words as ``numba_hardware``.

Neither whole forward includes the start; ``init_us_per_channel`` times it apart (numpy: the
model's start, the DFT alignment by default).

A network with candidate layers (``train mser --candidates``) is profiled on ``torch_eager`` and
``numba_float64`` only (the graphs and the datapath have no candidate layers yet): a layer is
all its candidates and their scores; timed alone, the compiled layer also scores its input once,
which the whole run carries from the layer before (one score of the 14 with the ``line`` table).
Its op count is :func:`~hbf_edge.families.mser.complexity.candidate_layer_ops`.

Figures are microseconds per channel (:func:`hbf_edge.bench.time_per_channel`: median and
quartiles of repeated runs after a warm-up) on seeded channels of the model's sizes, at 15 dB.
The op count (:func:`~hbf_edge.families.mser.complexity.mser_layer_ops`) becomes a per-layer
target estimate: real MACs plus the sign-MACs with the symbol samples (additions, counted as
MACs), the Gaussian-weight lookups as one MAC each, and the square roots and divisions of the
normalisations (``1 + D`` each; 16-QAM adds its weights' own, ``mser_layer_ops``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.bench import time_per_channel
from hbf_edge.complexity import OpCount
from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.complexity import candidate_layer_ops, mser_layer_ops
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std

__all__ = ["profile_mser", "mser_ops", "MSER_BACKENDS"]

MSER_BACKENDS = ("numba_float64", "numba_hardware", "torch_eager", "onnxruntime", "onnxruntime_int")
SNR_DB = 15.0


def mser_ops(sizes: MserSizes, n_samples: int, o: dict[str, int] | None = None) -> OpCount:
    """One layer's operations for the target estimate (module notes; ``o``: a count of
    :mod:`~hbf_edge.families.mser.complexity` other than the plain layer's)."""
    o = mser_layer_ops(sizes, n_samples) if o is None else o
    macs = o["real_macs"] + o["sign_macs"] + o["table_lookups"]
    return OpCount(flops=2 * macs, matmul=2 * o["real_macs"], sqrt=o["sqrt"], div=o["div"])


def _whole_and_layers(step: Any, forward: Any, start: Any, n_layers: int, batch: int, repeat: int,
                      min_run_s: float) -> dict[str, Any]:
    """``step(i, design) -> design`` timed per layer from the design it receives; ``forward()`` whole."""
    per_layer, iqr = [], []
    d = start
    for i in range(n_layers):
        t = time_per_channel(lambda: step(i, d), batch, repeat, min_run_s)
        per_layer.append(1e6 * t)
        iqr.append(1e6 * (t.q3 - t.q1))
        d = step(i, d)
    whole = time_per_channel(forward, batch, repeat, min_run_s)
    return {"whole_us_per_channel": 1e6 * whole, "whole_iqr_us_per_channel": 1e6 * (whole.q3 - whole.q1),
            "layers_us_per_channel": per_layer, "layers_iqr_us_per_channel": iqr,
            "layer_us_per_channel": float(np.mean(per_layer))}


def _kernel_layers(kernels: Any, kmodel: Any, H: np.ndarray, start: Any, sigma: float, n_layers: int, batch: int,
                   repeat: int, min_run_s: float) -> dict[str, Any]:
    """The compiled layers called directly on checked arrays (input checks excluded): each
    layer applied again and again from the design it receives (no copies timed), and the whole
    forward from the start (one reset of the work arrays per run)."""
    per_layer, iqr = [], []
    d = start
    for i in range(n_layers):
        session = kernels.session(kmodel, H, d, sigma)
        session.run(i, i + 1)
        d = session.design()  # the next layer's input
        t = time_per_channel(lambda: session.run(i, i + 1, reset=False), batch, repeat, min_run_s)
        per_layer.append(1e6 * t)
        iqr.append(1e6 * (t.q3 - t.q1))
    session = kernels.session(kmodel, H, start, sigma)
    whole = time_per_channel(session.run, batch, repeat, min_run_s)
    return {"whole_us_per_channel": 1e6 * whole, "whole_iqr_us_per_channel": 1e6 * (whole.q3 - whole.q1),
            "layers_us_per_channel": per_layer, "layers_iqr_us_per_channel": iqr,
            "layer_us_per_channel": float(np.mean(per_layer))}


def profile_mser(model: Any, sizes: MserSizes, n_samples: int, batches: tuple[int, ...], repeat: int,
                 backends: tuple[str, ...], target: dict[str, Any], kernels: Any = None, model_dir: Any = None,
                 seed: int = 2026, min_run_s: float = 0.05, quantized: bool = False, onnx: Any = None,
                 onnx_int: Any = None) -> dict[str, Any]:
    """Profile an MSER network; returns a JSON-ready dict (module notes).  ``kernels``: the
    family's kernel stage (``numba_float64``, and ``numba_hardware`` when ``quantized``), or None;
    ``onnx``, ``onnx_int``: the export stage's ``onnxruntime`` and ``onnxruntime_int`` timer
    factories (``model_dir -> timer``), or None."""
    import torch

    from hbf_edge.families.mser.gd import Design
    from hbf_edge.families.mser.start import design_start
    from hbf_edge.profiling import target_estimate

    unknown = set(backends) - set(MSER_BACKENDS)
    if unknown or not backends:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; an MSER profile knows {list(MSER_BACKENDS)}")
    L = model.n_layers
    table = getattr(model, "candidates", None)
    ops, skipped = mser_layer_ops(sizes, n_samples), {}
    if table is not None:
        passes = int(np.count_nonzero(table.numpy().any(axis=1)))
        ops = candidate_layer_ops(sizes, n_samples, int(model.score_symbols.shape[1]), passes)
        skipped = {b: "candidate layers run in torch and the Numba float kernel only for now" for b in backends
                   if b in ("numba_hardware", "onnxruntime", "onnxruntime_int")}
        backends = tuple(b for b in backends if b not in skipped)
    result: dict[str, Any] = {"layers": L, "snr_db": SNR_DB, "ops_per_layer": ops, "measured": {}, "skipped": skipped}
    if table is not None:
        result["candidates"] = {"rows": int(len(table)), "passes_per_layer": passes}
    for name in ("numba_float64", "numba_hardware"):
        if name in backends and kernels is None:
            result["skipped"][name] = "the MSER kernel stage is not installed"
    if "onnxruntime" in backends and onnx is None:
        result["skipped"]["onnxruntime"] = "the MSER export stage is not installed"
    ort = onnx(model_dir) if onnx is not None and "onnxruntime" in backends else None
    for name in ("numba_hardware", "onnxruntime_int"):
        if name in backends and not quantized:
            result["skipped"][name] = "a float model has no integer datapath: quantize it first"
    if "onnxruntime_int" in backends and quantized and (onnx_int is None or kernels is None):
        result["skipped"]["onnxruntime_int"] = "the MSER export and kernel stages are needed"
    ort_int = (onnx_int(model_dir) if onnx_int is not None and kernels is not None and quantized
               and "onnxruntime_int" in backends else None)
    for batch in batches:
        H = mser_channels(batch, sizes, seed=seed)
        sigma = float(noise_std(SNR_DB))
        row: dict[str, Any] = {}
        first = getattr(model, "start", None)  # the model's start (default the alignment), timed as init
        init = time_per_channel(lambda: design_start(H, sizes, sigma, first), batch, repeat, min_run_s)
        start = design_start(H, sizes, sigma, first)
        if "torch_eager" in backends:
            Ht = torch.from_numpy(H)
            s = torch.full((batch,), sigma, dtype=torch.float64)
            st = Design(*(torch.from_numpy(x) for x in start))
            with torch.no_grad():
                if table is None:
                    row["torch_eager"] = _whole_and_layers(lambda i, d: model.layer(i, Ht, d, s),
                                                           lambda: model(Ht, st, s), st, L, batch, repeat, min_run_s)
                else:  # a candidate layer takes and gives the design with its score
                    row["torch_eager"] = _whole_and_layers(lambda i, d: model.candidate_layer(i, Ht, d[0], s, d[1]),
                                                           lambda: model(Ht, st, s), (st, model.score(Ht, st, s)), L,
                                                           batch, repeat, min_run_s)
        if "numba_float64" in backends and kernels is not None:
            kmodel = kernels.load(model_dir)
            row["numba_float64"] = _kernel_layers(kernels, kmodel, H, start, sigma, L, batch, repeat, min_run_s)
        if "numba_hardware" in backends and kernels is not None and quantized:
            session = kernels.session_hw(model_dir, H, SNR_DB, start)
            per_layer, iqr = [], []
            for i in range(session.iterations):
                if i == 0:  # the iteration's input: the whole run's words at its entry
                    session.reset()
                else:
                    session.run(0, i)
                t = time_per_channel(lambda: session.run(i, i + 1, reset=False), batch, repeat, min_run_s)
                per_layer.append(1e6 * t)
                iqr.append(1e6 * (t.q3 - t.q1))
            whole = time_per_channel(session.run, batch, repeat, min_run_s)
            row["numba_hardware"] = {"whole_us_per_channel": 1e6 * whole,
                                     "whole_iqr_us_per_channel": 1e6 * (whole.q3 - whole.q1),
                                     "layers_us_per_channel": per_layer, "layers_iqr_us_per_channel": iqr,
                                     "layer_us_per_channel": float(np.mean(per_layer)),
                                     "refit_layers": session.hw.refit}
        if ort_int is not None:  # the words numba_hardware runs on
            t = ort_int(kernels.session_hw(model_dir, H, SNR_DB, start).input_words(), repeat, min_run_s)
            row["onnxruntime_int"] = {"whole_us_per_channel": 1e6 * t, "whole_iqr_us_per_channel": 1e6 * (t.q3 - t.q1)}
        if ort is not None:
            t, layers = ort(H, start, sigma, repeat, min_run_s)
            row["onnxruntime"] = {"whole_us_per_channel": 1e6 * t, "whole_iqr_us_per_channel": 1e6 * (t.q3 - t.q1),
                                  "layers_us_per_channel": [1e6 * x for x in layers],
                                  "layers_iqr_us_per_channel": [1e6 * (x.q3 - x.q1) for x in layers],
                                  "layer_us_per_channel": float(np.mean([1e6 * x for x in layers]))}
        for r in row.values():
            r["init_us_per_channel"] = 1e6 * init
        result["measured"][str(batch)] = row
    est = target_estimate(mser_ops(sizes, n_samples, ops), target)
    result["target"] = {"name": target["name"], "assumptions": target["assumptions"], "layer": est,
                        "layers_total_us": round(est["us"] * L, 3)}
    if quantized:
        result["note"] = ("a quantized model: torch_eager's, numba_hardware's and onnxruntime_int's whole forward "
                          "include the rounding to codes and the refit layers; numba_float64 and onnxruntime run the "
                          "L float layers")
    if not result["skipped"]:
        del result["skipped"]
    return result
