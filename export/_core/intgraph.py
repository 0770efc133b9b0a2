"""What the integer ONNX graphs share (``model.int.onnx`` of JCEHB and MSER): complex words as a
pair of int64 tensors, and the export of an int64 torch module as a standard-operator graph.

The graphs are traced from torch modules written operation for operation from a family's
integer kernel, on the primitives of :mod:`quant._core.datapath` (``rshift``, ``fit_word``,
``div_round``, ``isqrt``, ``gj_inverse_words``), so that onnxruntime gives the kernel's words.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from hbf_edge.export._core.onnx_meta import save_with_metadata
from hbf_edge.export._core.trace import lean_export

__all__ = ["Words", "INT_OPSET", "export_int_graph"]

INT_OPSET = 17


class Words:
    """Complex words as an ``(re, im)`` pair of int64 tensors."""

    __slots__ = ("re", "im")

    def __init__(self, re: torch.Tensor, im: torch.Tensor) -> None:
        self.re, self.im = re, im


def export_int_graph(graph: nn.Module, example: tuple[torch.Tensor, ...], path: str | os.PathLike,
                     inputs: list[str], outputs: list[str], meta: dict[str, Any]) -> Path:
    """Trace ``graph`` on ``example`` (batch first, the batch axis dynamic) into ``path`` with the
    metadata ``meta``, checked by onnx with shape inference."""
    path = Path(path)
    with warnings.catch_warnings(), torch.no_grad(), lean_export():
        warnings.simplefilter("ignore")  # tracer warnings on shape-derived constants
        torch.onnx.export(graph.eval(), example, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in inputs + outputs}, opset_version=INT_OPSET,
                          dynamo=False)
    return save_with_metadata(onnx.load(str(path)), path, meta, full_check=True)
