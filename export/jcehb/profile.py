"""onnxruntime as a JCEHB profile backend: the per-slot graph (:mod:`export.jcehb.onnx_float`)
timed whole, and each stage (``cedun``, ``hbdun``) as a graph of its own, all three as plain
onnxruntime sessions timed like the other backends (median and quartiles of repeated runs).

Why not onnxruntime's own profiler on the slot graph: with it on, every one of the graph's
thousands of small nodes pays the profiler's bookkeeping, and at batch 1 the stages' node times
added up to 5x the whole run timed without it (measured on a small model).  Separate graphs cost
one export more each (once per profile: the batch axis is dynamic) and give stage figures of the
same kind as the whole's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["onnxruntime_slot"]


def onnxruntime_slot(model: Any, config: Any) -> Any:
    """Export the three graphs of ``model`` once; returns ``time(Y, nu, repeat, min_run_s) ->
    {"cedun": Timing, "hbdun": Timing, "slot": Timing}`` (seconds per channel) for received
    pilots ``Y [B, K, R, L]`` (complex) and noise power ``nu``."""
    import onnxruntime as ort

    from hbf_edge.export.jcehb.onnx_float import PARTS, export_jcehb_onnx

    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("cedun", "hbdun", "slot"):
            path = export_jcehb_onnx(model, config, Path(tmp) / f"{part}.onnx", part)
            sessions[part] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def time(Y: np.ndarray, nu: float, repeat: int, min_run_s: float) -> dict[str, Any]:
        from hbf_edge.bench import time_per_channel

        B = Y.shape[0]
        feed = {"y_re": np.ascontiguousarray(Y.real, np.float32), "y_im": np.ascontiguousarray(Y.imag, np.float32),
                "nu": np.full(B, nu, np.float32)}
        h_re, h_im = sessions["cedun"].run(None, {k: feed[k] for k in PARTS["cedun"][1]})
        feed.update(h_re=h_re, h_im=h_im)  # HBDUN starts from the graph's own estimate
        out = {}
        for part, sess in sessions.items():
            part_feed = {k: feed[k] for k in PARTS[part][1]}
            out[part] = time_per_channel(lambda: sess.run(None, part_feed), B, repeat, min_run_s)
        return out

    return time
