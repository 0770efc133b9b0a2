"""UPGANet's part of the C hand-off (:mod:`export._core.cmodel`): the UPGA datapath
(``export/upga/c_src/datapath.c``) with the sensing term of :mod:`kernels.upganet._fixed`
(``c_src/design.c``), its constants (``Psi_n`` and the targets' steering codes, from
``lut.json``'s ``sensing``) and its input words (the per-channel sensing weights are scalars).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hbf_edge.families.upganet.config import COUNTER_SITES

from hbf_edge.export._core.cmodel import CDatapath, c_array, c_sources, input_words

__all__ = ["upganet_c_files", "upganet_input_words"]

SCALARS = ("scalars[0]: the noise s2 N / P_t, accumulator format (>= 1)",
           "lam: scalars[1 + i], lambda_i xi N / P_t (xi = 1 / ln 2), step format, one per layer",
           "scalars[1 + HBF_LAYERS]: kappa_F = 2 omega ln2 (P_t / N)^2, step format",
           "scalars[2 + HBF_LAYERS]: kappa_W = eta kappa_F, step format")


def upganet_c_files(tables: dict[str, Any]) -> dict[str, str]:
    """``hbf_model.h``, ``hbf_model.c`` and ``hbf_check.c`` of a UPGANet model's tables."""
    sen = tables["sensing"]
    steer = [v for row in sen["steer_codes"] for v in row] + [0]  # + 0: no zero-length array when M = K
    constants = "\n".join([
        "#define HBF_OUTPUT_XI -1  /* no output stage */",
        f"/* sensing: targets {sen['targets_deg']} deg, omega {sen['omega']}, eta {sen['eta']}; Psi_n = N Psi_1, "
        "channel format */",
        f"static const int32_t hbf_psi_re[HBF_N][HBF_N] = {c_array(sen['psi_n_re'])};",
        f"static const int32_t hbf_psi_im[HBF_N][HBF_N] = {c_array(sen['psi_n_im'])};",
        "/* initial codes of RF chains K..M-1 (eq. 17): [n * (HBF_M - HBF_K) + p] */",
        f"static const int32_t hbf_steer_codes[{len(steer)}] = {c_array(steer)};",
    ]) + "\n"
    dp = CDatapath(
        title="a quantized UPGANet (JCAS) model",
        sources=(("hbf_edge.export.upga", "datapath.c"), ("hbf_edge.export.upganet", "design.c")),
        sites=COUNTER_SITES[1:], scalars=SCALARS, constants=constants,
        description=("hbf_design() is the bit-accurate hardware kernel (kernels/upganet/_fixed.py) for one",
                     "channel: the initialisation (eq. 17) and HBF_LAYERS layers of eq. (14b), (7), (15), (9)",
                     "with the sensing term.  Integer arithmetic only; no allocation."))
    return c_sources(tables, dp)


def upganet_input_words(model: Any, spec: Any, beams: dict[str, np.ndarray]) -> np.ndarray:
    """``[B, 2NK + I + 3]``: the channel, noise and W-step words and the sensing weights, as
    :func:`kernels.upganet.hardware.upganet_forward_hw` quantises them."""
    from hbf_edge.kernels.upga.hardware import prepare_hw_inputs
    from hbf_edge.kernels.upganet.hardware import sensing_weights

    xi = 1.0 / math.log(2.0)  # as the kernel folds it into the steps
    H = beams["H"]
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
                          np.asarray(model.mu) * xi, np.asarray(model.lam) * xi, spec)
    kf, kw, _ = sensing_weights(model, spec, x.p_t)
    return input_words(x, kf, kw)
