"""What the integer ONNX graphs share (``model.int.onnx`` of JCEHB and MSER): the export of an
int64 torch model of a datapath as a standard-operator graph.

The graphs are traced from the quant stage's torch models of the datapaths
(:mod:`quant.jcehb.datapath`, :mod:`quant.mser.datapath`), written operation for operation from
a family's integer kernel, so that onnxruntime gives the kernel's words.
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

__all__ = ["INT_OPSET", "export_int_graph"]

INT_OPSET = 17


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
