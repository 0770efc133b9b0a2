"""JCEHB's per-slot integer graph (``model.int.onnx``, the trace of the quant stage's datapath
model, tests/quant/jcehb/test_datapath.py): in onnxruntime it equals the integer kernel word for
word, at a batch other than the traced one, with wrapping formats, and carries its metadata."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest

from hbf_edge.export.jcehb.onnx_int import export_jcehb_int_onnx, run_jcehb_int_onnx

from helpers import JCEHB_WRAP as WRAP, jcehb_hw_slots as _run


@pytest.mark.parametrize("inverse,formats", [("exact", WRAP), ("paper", None)])
def test_the_exported_graph_in_onnxruntime(tmp_path, inverse, formats):
    hw, got, nu_word = _run(tmp_path, inverse, formats, B=9, nu=0.3, seed=6)
    path = export_jcehb_int_onnx(hw, types.SimpleNamespace(family="jcehb"), tmp_path / "model.int.onnx")
    F, W = run_jcehb_int_onnx(path, got.Y, nu_word)  # 9 slots: not the traced batch of 2
    np.testing.assert_array_equal(F, got.F_bb)
    np.testing.assert_array_equal(W, got.W_bb)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["inverse"] == inverse and meta["phase_bits"] == "6" and meta["pilots"] == "5"
    assert {t.type.tensor_type.elem_type for t in proto.graph.input} == {onnx.TensorProto.INT64}
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"If", "Loop", "BitShift"}  # plain standard operators, no control flow
