"""The TorchScript ONNX exporter without two of its costs that write nothing a graph needs.

``torch.onnx.export(..., dynamo=False)`` (and Brevitas' QONNX manager, which calls it):

* runs ``torch._C._jit_pass_lint`` ten times per export, between its graph passes: a
  consistency check of TorchScript's own invariants that writes nothing.  On the demo's
  quantized UPGA graph (about 8,000 nodes) those calls took 3.85 s of a 22.4 s ``hbf-edge
  export`` (cProfile, 2-core AMD EPYC, 2026-12-03);
* splits constant lists of tensors into list constructions (``_split_tensor_list_constants``)
  by visiting every node of every block in Python: 1.38 s of a 15.3 s export of the quick
  demo's model (cProfile, same machine, 2026-12-04), where the graphs hold no such constant.
  Here the same transformation is applied to the constants that TorchScript's own (C++) search
  finds, so the result is the same graph.

Every graph the toolkit writes is checked more strictly afterwards: by the onnx checker, and by
running it in onnxruntime against torch or the hardware kernel.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

__all__ = ["lean_export"]


def _split_tensor_list_constants(g: Any, block: Any) -> None:
    """torch's ``_split_tensor_list_constants`` on the constants ``g.findAllNodes`` returns (every
    block), not on every node: the same rewrite of the same nodes (each is local to its node)."""
    from torch.onnx._internal.torchscript_exporter import utils

    for node in g.findAllNodes("prim::Constant", True):
        if utils._is_constant_tensor_list(node):
            inputs = []
            for val in node.output().toIValue():
                value = g.insertConstant(val)
                value.node().moveBefore(node)
                value.node().copyMetadata(node)
                inputs.append(value)
            lc = (g.create("prim::ListConstruct", inputs).insertBefore(node).output()
                  .setType(torch._C.ListType.ofTensors()))
            lc.node().copyMetadata(node)
            node.output().replaceAllUsesWith(lc)


@contextlib.contextmanager
def lean_export() -> Iterator[None]:
    """Within the block, ``torch._C._jit_pass_lint`` does nothing and the exporter's constant
    split searches the constants only (module notes); both restored on exit.  With another torch
    whose exporter lacks either, that one is left alone."""
    patches = []
    lint = getattr(torch._C, "_jit_pass_lint", None)
    if lint is not None:
        patches.append((torch._C, "_jit_pass_lint", lint, lambda graph: None))
    try:
        from torch.onnx._internal.torchscript_exporter import utils
    except ImportError:  # pragma: no cover - another torch layout
        utils = None
    split = getattr(utils, "_split_tensor_list_constants", None)
    if split is not None and hasattr(utils, "_is_constant_tensor_list"):
        patches.append((utils, "_split_tensor_list_constants", split, _split_tensor_list_constants))
    for owner, name, _, new in patches:
        setattr(owner, name, new)
    try:
        yield
    finally:
        for owner, name, old, _ in patches:
            setattr(owner, name, old)
