"""UPGA's part of the C hand-off (:mod:`export._core.cmodel`): the datapath of
:mod:`kernels.upga._fixed` and :mod:`kernels.upga._search` (``c_src/datapath.c``,
``c_src/design.c``), its constants (the output stage's word, the code search's settings and log2
table) and its input words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.families.upga.config import COUNTER_SITES

from hbf_edge.export._core.cmodel import CDatapath, c_array, c_sources, input_words

__all__ = ["DATAPATH_SITES", "upga_datapath", "upga_c_files", "upga_input_words"]

# counter sites of the integer datapath, in counters[] order: the family's sites but "input"
# (the quantisation at the float/integer boundary happens on the host)
DATAPATH_SITES = COUNTER_SITES[1:]
SCALARS = ("scalars[0]: the noise s2 N / P_t, accumulator format (>= 1)",
           "lam: scalars[1 + i], lambda_i N / P_t, step format, one per layer (lut.json steps.lam: lambda_i)")


def upga_datapath(tables: dict[str, Any]) -> CDatapath:
    """The UPGA datapath of a model's ``lut.json`` tables."""
    out = tables["output_stage"]
    search = None if out is None else out.get("code_search")
    xi = -1 if out is None else out["xi_k_over_n"]
    lines = [f"#define HBF_OUTPUT_XI {xi}  /* xi K / N, step format; -1: none */",
             f"#define HBF_SEARCH_SWEEPS {0 if search is None else search['sweeps']}",
             f"#define HBF_SEARCH_SPAN {0 if search is None else search['span']}"]
    if search is not None:
        lines += [f"#define HBF_LOG_INDEX_BITS {search['log_index_bits']}",
                  f"#define HBF_LOG_FRAC_BITS {search['log_frac_bits']}",
                  "/* i -> round(log2(1 + i / 2^HBF_LOG_INDEX_BITS) 2^HBF_LOG_FRAC_BITS) */",
                  f"static const int32_t hbf_log2_table[{len(search['log2_table'])}] = "
                  f"{c_array(search['log2_table'])};"]
    return CDatapath(
        title="a quantized UPGA model",
        sources=(("hbf_edge.export.upga", "datapath.c"), ("hbf_edge.export.upga", "design.c")),
        sites=DATAPATH_SITES, scalars=SCALARS, constants="\n".join(lines) + "\n",
        description=("hbf_design() is the bit-accurate hardware kernel (kernels/upga/_fixed.py) for one channel:",
                     "the initialisation (eq. 12-13), HBF_LAYERS layers of eq. (6)-(9) and, if the model has",
                     "them, the code search and the output stage.  Integer arithmetic only; no allocation."))


def upga_c_files(tables: dict[str, Any]) -> dict[str, str]:
    """``hbf_model.h``, ``hbf_model.c`` and ``hbf_check.c`` of a UPGA model's tables."""
    return c_sources(tables, upga_datapath(tables))


def upga_input_words(config: Any, arrays: dict[str, np.ndarray], beams: dict[str, np.ndarray]) -> np.ndarray:
    """``[B, 2NK + 1 + I]``: the channel, noise and W-step words of
    :func:`kernels.upga.hardware.prepare_hw_inputs` (the kernel's own float/integer boundary)."""
    from hbf_edge.kernels.upga.hardware import prepare_hw_inputs
    from hbf_edge.profiling import hardware_layers

    specs = hardware_layers(config)
    H = beams["H"]
    return input_words(prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"],
                                         beams["noise"], arrays["mu"], arrays["lam"], specs[0], specs,
                                         xi=config.output_xi))
