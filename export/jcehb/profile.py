"""onnxruntime as a JCEHB profile backend: the per-slot graph (:mod:`export.jcehb.onnx_float`)
timed whole, and each stage (``cedun``, ``hbdun``) as a graph of its own, all three as plain
onnxruntime sessions timed like the other backends (median and quartiles of repeated runs);
``onnxruntime_int``: the same for a quantized model's integer graph, the bundle's
``model.int.onnx`` (:mod:`export.jcehb.onnx_int`), on the slots' received words.

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

__all__ = ["onnxruntime_slot", "onnxruntime_int_slot"]


def onnxruntime_slot(model: Any, config: Any) -> Any:
    """Export the three graphs of ``model`` once; returns ``time(Y, nu, repeat, min_run_s) ->
    {"cedun": Timing, "hbdun": Timing, "slot": Timing}`` (seconds per channel) for received
    pilots ``Y [B, K, R, L]`` (complex) and noise power ``nu``."""
    from hbf_edge.export.jcehb.onnx_float import PARTS, export_jcehb_onnx

    sessions = _sessions(lambda part, path: export_jcehb_onnx(model, config, path, part))

    def time(Y: np.ndarray, nu: float, repeat: int, min_run_s: float) -> dict[str, Any]:
        feed = {"y_re": np.ascontiguousarray(Y.real, np.float32), "y_im": np.ascontiguousarray(Y.imag, np.float32),
                "nu": np.full(Y.shape[0], nu, np.float32)}
        return _time_parts(sessions, PARTS, feed, repeat, min_run_s)

    return time


def onnxruntime_int_slot(model_dir: Any, config: Any) -> Any:
    """The integer graphs of a quantized model directory, exported once; returns ``time(Y, nu,
    repeat, min_run_s)`` as :func:`onnxruntime_slot`'s, for received words ``Y [B, K, R, L, 2]``
    and the noise word ``nu``."""
    from hbf_edge.export.jcehb.onnx_int import INT_PARTS, export_jcehb_int_onnx
    from hbf_edge.kernels.jcehb.hardware import load_jcehb_hw

    hw = load_jcehb_hw(model_dir)
    sessions = _sessions(lambda part, path: export_jcehb_int_onnx(hw, config, path, part))

    def time(Y: np.ndarray, nu: int, repeat: int, min_run_s: float) -> dict[str, Any]:
        feed = {"y_re": np.ascontiguousarray(Y[..., 0], np.int64), "y_im": np.ascontiguousarray(Y[..., 1], np.int64),
                "nu": np.full(Y.shape[0], nu, np.int64)}
        return _time_parts(sessions, INT_PARTS, feed, repeat, min_run_s)

    return time


def _time_parts(sessions: dict[str, Any], parts: dict[str, Any], feed: dict[str, np.ndarray], repeat: int,
                min_run_s: float) -> dict[str, Any]:
    """Each part's session timed on ``feed``; HBDUN alone starts from CEDUN's graph's own estimate
    (cast to the type of the received pilots: the integer graphs return int32 words)."""
    from hbf_edge.bench import time_per_channel

    h_re, h_im = sessions["cedun"].run(None, {k: feed[k] for k in parts["cedun"][1]})
    feed = {**feed, "h_re": h_re.astype(feed["y_re"].dtype), "h_im": h_im.astype(feed["y_re"].dtype)}
    B = feed["nu"].shape[0]
    out = {}
    for part, sess in sessions.items():
        part_feed = {k: feed[k] for k in parts[part][1]}
        out[part] = time_per_channel(lambda: sess.run(None, part_feed), B, repeat, min_run_s)
    return out


def _sessions(export: Any) -> dict[str, Any]:
    """An onnxruntime session per part, from ``export(part, path)``'s graph."""
    import onnxruntime as ort

    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("cedun", "hbdun", "slot"):
            path = export(part, Path(tmp) / f"{part}.onnx")
            sessions[part] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sessions
