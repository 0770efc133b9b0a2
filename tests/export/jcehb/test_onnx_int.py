"""JCEHB's per-slot integer graph (``model.int.onnx``): its int64 torch module equals the
integer kernel word for word -- both inverses, the default formats, narrow saturating ones, and
wrapping ones with every rounding rule, all overflowing -- and so does the exported graph in
onnxruntime at a batch other than the traced one."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest
import torch

from hbf_edge.export.jcehb.onnx_int import JcehbSlotInt, export_jcehb_int_onnx, run_jcehb_int_onnx
from hbf_edge.families.jcehb.config import pilot_noise_seeded
from hbf_edge.families.jcehb.formats import JcehbFormats
from hbf_edge.families.jcehb.system import jcehb_channels
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, load_jcehb_hw

from helpers import JCEHB_NARROW as NARROW, JCEHB_Z as Z, jcehb_quantized_dir as _quantized_dir

WRAP = JcehbFormats(accumulator=FixedPointFormat(14, 10, "half_even", False), heq=FixedPointFormat(8, 5, "floor"),
                    precoder=FixedPointFormat(6, 5, "floor", False), combiner=FixedPointFormat(6, 5, "half_even", False),
                    coef=FixedPointFormat(10, 7, "floor"), received=FixedPointFormat(8, 6, "half_even", False))


def _run(tmp_path, inverse, formats, B=7, nu=0.1, seed=5):
    hw = load_jcehb_hw(_quantized_dir(tmp_path / "q", inverse, formats=formats))
    H = jcehb_channels(B, Z, seed=seed)
    got = jcehb_forward_hw(hw, H, pilot_noise_seeded(B, Z.n_users, Z.n_rx, 5, seed + 4), nu)
    return hw, got, int(hw.formats.accumulator.quantize(np.array([nu]))[0][0])


@pytest.mark.parametrize("inverse,formats", [("exact", None), ("paper", None), ("exact", NARROW), ("paper", NARROW),
                                             ("exact", WRAP), ("paper", WRAP)])
def test_the_int_module_equals_the_integer_kernel(tmp_path, inverse, formats):
    hw, got, nu_word = _run(tmp_path, inverse, formats)
    with torch.no_grad():
        out = JcehbSlotInt(hw)(torch.from_numpy(got.Y[..., 0]), torch.from_numpy(got.Y[..., 1]),
                               torch.full((got.Y.shape[0],), nu_word))
    F = np.stack([out[0].numpy(), out[1].numpy()], -1)
    W = np.stack([out[2].numpy(), out[3].numpy()], -1)
    np.testing.assert_array_equal(F, got.F_bb)
    np.testing.assert_array_equal(W, got.W_bb)
    assert np.abs(got.F_bb).max() > 4 and np.abs(got.W_bb).max() > 4  # words, not zeros
    if formats is not None:  # the datapath did overflow, saturating or wrapping, and the module followed it
        assert sum(v for k, v in got.counters.items() if k != "input") > 50, got.counters


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
