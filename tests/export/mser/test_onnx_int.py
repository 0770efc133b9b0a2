"""MSER's integer graph (``model.int.onnx``, the trace of the quant stage's datapath model,
tests/quant/mser/test_datapath.py): in onnxruntime it equals the integer kernel code for code and
word for word, at a batch other than the traced one, and carries its metadata."""

from __future__ import annotations

import types

import numpy as np
import onnx

from helpers import MSER_NARROW as NARROW, MSER_TINY as TINY, mser_hw_session
from hbf_edge.export.mser.onnx_int import export_mser_int_onnx, run_mser_int_onnx


def test_the_exported_graph_in_onnxruntime(tmp_path):
    hw, session = mser_hw_session(TINY, NARROW, 2, 6, 1, B=7, seed=9)
    got = session.result()
    path = export_mser_int_onnx(hw, types.SimpleNamespace(family="mser"), tmp_path / "model.int.onnx")
    out = run_mser_int_onnx(path, session.input_words())  # 7 channels: not the traced batch of 2
    for name in ("F_codes", "U_codes", "V", "W"):
        np.testing.assert_array_equal(out[name], getattr(got, name), err_msg=name)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["phase_bits_bs"] == "2" and meta["phase_bits_ue"] == "6" and meta["refit_layers"] == "1"
    assert not {n.op_type for n in proto.graph.node} & {"If", "Loop", "BitShift"}
