"""ONNX export of the quantized network: the hardware datapath of :class:`quant.QuantUPGA`.

Both graphs take ``h_re, h_im [B, N, K]``, ``p_t [B]`` and ``noise [B]`` in float64 (dynamic
batch) and return what the hardware holds after the last layer: the phase ``codes [B, N, M]``
and the digital precoder's words ``w_re, w_im [B, M, K]`` in the last layer's precoder format
(int32, power-normalised as in ``kernels.upga_forward_hw``: ``W = sqrt(P_t / N) w 2**-f``).

Two representations of the same datapath, from one Brevitas QONNX export:

``model.qonnx.onnx`` (QONNX)
    Every stored value is a QONNX ``Quant`` node (domain ``qonnx.custom_op.general``) with its
    format's bit width, a power-of-two scale, signed, and the rounding mode.  Any word length
    (the 24- and 32-bit intermediates included) and the half-up rule (``floor(x + 1/2)``,
    written as ``x + lsb/2`` into a ``FLOOR`` quant, since QONNX's ``HALF_UP`` rounds ties away
    from zero) are exact.  It is for QONNX tool chains (FINN, hls4ml); onnxruntime has no
    ``Quant`` kernel, and the ``qonnx`` 1.0 executor returns ``Quant`` outputs in float32, which
    cannot hold the 24- and 32-bit words.  Lowered to standard operators, it is the QCDQ graph
    below, which onnxruntime runs.
``model.qcdq.onnx`` (quantize, clip, dequantize in standard operators)
    The same graph with every ``Quant`` node replaced by its definition in the QONNX
    specification, in standard float64 operators: ``Div`` by the scale, the rounding (``Round`` =
    half to even, or ``Floor``; half up is the ``Floor`` of ``x + lsb/2``), ``Clip`` to the word's
    integer range, ``Mul`` by the scale.  ONNX's own ``QuantizeLinear`` cannot carry these sites
    (float32 input only, round half to even only, words of at most 16 bits; Brevitas' QCDQ export
    allows 8), so the triple is written out.  Runs in onnxruntime, bit-exactly: the float64
    values are exact multiples of each LSB, as in the QAT model.

One torch trace gives both: the QCDQ graph is the QONNX graph lowered (:func:`lower_quant_nodes`).
Until 2026-12-03 each was traced on its own, and the trace is most of ``hbf-edge export``
(README, "Export, one trace": 44-54 s before, 26-29 s after on the demo's model).  The QCDQ
graph is checked against the hardware kernel at every export, so the lowering is too.

Both graphs use the integer-only steps of the datapath (reciprocals, ``isqrt``, Gauss-Jordan,
nearest code by table projection) as int64 standard operators.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

with warnings.catch_warnings():  # Brevitas' export imports its graph tools, which warn about an optional package
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    from brevitas.export.onnx.handler import ONNXBaseHandler
    from brevitas.export.onnx.qonnx.function import DOMAIN_STRING, BrevitasQuantTorchScriptFn
    from brevitas.export.onnx.qonnx.manager import QONNXManager

from hbf_edge import __version__
from hbf_edge.cplx import C
from hbf_edge.export._core.onnx_meta import save_with_metadata
from hbf_edge.export._core.trace import lean_export
from hbf_edge.export.upga.onnx_run import KINDS, QUANT_INPUTS, QUANT_OUTPUTS, run_quant_onnx
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.quant import FixedPointQuant, QuantUPGA

__all__ = ["export_quant_onnx", "export_quant_graphs", "write_quant_graphs", "lower_quant_nodes", "run_quant_onnx", "compare_quant_onnx", "QUANT_INPUTS", "QUANT_OUTPUTS", "QUANT_OPSET"]

QUANT_OPSET = 17
_QONNX_DOMAIN = DOMAIN_STRING  # "qonnx.custom_op.general"
_QONNX_ROUNDING = {"half_even": "ROUND", "floor": "FLOOR", "half_up": "FLOOR"}  # half_up: + lsb/2 first


class _HardwareGraph(nn.Module):
    """The quantized forward as a traceable module: codes and W words (int32)."""

    def __init__(self, qmodel: QuantUPGA) -> None:
        super().__init__()
        self.qmodel = qmodel
        self.w_scale = math.ldexp(1.0, qmodel.layer_specs[-1].precoder.frac_bits)

    def forward(self, h_re, h_im, p_t, noise):
        out = self.qmodel.run(C(h_re, h_im), p_t, noise)
        words = [torch.round(v * self.w_scale).to(torch.int32) for v in (out.W_hw.re, out.W_hw.im)]
        return out.codes.to(torch.int32), words[0], words[1]


class _FixedQuantFn(torch.autograd.Function):
    """One QONNX ``Quant`` node in the trace: Brevitas' :class:`BrevitasQuantTorchScriptFn`'s
    symbolic (the same node), with a forward of four operations.

    The trace runs a Function's forward to record it and then replaces it by the symbolic, so
    the forward only has to give the right values.  Brevitas' builds an ``IntQuant`` module per
    call: 1.9 of a 3.2 s trace of the quick demo's model (cProfile, Intel Xeon, 2026-12-05)."""

    symbolic = staticmethod(BrevitasQuantTorchScriptFn.symbolic)

    @staticmethod
    def forward(ctx, x, scale, zero_point, bit_width, narrow_range, signed, rounding_mode):
        q = torch.round(x / scale) if rounding_mode == "ROUND" else torch.floor(x / scale)
        half = torch.pow(torch.full_like(bit_width, 2.0), bit_width - 1)  # signed, full range: all the handler writes
        return torch.clamp(q, -half, half - 1) * scale


class FixedPointQONNXHandler(ONNXBaseHandler):
    """Brevitas export handler of :class:`quant.FixedPointQuant`: one QONNX ``Quant`` node."""

    handled_layer = FixedPointQuant

    def prepare_for_export(self, module: FixedPointQuant) -> None:
        fmt = module.fmt
        lsb = module.scale.detach()
        self.symbolic_kwargs = {
            "offset": lsb * 0.5 if fmt.rounding == "half_up" else None,
            "scale": lsb,
            "zero_point": torch.zeros_like(lsb),
            "bit_width": torch.tensor(float(fmt.word_bits), dtype=lsb.dtype),
            "rounding_mode": _QONNX_ROUNDING[fmt.rounding],
        }

    def symbolic_execution(self, x: torch.Tensor) -> torch.Tensor:
        kw = self.symbolic_kwargs
        if kw["offset"] is not None:
            x = x + kw["offset"]
        return _FixedQuantFn.apply(x, kw["scale"], kw["zero_point"], kw["bit_width"], False, True,
                                   kw["rounding_mode"])


class _QONNXManager(QONNXManager):
    """Brevitas' QONNX manager that also hands :class:`FixedPointQuant` sites their handler
    (its own handler lookup only visits Brevitas quant proxies, which these are not).

    Its two onnxoptimizer passes (constants to initializers, unused initializers out) took 11.6
    of a 35 s export of the demo's model; :func:`_constants_to_initializers` does the same in
    well under a second, so the manager's own pass is off."""

    run_onnx_passes = False

    @classmethod
    def set_export_handler(cls, module: nn.Module) -> None:
        super().set_export_handler(module)
        if isinstance(module, FixedPointQuant) and module.export_handler is None:
            module.export_handler = FixedPointQONNXHandler()

    @classmethod
    def set_export_mode(cls, model: nn.Module, enabled: bool) -> None:
        super().set_export_mode(model, enabled)
        for m in model.modules():
            if isinstance(m, FixedPointQuant):
                m.export_mode = enabled


def _constants_to_initializers(graph: onnx.GraphProto) -> None:
    """What Brevitas' QONNX export asks of onnxoptimizer (``extract_constant_to_initializer``,
    ``eliminate_unused_initializer``), in place: each ``Constant`` node holding a tensor becomes
    an initializer of its output's name, and initializers no node reads are dropped."""
    kept = []
    for node in graph.node:
        value = [a for a in node.attribute if a.name == "value"] if node.op_type == "Constant" else []
        if len(node.attribute) == 1 and value:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    _drop_unused_initializers(graph)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = _names_read(graph) | {o.name for o in graph.output}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name a node of ``graph`` or of its subgraphs (If / Loop bodies) reads."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                names |= _names_read(sub)
    return names


def _example(qmodel: QuantUPGA) -> tuple[torch.Tensor, ...]:
    spec = qmodel.spec
    g = torch.Generator().manual_seed(0)
    shape = (2, spec.n_antennas, spec.n_users)
    h = [torch.randn(shape, generator=g, dtype=torch.float64) * 0.3 for _ in range(2)]
    return h[0], h[1], torch.full((2,), 10.0, dtype=torch.float64), torch.ones(2, dtype=torch.float64)


def lower_quant_nodes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a QONNX graph (constants as initializers) with each ``Quant`` node replaced by
    its definition in the QONNX specification, in standard operators:
    ``y = clip(rnd(x / scale), lo, hi) * scale``, ``[lo, hi]`` the signed word's range.

    Only what :class:`FixedPointQONNXHandler` writes is accepted (zero point 0, signed, not
    narrow, ``ROUND`` or ``FLOOR``); anything else raises ``ValueError``."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    value = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes, bounds = [], {}
    for node in graph.node:
        if node.op_type != "Quant":
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x, scale, zero, bits = node.input
        rounding = attrs.get("rounding_mode", b"ROUND")
        rounding = {"ROUND": "Round", "FLOOR": "Floor"}.get(rounding.decode() if isinstance(rounding, bytes) else rounding)
        if (zero not in value or float(value[zero]) != 0.0 or bits not in value or attrs.get("signed", 1) != 1
                or attrs.get("narrow", 0) != 0 or rounding is None):
            raise ValueError(f"Quant node {node.name!r}: only signed, full-range, zero-point-0 ROUND/FLOOR "
                             "sites can be lowered")
        b = int(value[bits])
        if b not in bounds:
            bounds[b] = (f"quant_lo_{b}", f"quant_hi_{b}")
            graph.initializer.extend([numpy_helper.from_array(np.array(-(2.0 ** (b - 1))), bounds[b][0]),
                                      numpy_helper.from_array(np.array(2.0 ** (b - 1) - 1), bounds[b][1])])
        t = node.output[0]
        nodes += [helper.make_node("Div", [x, scale], [t + "_q"], name=node.name + "_div"),
                  helper.make_node(rounding, [t + "_q"], [t + "_r"], name=node.name + "_round"),
                  helper.make_node("Clip", [t + "_r", *bounds[b]], [t + "_c"], name=node.name + "_clip"),
                  helper.make_node("Mul", [t + "_c", scale], [t], name=node.name + "_mul")]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)
    standard = [o for o in out.opset_import if o.domain != _QONNX_DOMAIN]
    del out.opset_import[:]
    out.opset_import.extend(standard)
    return out


def export_quant_onnx(qmodel: QuantUPGA, config: ModelConfig, path: str | os.PathLike, kind: str) -> Path:
    """Write the quantized datapath as ONNX.

    Parameters
    ----------
    kind : {"qonnx", "qcdq"}
        ``qonnx``: Brevitas QONNX export (``Quant`` nodes); ``qcdq``: quantize-clip-dequantize
        triples in standard operators, for onnxruntime (see the module docstring).
    """
    return export_quant_graphs(qmodel, config, {kind: path})[kind]


def export_quant_graphs(qmodel: QuantUPGA, config: ModelConfig,
                        paths: dict[str, str | os.PathLike]) -> dict[str, Path]:
    """Write each representation of ``paths`` (keys in ``KINDS``) from one torch trace."""
    unknown = set(paths) - set(KINDS)
    if unknown:
        raise ValueError(f"kind must be 'qonnx' or 'qcdq', got {sorted(unknown)}")
    graph = _HardwareGraph(qmodel).eval()
    kwargs = {"input_names": QUANT_INPUTS, "output_names": QUANT_OUTPUTS,
              "dynamic_axes": {n: {0: "batch"} for n in QUANT_INPUTS + QUANT_OUTPUTS},
              "opset_version": QUANT_OPSET, "dynamo": False}
    with warnings.catch_warnings(), torch.no_grad(), lean_export():
        warnings.simplefilter("ignore")  # tracer warnings on the (constant) input checks
        qonnx = _QONNXManager.export(graph, args=_example(qmodel), keep_initializers_as_inputs=False, **kwargs)
    _constants_to_initializers(qonnx.graph)
    specs = qmodel.layer_specs
    meta = {
        "family": config.family,
        "N": qmodel.spec.n_antennas, "M": qmodel.spec.n_rf, "K": qmodel.spec.n_users,
        "I": qmodel.n_layers, "J": qmodel.n_inner,
        "phase_bits": ",".join(str(s.phase_bits) for s in specs),
        "w_format": f"{specs[-1].precoder.word_bits}.{specs[-1].precoder.frac_bits}",
        "package_version": __version__,
        "layout": "inputs h_re,h_im [B,N,K], p_t,noise [B] (float64); outputs codes [B,N,M], "
                  "w_re,w_im [B,M,K] (int32 words, W = sqrt(p_t/N) w 2^-frac)",
    }
    written = {}
    for kind, path in paths.items():
        proto = qonnx if kind == "qonnx" else lower_quant_nodes(qonnx)
        # QONNX ops have no ONNX schema: the full check (shape inference) is for the standard graph
        written[kind] = save_with_metadata(proto, path, {**meta, "representation": kind}, full_check=kind == "qcdq")
    return written


def write_quant_graphs(model_dir: str | os.PathLike, out: str | os.PathLike) -> None:
    """``model.qonnx.onnx`` and ``model.qcdq.onnx`` of a quantized model directory into ``out``."""
    from hbf_edge.quant import load_quantized

    qmodel, config, _ = load_quantized(model_dir)
    export_quant_graphs(qmodel, config, {kind: Path(out) / f"model.{kind}.onnx" for kind in KINDS})


def compare_quant_onnx(model_dir: str | os.PathLike, bundle: str | os.PathLike, count: int = 1000,
                       seed: int = 2026) -> dict:
    """Agreement and time of a bundle's ``model.qcdq.onnx`` (onnxruntime) against the QAT model
    of ``model_dir`` and the hardware kernel, on ``count`` fresh channels at SNRs drawn
    uniformly from -10..20 dB (sigma^2 = 1).  Returns the fractions of equal codes and W words."""
    import time

    from hbf_edge import kernels
    from hbf_edge.channels import saleh_valenzuela_like
    from hbf_edge.quant import load_quantized
    from hbf_edge.quant.upga.evaluate import quantized_design

    from hbf_edge.export._core.bundle import read_bundle

    path = read_bundle(bundle).path / "model.qcdq.onnx"
    qmodel, config, precision = load_quantized(model_dir)
    specs = precision.layer_specs()
    N = config.spec.n_antennas
    H = saleh_valenzuela_like(config, count, seed)
    p_t = 10 ** (np.random.default_rng(seed).uniform(-10, 20, count) / 10)
    noise = np.ones(count)
    t0 = time.perf_counter()
    codes, w_re, w_im = run_quant_onnx(path, H, p_t, noise)
    t_ort = time.perf_counter() - t0
    t0 = time.perf_counter()
    q_codes, _, W = quantized_design(qmodel, H, p_t, noise)
    t_torch = time.perf_counter() - t0
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise,
                                 qmodel.mu.detach().numpy(), qmodel.lam.detach().numpy(), specs[0], specs,
                                 xi=qmodel.output_xi)
    graphs = {k: onnx.load(str(path.with_name(f"model.{k}.onnx"))).graph for k in ("qcdq", "qonnx")}
    w_q = W / np.sqrt(p_t / N)[:, None, None] * math.ldexp(1.0, specs[-1].precoder.frac_bits)
    same_w = lambda a_re, a_im: float(((w_re == a_re) & (w_im == a_im)).mean())  # noqa: E731
    return {
        "channels": count, "seed": seed, "N": N, "I": qmodel.n_layers, "phase_bits": [s.phase_bits for s in specs],
        "codes_equal_qat_model": float((codes == q_codes).mean()),
        "codes_equal_kernel": float((codes == hw.codes).mean()),
        "w_words_equal_qat_model": same_w(np.round(w_q.real), np.round(w_q.imag)),
        "w_words_equal_kernel": same_w(hw.w_re, hw.w_im),
        "seconds": {"onnxruntime": round(t_ort, 3), "torch_qat_model": round(t_torch, 3)},
        "nodes": {k: len(g.node) for k, g in graphs.items()},
        "qonnx_quant_nodes": sum(n.op_type == "Quant" for n in graphs["qonnx"].node),
    }
