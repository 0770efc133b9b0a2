"""The exporter's lean mode: the lint skip and the constant split are in place inside the block
only, restored on any exit, and the exported graph is the one torch's own passes write."""

import pytest
import torch
from torch.onnx._internal.torchscript_exporter import utils

from hbf_edge.export._core import trace
from hbf_edge.export._core.trace import lean_export


def test_the_patches_hold_inside_the_block_and_are_restored_after_it():
    lint, split = torch._C._jit_pass_lint, utils._split_tensor_list_constants
    with lean_export():
        assert torch._C._jit_pass_lint is not lint
        assert torch._C._jit_pass_lint(object()) is None  # anything passes: nothing is checked
        assert utils._split_tensor_list_constants is trace._split_tensor_list_constants
    assert torch._C._jit_pass_lint is lint and utils._split_tensor_list_constants is split
    with pytest.raises(RuntimeError, match="boom"), lean_export():
        raise RuntimeError("boom")
    assert torch._C._jit_pass_lint is lint and utils._split_tensor_list_constants is split


_IR = """
graph(%x : Tensor):
  %c : bool = prim::Constant[value=1]()
  %y : Tensor = prim::If(%c)
    block0():
      -> (%x)
    block1():
      -> (%x)
  return (%y)
"""


def _graph_with_tensor_list_constants():
    """A constant list of tensors (what constant propagation can leave) used at the top level and
    inside a sub-block."""
    g = torch._C.parse_ir(_IR)
    for where in (g.return_node(), list(g.findNode("prim::If").blocks())[0].returnNode()):
        g.setInsertPoint(where)
        c = g.insertConstant([torch.ones(2), torch.zeros(3)])
        g.create("prim::ListUnpack", [c], 2).insertBefore(where)
    return g


def test_the_split_rewrites_the_graph_as_torchs_own_pass():
    ours, torchs = _graph_with_tensor_list_constants(), _graph_with_tensor_list_constants()
    before = str(ours)
    trace._split_tensor_list_constants(ours, ours)
    utils._split_tensor_list_constants(torchs, torchs)
    assert str(ours) != before and str(ours) == str(torchs)
    assert len(ours.findAllNodes("prim::ListConstruct")) == 2  # both lists, the one in the block too
