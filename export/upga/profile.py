"""onnxruntime as a profile backend: the exported float graph, timed stage by stage; and the
shipped quantized graph ``model.qcdq.onnx``, timed whole.

Used by ``hbf-edge profile`` for UPGA and UPGANet (:func:`hbf_edge.profiling.profile_model` and
:func:`hbf_edge.families.upganet.profile.profile_upganet` take it as their ``onnxruntime``
backend): one run with onnxruntime's profiler assigns each node's kernel time to the stage in
its name (``/init/...``, ``/layers.<i>/...``); the whole run is timed without the profiler.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.profiling import stage_names

__all__ = ["onnxruntime_stages", "qcdq_whole"]


_SCOPE = re.compile(r"^/(init|layers\.(\d+))/")
# the last float graph traced, by its model's content: a profile times each batch on the same
# graph, and tracing it took 1.7 s a batch (the demo's model, 2026-12-07); across processes the
# graph cache keeps it (export._core.graph_cache.content_key)
_TRACED: dict[str, bytes] = {}


def _graph_key(model: Any, config: Any) -> str:
    """sha256 of everything the traced graph depends on: the model's class, its tensors and the
    model directory's config."""
    h = hashlib.sha256(f"{type(model).__qualname__}\0{json.dumps(config.to_dict(), sort_keys=True)}\0".encode())
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode() + b"\0" + value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def onnxruntime_stages(model: Any, config: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, repeat: int,
                 min_run_s: float, other: bool = False) -> tuple[dict[str, float], float]:
    """Stage times from onnxruntime's profiler and the whole run timed without it; with
    ``other``, the nodes outside every stage scope are summed under ``"other"``."""
    import onnxruntime as ort
    from hbf_edge.export._core import graph_cache
    from hbf_edge.export.upga.onnx_float import OUTPUTS, export_float_onnx

    from hbf_edge.bench import time_per_channel

    B = H.shape[0]
    feed = {"h_re": H.real.astype(np.float32), "h_im": H.imag.astype(np.float32),
            "p_t": p_t.astype(np.float32), "noise": noise.astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        key = _graph_key(model, config)
        if key in _TRACED:
            path.write_bytes(_TRACED[key])
        else:  # from the graph cache, else traced and kept there (a seeded demo profiles the same model)
            stored = graph_cache.content_key(f"{__name__}:onnxruntime_stages", key)
            if stored is None or not graph_cache.fetch(stored, [path.name], path.parent):
                export_float_onnx(model, config, path)
                if stored is not None:
                    graph_cache.store(stored, [path.name], path.parent)
            _TRACED.clear()
            _TRACED[key] = path.read_bytes()
        plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        whole = time_per_channel(lambda: plain.run(OUTPUTS, feed), B, repeat, min_run_s)
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        sess.run(OUTPUTS, feed)  # warm-up
        for _ in range(repeat):
            sess.run(OUTPUTS, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    names = stage_names(config.n_layers)
    totals = dict.fromkeys(names, 0.0)
    runs = repeat + 1
    for ev in events:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        m = _SCOPE.match(ev["name"])
        if m is None:  # top-level glue nodes (a handful of reshapes): in `whole`, not in a stage
            if other:
                totals["other"] = totals.get("other", 0.0) + ev["dur"]
            continue
        stage = "init" if m.group(1) == "init" else f"layer {m.group(2)}"
        totals[stage] += ev["dur"]
    return {k: v / runs / B * 1e-6 for k, v in totals.items()}, whole


def qcdq_whole(model_dir: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, repeat: int,
               min_run_s: float) -> tuple[dict[str, float], float]:
    """The whole forward of the quantized graph a bundle ships (``model.qcdq.onnx``: the one an
    export of ``model_dir`` left in the graph cache, :mod:`export._core.graph_cache`, else
    exported here as ``hbf-edge export`` does) in onnxruntime, float64 inputs.  No stages: its
    nodes are named by the quantizer they belong to, which every stage shares, so onnxruntime's
    profile cannot attribute them to a stage."""
    import onnxruntime as ort

    from hbf_edge.bench import time_per_channel
    from hbf_edge.quant import load_quantized

    from hbf_edge.export._core import graph_cache
    from hbf_edge.export.upga.onnx_quant import export_quant_onnx
    from hbf_edge.export.upga.onnx_run import KINDS, QUANT_WRITER

    feed = {"h_re": np.ascontiguousarray(H.real, np.float64), "h_im": np.ascontiguousarray(H.imag, np.float64),
            "p_t": np.asarray(p_t, np.float64), "noise": np.asarray(noise, np.float64)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.qcdq.onnx"
        key = graph_cache.graph_key(QUANT_WRITER, model_dir)
        if key is None or not graph_cache.fetch(key, [f"model.{kind}.onnx" for kind in KINDS], Path(tmp)):
            qmodel, config, _ = load_quantized(model_dir)
            export_quant_onnx(qmodel, config, path, "qcdq")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        sess.run(None, feed)  # warm-up
        whole = time_per_channel(lambda: sess.run(None, feed), H.shape[0], repeat, min_run_s)
    return {}, whole
