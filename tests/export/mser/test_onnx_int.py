"""MSER's integer graph (``model.int.onnx``): its int64 torch module equals the integer kernel
code for code and word for word -- the default formats with refit layers, narrow formats that
saturate, wrap and round by floor, two streams per user -- and so does the exported graph in
onnxruntime at a batch other than the traced one."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest
import torch

from helpers import mser_model
from hbf_edge.export.mser.onnx_int import MSER_INT_INPUTS, MserInt, export_mser_int_onnx, run_mser_int_onnx
from hbf_edge.families.mser.formats import MserFormats
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.system import MserSizes, mser_channels
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.kernels.mser.hardware import MserHwSession, pack_hw

TINY = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=1)
TINY2 = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
NARROW = MserFormats(accumulator=FixedPointFormat(16, 9), lut=FixedPointFormat(10, 8), precoder=FixedPointFormat(8, 7),
                     combiner=FixedPointFormat(7, 5, "half_even", False), channel=FixedPointFormat(9, 4),
                     kernel=FixedPointFormat(8, 6, "floor"), step=FixedPointFormat(24, 18), angle_bits=10,
                     internal_phase_bits=6)
WRAP = MserFormats(accumulator=FixedPointFormat(12, 6, "half_even", False), lut=FixedPointFormat(10, 6),
                   precoder=FixedPointFormat(4, 3, "floor", False), combiner=FixedPointFormat(4, 2, "half_even", False),
                   channel=FixedPointFormat(9, 4), kernel=FixedPointFormat(8, 6, "floor"), step=FixedPointFormat(24, 18),
                   angle_bits=10, internal_phase_bits=6)


def _session(sizes, formats, q_bs, q_ue, refit, B=4, seed=5):
    hw = pack_hw(mser_model(sizes, 2, 6), formats, q_bs, q_ue, refit)
    H = mser_channels(B, sizes, seed=seed)
    session = MserHwSession(hw, H, dft_alignment(H, sizes), np.linspace(0.05, 0.3, B))
    session.run()
    return hw, session


def _module_out(hw, words):
    with torch.no_grad():
        out = MserInt(hw)(*(torch.from_numpy(np.ascontiguousarray(words[k])) for k in MSER_INT_INPUTS))
    cf, cu, vr, vi, wr, wi = (o.numpy().astype(np.int64) for o in out)
    return {"F_codes": cf, "U_codes": cu, "V": np.stack([vr, vi], -1), "W": np.stack([wr, wi], -1)}


@pytest.mark.parametrize("sizes,formats,q_bs,q_ue,refit",
                         [(TINY, MserFormats(), 4, 3, 2), (TINY, NARROW, 2, 6, 1), (TINY2, NARROW, 3, 3, 0),
                          (TINY, WRAP, 3, 4, 1)])
def test_the_int_module_equals_the_integer_kernel(sizes, formats, q_bs, q_ue, refit):
    hw, session = _session(sizes, formats, q_bs, q_ue, refit)
    got = session.result()
    out = _module_out(hw, session.input_words())
    for name in ("F_codes", "U_codes", "V", "W"):
        np.testing.assert_array_equal(out[name], getattr(got, name), err_msg=name)
    assert len(np.unique(got.F_codes)) > 1 and np.abs(got.V).max() > 0  # codes and words, not zeros
    if formats == WRAP:  # the wrapping accumulator overflowed, and the module wrapped with it
        assert got.counters["forward"] > 50, got.counters


def test_the_exported_graph_in_onnxruntime(tmp_path):
    hw, session = _session(TINY, NARROW, 2, 6, 1, B=7, seed=9)
    got = session.result()
    path = export_mser_int_onnx(hw, types.SimpleNamespace(family="mser"), tmp_path / "model.int.onnx")
    out = run_mser_int_onnx(path, session.input_words())  # 7 channels: not the traced batch of 2
    for name in ("F_codes", "U_codes", "V", "W"):
        np.testing.assert_array_equal(out[name], getattr(got, name), err_msg=name)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["phase_bits_bs"] == "2" and meta["phase_bits_ue"] == "6" and meta["refit_layers"] == "1"
    assert not {n.op_type for n in proto.graph.node} & {"If", "Loop", "BitShift"}
