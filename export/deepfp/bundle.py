"""Export of a DeepFP model directory (``deepfp.txt``): the whole network as ONNX, its 8-bit DNNs
as Brevitas QCDQ ONNX, and the designs, in a verified bundle.

Files (``manifest.json`` holds the sha256 of each, as for the PGA-family bundles):

``model.onnx``
    The whole network in real arithmetic, float32, opset 17: ``h_re, h_im [B, L, K, L, N_r,
    N_t]`` and the start ``v0_re, v0_im [B, L, K, N_t, d]`` -> ``v_re, v_im``.  The small
    ``N_r x N_r`` inverses are unrolled Gauss-Jordan steps (:func:`hbf_edge.cplx.inv`), so no
    custom operator is needed.  For a quantized model the graph carries the 8-bit DNNs and the
    fixed-point V as traced quantize-round-clip-dequantize steps.  Checked in onnxruntime
    against the float64 torch network by the mean WSR and the largest entry difference.
``dnn.qcdq.onnx`` (quantized models)
    Every layer's DNN through Brevitas' QCDQ export (:func:`quant.deepfp.qat.export_stepnets_qcdq`),
    checked equal to the torch DNNs on the inputs they see on the export channels.
``deepfp.json``
    Sizes, network, quantization settings and the input/output layout.
``beams.npz``
    ``h_re, h_im``, ``v0_re, v0_im`` (the seeded start) and the torch network's ``v_re, v_im``
    and ``wsr`` on the export channels.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from hbf_edge.cplx import C
from hbf_edge.families.deepfp.model import DeepFP, to_c, wsr_t
from hbf_edge.families.deepfp.wsr import check_problem, random_init
from hbf_edge.quant.deepfp.qat import QuantDeepFP, StepNets, dnn_inputs, export_stepnets_qcdq, load_deepfp

from hbf_edge.export._core import graph_cache
from hbf_edge.export._core.bundle import BundleError, _write
from hbf_edge.export._core.trace import lean_export

__all__ = ["write_deepfp_bundle", "export_deepfp_onnx", "DEEPFP_INPUTS", "DEEPFP_OUTPUTS"]

DEEPFP_INPUTS = ["h_re", "h_im", "v0_re", "v0_im"]
DEEPFP_OUTPUTS = ["v_re", "v_im"]


class _Graph(nn.Module):
    def __init__(self, model: DeepFP) -> None:
        super().__init__()
        self.model = model

    def forward(self, h_re: torch.Tensor, h_im: torch.Tensor, v_re: torch.Tensor, v_im: torch.Tensor):
        V, _ = self.model(C(h_re, h_im), C(v_re, v_im))
        return V.re, V.im


def _session(path: Path, optimized: bool = True) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # Brevitas keeps biases as graph inputs; onnxruntime warns about each
    if not optimized:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts)


def export_deepfp_onnx(model: DeepFP, path: str | os.PathLike, H: np.ndarray, V0: np.ndarray,
                       model_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Trace the whole network in float32 to ``path`` and check it in onnxruntime on ``H``.

    With ``model_dir`` (the directory ``model`` was read from) the graph is taken from the graph
    cache (:mod:`export._core.graph_cache`) when it holds one of this model for these problem
    sizes, and kept there after its check passed; the check runs either way.  The trace depends
    on the model and on the sizes of ``H`` and ``V0`` after the batch (it pads them to the
    network's), not on their values or the batch: three exports of one model on other channels,
    counts and seeds wrote the same bytes (2026-12-07; 2.5 MB, 17.5-18.4 s a whole export of the
    paper's 7-cell network on a 2-core Zen 3 EPYC)."""
    path = Path(path)
    h, v = to_c(H, torch.float32), to_c(V0, torch.float32)
    sizes = f"{list(H.shape[1:])}{list(V0.shape[1:])}"
    key = None if model_dir is None else graph_cache.graph_key(f"{__name__}:export_deepfp_onnx{sizes}", model_dir)
    cached = key is not None and graph_cache.fetch(key, [path.name], path.parent)
    if not cached:
        graph = _Graph(model.to(torch.float32)).eval()
        with warnings.catch_warnings(), lean_export():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (h.re, h.im, v.re, v.im), str(path), input_names=DEEPFP_INPUTS,
                              output_names=DEEPFP_OUTPUTS, opset_version=17, dynamo=False,
                              dynamic_axes={k: {0: "B"} for k in DEEPFP_INPUTS + DEEPFP_OUTPUTS})
        model.to(torch.float64)
    out = _session(path).run(None, dict(zip(DEEPFP_INPUTS, (h.re.numpy(), h.im.numpy(), v.re.numpy(), v.im.numpy()))))
    V_onnx = C(torch.from_numpy(out[0]).double(), torch.from_numpy(out[1]).double())
    with torch.no_grad():
        V_ref, _ = model(to_c(H), to_c(V0))
        w_onnx, w_ref = wsr_t(to_c(H), V_onnx).mean().item(), wsr_t(to_c(H), V_ref).mean().item()
    diff = float(max((V_onnx.re - V_ref.re).abs().max(), (V_onnx.im - V_ref.im).abs().max()))
    if not abs(w_onnx / w_ref - 1) < 1e-3:
        raise BundleError(f"model.onnx drifts from the torch network: mean WSR {w_onnx:.5f} vs {w_ref:.5f}")
    if key is not None and not cached:
        graph_cache.store(key, [path.name], path.parent)
    return {"model.onnx": {"mean_wsr_onnx": w_onnx, "mean_wsr_torch": w_ref, "max_abs_v_diff": diff}}


def _check_qcdq(qmodel: QuantDeepFP, path: Path, H: np.ndarray, V0: np.ndarray) -> dict[str, Any]:
    """Run the QCDQ graph on the inputs every DNN sees on ``H`` and compare with torch."""
    try:
        inputs = dnn_inputs(qmodel.to(torch.float32), to_c(H, torch.float32), to_c(V0, torch.float32))
        x_re = torch.stack([x.re for x in inputs]).reshape(qmodel.n_layers, -1, inputs[0].re.shape[-1])
        x_im = torch.stack([x.im for x in inputs]).reshape(qmodel.n_layers, -1, inputs[0].re.shape[-1])
        with torch.no_grad():
            ref = StepNets(qmodel.steps)(x_re, x_im).numpy()
    finally:
        qmodel.to(torch.float64)
    feed = {"x_re": x_re.numpy(), "x_im": x_im.numpy()}
    # the graph's own semantics (every QuantizeLinear / DequantizeLinear as written) must be the
    # torch DNNs'; onnxruntime's default optimisations fuse the pairs into integer kernels that
    # requantize their own way: on a 2-core AVX2 EPYC 1 of 112 outputs moved by one output step
    # (2026-12-05), where an AVX-512 host had none.  That run is recorded, not required.
    got = _session(path, optimized=False).run(None, feed)[0]
    equal = float(np.mean(got == ref))
    if equal < 0.999:
        raise BundleError(f"dnn.qcdq.onnx agrees with the torch DNNs on only {equal:.2%} of outputs")
    fused = _session(path).run(None, feed)[0]
    return {"dnn.qcdq.onnx": {"outputs_equal": equal, "max_abs_diff": float(np.abs(got - ref).max()),
                              "outputs_equal_optimized": float(np.mean(fused == ref)),
                              "max_abs_diff_optimized": float(np.abs(fused - ref).max()),
                              "n_inputs": int(x_re.shape[0] * x_re.shape[1])}}


def write_qcdq_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``dnn.qcdq.onnx`` of a quantized DeepFP model directory into the folder ``out`` (the
    bundle's :class:`export._core.side.SidePart` writer: the graph depends on the model only, its
    input being the DNNs' stacked features with a dynamic batch, so the graph cache keys it on
    the model directory)."""
    return export_stepnets_qcdq(load_deepfp(model_dir)[0], Path(out) / "dnn.qcdq.onnx")


def write_deepfp_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, seed: int = 2026,
                        overwrite: bool = False) -> Path:
    """Export a DeepFP model directory (float or quantized) with its designs on channels ``H``."""
    model, config = load_deepfp(model_dir)
    H, _, _ = check_problem(H)
    B, L, K, _, _, Nt = H.shape
    V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
    with torch.no_grad():
        V, _ = model.to(torch.float64)(to_c(H), to_c(V0))
        wsr = wsr_t(to_c(H), V).numpy()
    beams = {"h_re": H.real, "h_im": H.imag, "v0_re": V0.real, "v0_im": V0.imag, "v_re": V.re.numpy(),
             "v_im": V.im.numpy(), "wsr": wsr}
    info = {"family": "deepfp", "n_layers": model.n_layers, "n_tx": model.n_tx, "n_streams": model.n_streams,
            "hidden": model.hidden, "n_hidden": model.n_hidden, "network": config.family_config["network"],
            "quantization": config.quantization, "inputs": DEEPFP_INPUTS, "outputs": DEEPFP_OUTPUTS,
            "layout": "h [B, L, K, L, N_r, N_t] (h[b, l, k, i]: BS i to user (l, k)), v [B, L, K, N_t, d]; "
                      "unit noise and unit power budget per BS", "seed": seed}
    writers: list = [("the whole-network ONNX graph",
                      lambda tmp: export_deepfp_onnx(model, tmp / "model.onnx", H, V0, model_dir))]
    if isinstance(model, QuantDeepFP):
        from hbf_edge.export._core.side import SidePart

        writers.append(("the 8-bit DNN graph (QCDQ), checked against torch",
                        SidePart("the 8-bit DNN graph", ["dnn.qcdq.onnx"], f"{__name__}:write_qcdq_graph", model_dir,
                                 check=lambda tmp: _check_qcdq(model, tmp / "dnn.qcdq.onnx", H, V0))))
    return _write(out, overwrite, {"deepfp.json": json.dumps(info, indent=2) + "\n"}, beams, writers,
                  {"family": "deepfp", "scoring": "weighted_sum_rate", "model_dir": str(model_dir)})
