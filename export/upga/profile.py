"""onnxruntime as a profile backend: the exported float graph, timed stage by stage.

Used by ``hbf-edge profile`` for UPGA and UPGANet (:func:`hbf_edge.profiling.profile_model` and
:func:`hbf_edge.families.upganet.profile.profile_upganet` take it as their ``onnxruntime``
backend): one run with onnxruntime's profiler assigns each node's kernel time to the stage in
its name (``/init/...``, ``/layers.<i>/...``); the whole run is timed without the profiler.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.profiling import stage_names

__all__ = ["onnxruntime_stages"]


_SCOPE = re.compile(r"^/(init|layers\.(\d+))/")


def onnxruntime_stages(model: Any, config: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, repeat: int,
                 min_run_s: float, other: bool = False) -> tuple[dict[str, float], float]:
    """Stage times from onnxruntime's profiler and the whole run timed without it; with
    ``other``, the nodes outside every stage scope are summed under ``"other"``."""
    import onnxruntime as ort
    from hbf_edge.export.upga.onnx_float import OUTPUTS, export_float_onnx

    from hbf_edge.bench import time_per_channel

    B = H.shape[0]
    feed = {"h_re": H.real.astype(np.float32), "h_im": H.imag.astype(np.float32),
            "p_t": p_t.astype(np.float32), "noise": noise.astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_float_onnx(model, config, path)
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
