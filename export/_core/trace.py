"""The TorchScript ONNX exporter without its graph lint.

``torch.onnx.export(..., dynamo=False)`` (and Brevitas' QONNX manager, which calls it) runs
``torch._C._jit_pass_lint`` ten times per export, between its graph passes: a consistency check
of TorchScript's own invariants that writes nothing.  On the demo's quantized UPGA graph (about
8,000 nodes) those calls took 3.85 s of a 22.4 s ``hbf-edge export`` (cProfile, 2-core AMD EPYC,
2026-12-03).  Every graph the toolkit writes is checked more strictly afterwards: by the onnx
checker, and by running it in onnxruntime against torch or the hardware kernel.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["without_jit_lint"]


@contextlib.contextmanager
def without_jit_lint() -> Iterator[None]:
    """Within the block, ``torch._C._jit_pass_lint`` does nothing (restored on exit)."""
    lint = getattr(torch._C, "_jit_pass_lint", None)
    if lint is None:  # another torch: nothing to skip
        yield
        return
    torch._C._jit_pass_lint = lambda graph: None
    try:
        yield
    finally:
        torch._C._jit_pass_lint = lint
