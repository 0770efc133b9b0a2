"""ONNX export of MSER's integer datapath: ``model.int.onnx``, the quantized network of a bundle.

The graph is the trace of :class:`quant.mser.datapath.MserInt`, the quant stage's torch model of
the integer datapath (the L layers, the rounding to codes, the refit layers), bit-exact with the
kernel: int64 standard operators, no control flow.  So it equals the integer kernel code for
code and word for word (tests; every bundle checks it in onnxruntime on its own designs).

Inputs (int64, batch first): what the host gives the datapath -- the channel words ``h_re,
h_im [B, K, N_r, N_t]`` (``H / sigma_n``), the start ``theta_f [B, N_t, R_t]``, ``theta_u [B, K,
R_r, N_r]`` (angle words), ``v_re, v_im [B, R_t, D]`` (``precoder``), ``w_re, w_im [B, K, R_r,
D_k]`` (``combiner``) -- and the step factor ``g [B]`` (``step``).  Outputs: the codes ``codes_f
[B, N_t, R_t]`` (Q_BS bits) and ``codes_u [B, K, R_r, N_r]`` (Q_UE bits) and the words
``v_re_out, v_im_out``, ``w_re_out, w_im_out`` (int32).  Every constant of the network (steps,
offsets, widths, the symbol ROM, the tables) is inside.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hbf_edge import __version__
from hbf_edge.export._core.intgraph import export_int_graph
from hbf_edge.quant.mser.datapath import MSER_INT_INPUTS, MserInt

__all__ = ["export_mser_int_onnx", "write_mser_int_graph", "run_mser_int_onnx", "MSER_INT_INPUTS", "MSER_INT_OUTPUTS"]

MSER_INT_OUTPUTS = ["codes_f", "codes_u", "v_re_out", "v_im_out", "w_re_out", "w_im_out"]


def export_mser_int_onnx(hw: Any, config: Any, path: str | os.PathLike) -> Path:
    """Write the integer datapath of ``hw`` (:func:`kernels.mser.hardware.pack_hw`) as ``path``
    (module notes), with metadata."""
    graph = MserInt(hw)
    Nt, Rt, K, Nr, Rr, Dk = hw.model.sizes
    gen = torch.Generator().manual_seed(0)
    rnd = lambda *shape: torch.randint(-1000, 1000, (2, *shape), generator=gen, dtype=torch.int64)  # noqa: E731
    example = (rnd(K, Nr, Nt), rnd(K, Nr, Nt), rnd(Nt, Rt), rnd(Rt, K * Dk), rnd(Rt, K * Dk), rnd(K, Rr, Nr),
               rnd(K, Rr, Dk), rnd(K, Rr, Dk), torch.full((2,), 1 << graph.fS, dtype=torch.int64))
    meta = {"family": config.family, "sizes": f"N_t={Nt},R_t={Rt},K={K},N_r={Nr},R_r={Rr},D_k={Dk}",
            "layers": str(graph.L), "refit_layers": str(graph.refit), "phase_bits_bs": str(hw.q_bs),
            "phase_bits_ue": str(hw.q_ue), "angle_bits": str(graph.abits), "package_version": __version__,
            "formats": ",".join(f"{n}={fmt.word_bits}.{fmt.frac_bits}" for n, fmt in graph.f.items()),
            "layout": "inputs h_re,h_im [B,K,N_r,N_t] (channel words of H/sigma), theta_f [B,N_t,R_t], theta_u "
                      "[B,K,R_r,N_r] (angle words), v_re,v_im [B,R_t,D] (precoder), w_re,w_im [B,K,R_r,D_k] "
                      "(combiner), g [B] (step), int64; outputs codes_f, codes_u, v_re_out, v_im_out, w_re_out, w_im_out, int32"}
    return export_int_graph(graph, example, path, MSER_INT_INPUTS, MSER_INT_OUTPUTS, meta)


def write_mser_int_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.int.onnx`` of a quantized MSER model directory into the folder ``out``."""
    from hbf_edge.kernels.mser.hardware import load_mser_hw
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    return export_mser_int_onnx(load_mser_hw(model_dir), config, Path(out) / "model.int.onnx")


def run_mser_int_onnx(path: str | os.PathLike, words: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``model.int.onnx`` in onnxruntime on the input words ``words`` (keys
    ``MSER_INT_INPUTS``): the codes (``F_codes``, ``U_codes``) and the words (``V``, ``W``,
    ``(re, im)`` last), int64, in the hardware kernel's layout."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(MSER_INT_OUTPUTS, {k: np.ascontiguousarray(words[k], dtype=np.int64) for k in MSER_INT_INPUTS})
    cf, cu, vr, vi, wr, wi = (o.astype(np.int64) for o in out)
    return {"F_codes": cf, "U_codes": cu, "V": np.stack([vr, vi], -1), "W": np.stack([wr, wi], -1)}
