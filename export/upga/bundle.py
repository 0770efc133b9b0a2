"""The parts of a UPGA bundle: tables, beams (the hardware kernel's designs), both ONNX graphs
(the float one and the quantized one checked against the kernel on the beam channels) and the C
datapath (checked the same way when a C compiler is present).

On two cores or more the quantized graphs are built by a second process from the start
(:mod:`export._core.side`), while this one designs the beams and writes the rest."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.export._core.bundle import BundleError
from hbf_edge.export._core.cfiles import c_header, mem_files
from hbf_edge.export._core.cmodel import c_writer
from hbf_edge.export._core.tables import build_tables
from hbf_edge.export.upga.c_model import upga_c_files
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.units import snr_db_to_power

__all__ = ["upga_parts", "design_beams", "quantized_graphs_aside"]


def upga_parts(model_dir: str | os.PathLike, config: ModelConfig, arrays: dict[str, np.ndarray], H: np.ndarray,
               snr_db: float, noise: float) -> tuple[dict[str, str], dict[str, np.ndarray], list, Any]:
    """Texts, beams, ONNX writers and layer 0's hardware spec of a quantized UPGA bundle."""
    from hbf_edge.export._core.side import SidePart
    from hbf_edge.export.upga.onnx_run import KINDS, QUANT_WRITER
    from hbf_edge.hw.precision import PrecisionConfig

    layer_specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    graphs = SidePart("the quantized ONNX graphs", [f"model.{kind}.onnx" for kind in KINDS], QUANT_WRITER, model_dir,
                      quantized_graphs_aside())  # started first: it is the longest part
    try:
        tables = build_tables(config, layer_specs, arrays)
        texts = {"lut.json": json.dumps(tables, indent=1) + "\n", "lut.h": c_header(tables), **mem_files(tables),
                 **upga_c_files(tables)}
        beams = design_beams(config, arrays, H, snr_db, noise)
    except BaseException:
        graphs.close()
        raise
    graphs.check = lambda tmp: _check_quant_onnx(config, arrays, tmp, beams)
    writers = [_c_writer(config, arrays, beams), ("the float ONNX graph",
                                                  SidePart("the float ONNX graph", ["model.onnx"],
                                                           "hbf_edge.export.upga.onnx_float:write_float_graph",
                                                           model_dir, False)),
               (f"the quantized ONNX graphs, checked in onnxruntime against the kernel on {H.shape[0]} beams", graphs)]
    return texts, beams, writers, layer_specs[0]


def quantized_graphs_aside() -> bool:
    """Whether a second process builds the quantized graphs (:mod:`export._core.side`): when the
    thread policy allows two cores and this process has not imported Brevitas (a fresh ``hbf-edge
    export``: the second process pays the imports, about 3 s, and the trace, about 5 s, while
    this one designs the beams and writes the rest).  A process that holds Brevitas already (the
    demo after its QAT stage, a Python session) traces them itself; giving the float graph to a
    second process there instead saved nothing in the quick demo (README, "Export: a
    four-operation ``Quant`` function")."""
    from hbf_edge._process import side_cores

    return side_cores() >= 2 and "brevitas" not in sys.modules


def design_beams(config: ModelConfig, arrays: dict[str, np.ndarray], H: np.ndarray, snr_db: float,
                 noise: float) -> dict[str, np.ndarray]:
    """``beams.npz``: the channels, their powers at ``snr_db``, and the hardware kernel's codes,
    W words and overflow counters."""
    from hbf_edge.families.upga.hardware import hardware_design

    B = H.shape[0]
    p_t = np.full(B, float(snr_db_to_power(snr_db, noise)))
    n = np.full(B, float(noise))
    res = hardware_design((config, arrays), H, p_t, n)
    return {
        "H": H.astype(np.complex128),
        "p_t": p_t,
        "noise": n,
        "codes": res.codes.astype(np.int32),
        "w_re": res.w_re.astype(np.int32),
        "w_im": res.w_im.astype(np.int32),
        "w_word_bits": np.array(res.w_format.word_bits),
        "w_frac_bits": np.array(res.w_format.frac_bits),
        "phase_bits": np.array(res.phase_bits),
        "overflows": res.total_overflows.astype(np.int64),
        # per site, in the order of families.upga.config.COUNTER_SITES ("input" first)
        "counters": res.counter_table,
    }


def _c_writer(config: ModelConfig, arrays: dict[str, np.ndarray], beams: dict[str, np.ndarray]) -> tuple:
    """The C datapath's test vectors and check (:func:`export._core.cmodel.c_writer`)."""
    from hbf_edge.export.upga.c_model import upga_input_words

    return c_writer(lambda: upga_input_words(config, arrays, beams), beams)


def _check_quant_onnx(config: ModelConfig, arrays: dict[str, np.ndarray], tmp: Path,
                      beams: dict[str, np.ndarray]) -> dict[str, Any]:
    """Check ``model.qcdq.onnx`` in onnxruntime against the kernel's beams.

    The graphs stop before the code search (a data-dependent loop of evaluations, see
    ``kernels/upga/_search.py``): with a search, the kernel's search run on the graph's codes
    must give the beams."""
    from hbf_edge.export.upga.onnx_run import run_quant_onnx

    codes, w_re, w_im = run_quant_onnx(tmp / "model.qcdq.onnx", beams["H"], beams["p_t"], beams["noise"])
    if config.code_search is not None:
        codes, w_re, w_im = _searched(config, arrays, beams, codes, w_re, w_im)
    bad = {"codes": int(np.count_nonzero(codes != beams["codes"])),
           "W words": int(np.count_nonzero((w_re != beams["w_re"]) | (w_im != beams["w_im"])))}
    if any(bad.values()):
        raise BundleError(f"model.qcdq.onnx disagrees with the hardware kernel on the beam channels: "
                          f"{bad['codes']} codes and {bad['W words']} W words differ")
    return {"model.qcdq.onnx": {"runtime": "onnxruntime", "channels": int(codes.shape[0]),
                                "equals": "beams.npz codes and W words (hardware kernel)"
                                + (", after the kernel's code search" if config.code_search is not None else "")}}


def _searched(config: ModelConfig, arrays: dict[str, np.ndarray], beams: dict[str, np.ndarray], codes: np.ndarray,
              w_re: np.ndarray, w_im: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's code search and output stage run on the graph's codes."""
    from hbf_edge.hw.precision import PrecisionConfig
    from hbf_edge.kernels.upga.hardware import COUNTER_SITES, model_search, prepare_hw_inputs, run_search

    H = beams["H"]
    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
                          arrays["mu"], arrays["lam"], specs[0], specs, xi=config.output_xi)
    codes = np.ascontiguousarray(codes, np.int64)
    w_re, w_im = np.ascontiguousarray(w_re, np.int64), np.ascontiguousarray(w_im, np.int64)
    run_search(x, model_search(config), codes, w_re, w_im, np.zeros((H.shape[0], len(COUNTER_SITES) - 1), np.int64))
    return codes, w_re, w_im
