"""ONNX export of the float unfolded network (initialisation and all layers, real arithmetic).

The graph takes ``h_re, h_im [B, N, K]`` (float32, dynamic batch), ``p_t [B]`` and
``noise [B]`` and returns ``f_re, f_im [B, N, M]`` and ``w_re, w_im [B, M, K]``.  The
initialisation's small inverses (eq. 13) are unrolled Gauss-Jordan steps
(:func:`hbf_edge.cplx.inv`), so the whole network is one standard opset-17 graph; no custom
operator and no pre-processing step are needed.  Inputs are not validated inside the graph:
the runtime must reject NaN/zero channels and non-positive powers as ``kernels/`` does.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from hbf_edge import __version__
from hbf_edge.export._core.onnx_meta import save_with_metadata
from hbf_edge.export._core.trace import lean_export
from hbf_edge.modelfiles import ModelConfig

__all__ = ["export_float_onnx", "write_float_graph", "OPSET", "INPUTS", "OUTPUTS"]

OPSET = 17
INPUTS = ["h_re", "h_im", "p_t", "noise"]
OUTPUTS = ["f_re", "f_im", "w_re", "w_im"]


def export_float_onnx(model: torch.nn.Module, config: ModelConfig, path: str | os.PathLike,
                      phase_bits: int | None = None) -> Path:
    """Trace ``model`` (UPGA or UPGANet: the same inputs and outputs) in float32 to ``path``, add
    metadata, and check the result with onnx.

    Metadata properties: family, N, M, K, I, J, phase_bits (of the quantized model the steps
    come from, or "none"), package version, the input/output layout.
    """
    spec = config.spec
    B = 2
    example = (
        torch.zeros(B, spec.n_antennas, spec.n_users, dtype=torch.float32) + 0.1,
        torch.zeros(B, spec.n_antennas, spec.n_users, dtype=torch.float32) + 0.05,
        torch.ones(B, dtype=torch.float32),
        torch.ones(B, dtype=torch.float32),
    )
    path = Path(path)
    dynamic = {name: {0: "batch"} for name in INPUTS + OUTPUTS}
    with warnings.catch_warnings(), lean_export():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, example, str(path), input_names=INPUTS, output_names=OUTPUTS,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(path))
    meta = {
        "family": config.family,
        "N": spec.n_antennas, "M": spec.n_rf, "K": spec.n_users,
        "I": config.n_layers, "J": config.n_inner,
        "phase_bits": "none" if phase_bits is None else phase_bits,
        "package_version": __version__,
        "layout": "inputs h_re,h_im [B,N,K], p_t,noise [B]; outputs f_re,f_im [B,N,M], w_re,w_im [B,M,K]",
    }
    return save_with_metadata(proto, path, meta)


def write_float_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.onnx`` of a quantized UPGA model directory into ``out``: the float network with its
    trained steps, the metadata naming the last layer's phase bits (a bundle's float graph)."""
    from hbf_edge.families.upga.model import UPGA
    from hbf_edge.hw.precision import PrecisionConfig
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    model = UPGA(config.n_layers, config.n_inner, config.spec.n_rf)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return export_float_onnx(model, config, Path(out) / "model.onnx", phase_bits=specs[-1].phase_bits)


def run_onnx(path: str | os.PathLike, h: np.ndarray, p_t: np.ndarray, noise: np.ndarray) -> list[np.ndarray]:
    """Run an exported ``model.onnx`` in onnxruntime on complex channels ``h [B, N, K]``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"h_re": h.real.astype(np.float32), "h_im": h.imag.astype(np.float32),
            "p_t": p_t.astype(np.float32), "noise": noise.astype(np.float32)}
    return sess.run(OUTPUTS, feed)
