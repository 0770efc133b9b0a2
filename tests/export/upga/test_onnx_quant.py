"""The quantized ONNX graphs: onnxruntime on model.qcdq.onnx and a reading of the QONNX spec on
model.qonnx.onnx give the QAT model's and the hardware kernel's codes and W words."""

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

from hbf_edge import kernels
from hbf_edge.export.upga.onnx_quant import (KINDS, QUANT_OUTPUTS, export_quant_graphs, export_quant_onnx,
                                           lower_quant_nodes, run_quant_onnx)
from hbf_edge import FixedPointFormat, HardwareSpec
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.quant import QuantUPGA
from hbf_edge.quant.upga.evaluate import quantized_design

STEPS = (np.array([[0.3], [0.1], [0.2]]), np.array([5e-3, 2e-3, 1e-2]))
# every rounding rule appears: half_up (channel, lut, step), half_even (gradient, W of the last
# layer), floor (accumulator, W of the first layers); per-layer phase bits
_BASE = HardwareSpec(16, 4, 4, 5, gradient=FixedPointFormat(24, 16, "half_even"),
                     accumulator=FixedPointFormat(32, 16, "floor"), precoder=FixedPointFormat(12, 10, "floor"))
XI = 0.8  # with the output stage
LAYERS = [_BASE, _BASE.replace(phase_bits=3), _BASE.replace(phase_bits=3, precoder=FixedPointFormat(10, 8, "half_even"))]


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    root = tmp_path_factory.mktemp("qonnx")
    q = QuantUPGA(LAYERS, 1, torch.from_numpy(STEPS[0]), torch.from_numpy(STEPS[1]), xi=XI)
    config = ModelConfig("upga", LAYERS[0], 3, 1)
    return q, export_quant_graphs(q, config, {k: root / f"model.{k}.onnx" for k in KINDS})


def _problem(B, seed):
    H = saleh_valenzuela_miso(B, 16, 4, seed=seed)
    return H, 10 ** (np.random.default_rng(seed).uniform(-10, 20, B) / 10), np.ones(B)


def test_qcdq_in_onnxruntime_equals_the_qat_model_and_the_kernel(graphs):
    q, paths = graphs
    H, p_t, noise = _problem(300, seed=11)
    codes, w_re, w_im = run_quant_onnx(paths["qcdq"], H, p_t, noise)
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS,
                                 LAYERS[0], LAYERS, xi=XI)
    q_codes, _, W = quantized_design(q, H, p_t, noise)
    assert codes.dtype == np.int32 and codes.shape == (300, 16, 4) and w_re.shape == (300, 4, 4)
    assert np.array_equal(codes, q_codes) and np.array_equal(codes, hw.codes)
    assert np.array_equal(w_re, hw.w_re) and np.array_equal(w_im, hw.w_im)
    w_q = W / np.sqrt(p_t / 16)[:, None, None] * 2.0**8
    assert np.array_equal(w_re, np.round(w_q.real)) and np.array_equal(w_im, np.round(w_q.imag))


def test_qcdq_is_a_standard_graph_with_metadata(graphs):
    _, paths = graphs
    proto = onnx.load(str(paths["qcdq"]))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain for o in proto.opset_import} == {""} and proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["representation"] == "qcdq" and meta["phase_bits"] == "5,3,3" and meta["w_format"] == "10.8"
    assert [o.name for o in proto.graph.output] == QUANT_OUTPUTS


def test_qonnx_has_a_quant_node_per_format_and_computes_the_same_datapath(graphs):
    q, paths = graphs
    proto = onnx.load(str(paths["qonnx"]))
    quant = [n for n in proto.graph.node if n.op_type == "Quant"]
    assert quant and all(n.domain == "qonnx.custom_op.general" for n in quant)
    assert {o.domain for o in proto.opset_import} >= {"", "qonnx.custom_op.general"}
    value = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    value.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in proto.graph.node if n.op_type == "Constant"})
    widths = {(int(value[n.input[3]]), float(value[n.input[1]])) for n in quant}
    fmts = {(f.word_bits, f.lsb) for s in LAYERS for f in (s.channel, s.precoder, s.gradient, s.step, s.accumulator)}
    assert widths == fmts  # every format, 10- to 32-bit words, as one Quant node each site
    # the shipped QCDQ graph is this graph lowered: same nodes but the Quant ones, which became
    # Div, Round/Floor, Clip, Mul; it runs in onnxruntime and gives the kernel's codes and words
    lowered = lower_quant_nodes(proto)
    assert not any(n.op_type == "Quant" for n in lowered.graph.node)
    assert len(lowered.graph.node) == len(proto.graph.node) + 3 * len(quant)
    qcdq = onnx.load(str(paths["qcdq"]))
    assert [n.op_type for n in qcdq.graph.node] == [n.op_type for n in lowered.graph.node]
    H, p_t, noise = _problem(120, seed=12)
    sess = ort.InferenceSession(lowered.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"h_re": np.ascontiguousarray(H.real), "h_im": np.ascontiguousarray(H.imag), "p_t": p_t, "noise": noise}
    codes, w_re, w_im = sess.run(QUANT_OUTPUTS, feed)
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *STEPS,
                                 LAYERS[0], LAYERS, xi=XI)
    assert np.array_equal(codes, hw.codes) and np.array_equal(w_re, hw.w_re) and np.array_equal(w_im, hw.w_im)
    assert np.array_equal(codes, quantized_design(q, H, p_t, noise)[0])


@pytest.mark.parametrize("change", ["narrow", "zero_point", "rounding"])
def test_lowering_refuses_a_quant_node_it_cannot_write(graphs, change):
    _, paths = graphs
    proto = onnx.load(str(paths["qonnx"]))
    node = next(n for n in proto.graph.node if n.op_type == "Quant")
    if change == "zero_point":
        zp = next(t for t in proto.graph.initializer if t.name == node.input[2])
        zp.CopyFrom(numpy_helper.from_array(np.array(1.0), zp.name))
    else:
        attr = next(a for a in node.attribute if a.name == {"narrow": "narrow", "rounding": "rounding_mode"}[change])
        attr.CopyFrom(helper.make_attribute(attr.name, 1 if change == "narrow" else "ROUND_TO_ZERO"))
    with pytest.raises(ValueError, match=re.escape(node.name)):
        lower_quant_nodes(proto)


def test_export_refuses_an_unknown_representation(graphs, tmp_path):
    q, _ = graphs
    with pytest.raises(ValueError, match="qonnx"):
        export_quant_onnx(q, ModelConfig("upga", LAYERS[0], 3, 1), tmp_path / "x.onnx", "qdq")
