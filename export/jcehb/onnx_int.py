"""ONNX export of JCEHB's per-slot integer datapath: ``model.int.onnx``, the quantized per-slot
network of a bundle.

The graph is the trace of :class:`quant.jcehb.datapath.JcehbSlotInt`, the quant stage's torch
model of the integer datapath, bit-exact with the kernel: int64 standard operators, no control
flow.  So it equals the integer kernel word for word (tests; every bundle checks it in
onnxruntime on its own slots, 0 differing words).

Inputs: the ADC words of a slot's received pilots ``y_re, y_im [B, K, R, L]`` (int64, the
``received`` format) and the slot's noise power as an ``accumulator`` word ``nu [B]`` (int64).
Outputs: ``f_re, f_im [B, N, K N_s]`` (``F_BB`` in the ``precoder`` format) and ``w_re, w_im
[B, K, R, N_s]`` (``W_BB`` in the ``combiner`` format), int32 words.  Everything programmed once
per superframe is a constant of the graph, as words (:func:`kernels.jcehb.hardware.pack_hw`):
the pilot ROM, CEDUN's gains, the Gram of the BS's code phases, every trained multiplier and
offset, the ``2^x`` table.

Why int64 operators and not a QCDQ graph like UPGA's ``model.qcdq.onnx``: the datapath's words
are integers end to end, and its torch model is written from the integer kernel itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hbf_edge import __version__
from hbf_edge.export._core.intgraph import INT_OPSET, export_int_graph
from hbf_edge.quant._core.datapath import Words
from hbf_edge.quant.jcehb.datapath import JcehbSlotInt

__all__ = ["export_jcehb_int_onnx", "write_jcehb_int_graph", "run_jcehb_int_onnx", "INT_INPUTS", "INT_OUTPUTS", "INT_OPSET",
           "INT_PARTS"]

INT_INPUTS = ["y_re", "y_im", "nu"]
INT_OUTPUTS = ["f_re", "f_im", "w_re", "w_im"]


class _CedunInt(nn.Module):
    """CEDUN alone, for the profiler: ``(y_re, y_im) -> (h_re, h_im)`` (heq words, int32)."""

    def __init__(self, slot: JcehbSlotInt) -> None:
        super().__init__()
        self.slot = slot

    def forward(self, y_re: torch.Tensor, y_im: torch.Tensor):
        h = self.slot.cedun(Words(y_re, y_im))
        return h.re.to(torch.int32), h.im.to(torch.int32)


class _HbdunInt(nn.Module):
    """HBDUN alone, for the profiler: ``(h_re, h_im, nu) -> (f_re, f_im, w_re, w_im)``."""

    def __init__(self, slot: JcehbSlotInt) -> None:
        super().__init__()
        self.slot = slot

    def forward(self, h_re: torch.Tensor, h_im: torch.Tensor, nu: torch.Tensor):
        F, W = self.slot.hbdun(Words(h_re, h_im), nu)
        return tuple(v.to(torch.int32) for v in (F.re, F.im, W.re, W.im))


# part -> (graph, input names, output names): the bundle ships "slot"; the profiler times each
INT_PARTS = {"slot": (lambda s: s, INT_INPUTS, INT_OUTPUTS),
             "cedun": (_CedunInt, ["y_re", "y_im"], ["h_re", "h_im"]),
             "hbdun": (_HbdunInt, ["h_re", "h_im", "nu"], INT_OUTPUTS)}


def export_jcehb_int_onnx(hw: Any, config: Any, path: str | os.PathLike, part: str = "slot") -> Path:
    """Write the per-slot integer datapath of ``hw`` (:func:`kernels.jcehb.hardware.pack_hw`), or
    one of its ``INT_PARTS``, as ``path`` (module notes); metadata as the float graph's, plus the
    formats."""
    wrap, inputs, outputs = INT_PARTS[part]
    slot = JcehbSlotInt(hw)
    graph = wrap(slot)
    Nt, N, Nr, R, K, S = hw.model.sizes
    g = torch.Generator().manual_seed(0)
    shapes = {"y_re": (2, K, R, slot.L), "y_im": (2, K, R, slot.L), "h_re": (2, K, R, N), "h_im": (2, K, R, N)}
    example = tuple(torch.full((2,), 1 << slot.fA, dtype=torch.int64) if name == "nu" else
                    torch.randint(-1000, 1000, shapes[name], generator=g, dtype=torch.int64) for name in inputs)
    meta = {"family": config.family, "part": part, "sizes": f"N_t={Nt},N_t^RF={N},N_r={Nr},N_r^RF={R},K={K},N_s={S}",
            "pilots": str(slot.L), "hb_layers": str(slot.Lh), "inverse": "exact" if slot.exact else "paper",
            "phase_bits": str(hw.phase_bits), "package_version": __version__,
            "formats": ",".join(f"{n}={fmt.word_bits}.{fmt.frac_bits}" for n, fmt in slot.f.items()),
            "layout": "inputs y_re,y_im [B,K,R,L] (received words), nu [B] (accumulator word), int64; outputs "
                      "f_re,f_im [B,N,K N_s] (precoder words), w_re,w_im [B,K,R,N_s] (combiner words), int32"}
    return export_int_graph(graph, example, path, inputs, outputs, meta)


def write_jcehb_int_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.int.onnx`` (the per-slot graph) of a quantized JCEHB model directory into the folder
    ``out``."""
    from hbf_edge.kernels.jcehb.hardware import load_jcehb_hw
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    return export_jcehb_int_onnx(load_jcehb_hw(model_dir), config, Path(out) / "model.int.onnx")


def run_jcehb_int_onnx(path: str | os.PathLike, Y: np.ndarray, nu_word: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model.int.onnx`` in onnxruntime on received words ``Y [B, K, R, L, 2]`` (``(re, im)``
    last, as the hardware kernel's) with the noise word ``nu_word``: ``F_bb [B, N, K S, 2]`` and
    ``W_bb [B, K, R, S, 2]`` words (int64, the kernel's layout)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    B = Y.shape[0]
    feed = {"y_re": np.ascontiguousarray(Y[..., 0], dtype=np.int64), "y_im": np.ascontiguousarray(Y[..., 1], dtype=np.int64),
            "nu": np.full(B, nu_word, dtype=np.int64)}
    f_re, f_im, w_re, w_im = sess.run(INT_OUTPUTS, feed)
    return np.stack([f_re, f_im], -1).astype(np.int64), np.stack([w_re, w_im], -1).astype(np.int64)
