"""Running a bundle's ``model.qcdq.onnx`` in onnxruntime (numpy and onnxruntime only: the bundle
writer checks the graphs with it without importing torch or Brevitas)."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["KINDS", "QUANT_WRITER", "QUANT_INPUTS", "QUANT_OUTPUTS", "run_quant_onnx"]

KINDS = ("qcdq", "qonnx")  # the representations of the quantized datapath (export.upga.onnx_quant)
QUANT_WRITER = "hbf_edge.export.upga.onnx_quant:write_quant_graphs"  # their writer, named as a bundle part's (export._core.side)
QUANT_INPUTS = ["h_re", "h_im", "p_t", "noise"]
QUANT_OUTPUTS = ["codes", "w_re", "w_im"]


def run_quant_onnx(path: str | os.PathLike, h: np.ndarray, p_t: np.ndarray, noise: np.ndarray) -> list[np.ndarray]:
    """Run ``model.qcdq.onnx`` in onnxruntime on complex channels ``h [B, N, K]``: codes, w_re, w_im."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"h_re": np.ascontiguousarray(h.real, dtype=np.float64), "h_im": np.ascontiguousarray(h.imag, dtype=np.float64),
            "p_t": np.asarray(p_t, dtype=np.float64), "noise": np.asarray(noise, dtype=np.float64)}
    return sess.run(QUANT_OUTPUTS, feed)
