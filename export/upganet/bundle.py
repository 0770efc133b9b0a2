"""The UPGANet (JCAS) parts of a bundle: tables with the sensing task, beams, float ONNX.

Paper ``upganet_jcas.txt``.  What differs from a UPGA bundle (:mod:`export._core.bundle`):

* ``lut.json`` ``steps`` hold the datapath's words ``mu xi`` and ``lambda xi`` (``xi = 1/ln 2``;
  the host still scales lambda by ``N / P_t``), and a ``sensing`` section holds
  ``Psi_n = N Psi_1`` (eq. 4, channel format), the initial codes of the targets' steering
  phases (eq. 17), omega, eta and the rule for the per-channel weights ``kappa`` -- everything
  :mod:`kernels.upganet._fixed` reads;
* ``beams.npz`` adds the sensing grid and the unit-power benchmark beampattern
  ``a^H Psi_1 a`` so the controller simulator can score the radiated beampattern (Section IV's
  MSE) without the toolkit;
* ``model.onnx`` is the float32 UPGANet with the quantized model's steps, checked in onnxruntime
  against the float64 torch network on the beam channels (mean objective, ``ONNX_TOLERANCE``);
  there are no quantized graphs (the QAT
  network keeps float arithmetic between its projections).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.modelfiles import ModelConfig
from hbf_edge.units import snr_db_to_power

from hbf_edge.export._core.cfiles import c_header, mem_files
from hbf_edge.export._core.cmodel import c_writer
from hbf_edge.export.upganet.c_model import upganet_c_files, upganet_input_words
from hbf_edge.export._core.tables import build_tables

__all__ = ["upganet_parts", "write_upganet_float_graph", "ONNX_TOLERANCE"]

# The float32 graph against the float64 torch network on the beam channels: relative difference of
# the mean objective R - omega tau.  Entries are not compared at full size: measured on 16 channels
# at 12 dB (N=64, I=J=20), float32 F entries end up to 1.9 away from float64's (400 inner steps
# carry float32 rounding to another local optimum).  Entry-wise agreement is tested on a small net.
ONNX_TOLERANCE = 0.01


def _tables(config: ModelConfig, spec: Any, model: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from hbf_edge.kernels.upganet.hardware import sensing_words

    xi = 1.0 / math.log(2.0)
    tables = build_tables(config, [spec] * config.n_layers, {"mu": arrays["mu"] * xi, "lam": arrays["lam"] * xi})
    tables["steps"]["note"] = ("mu * xi and lambda * xi (xi = 1/ln 2); the datapath uses lambda_i * xi * N / P_t "
                               "per channel (and the noise s2 * N / P_t): the host scales by N / P_t before loading")
    psi_r, psi_i, steer_codes = sensing_words(model, spec)
    scenario = config.family_config["scenario"]
    tables["sensing"] = {
        "targets_deg": list(scenario["targets_deg"]), "delta_deg": scenario["delta_deg"],
        "omega": model.omega, "eta": model.eta,
        "weights": "per channel, step format: kappa_F = 2 omega ln2 (P_t/N)^2, kappa_W = eta kappa_F",
        "psi_format": "channel", "psi_n_re": psi_r.tolist(), "psi_n_im": psi_i.tolist(),
        "steer_codes": steer_codes.tolist(),
    }
    json.dumps(tables)  # every entry is plain JSON
    return tables


def _beams(model: Any, spec: Any, config: ModelConfig, H: np.ndarray, snr_db: float, noise: float
           ) -> dict[str, np.ndarray]:
    from hbf_edge.families.upganet.sensing import SensingScenario, covariance_pattern
    from hbf_edge.kernels import upganet_forward_hw

    B = H.shape[0]
    p_t = np.full(B, float(snr_db_to_power(snr_db, noise)))
    n = np.full(B, float(noise))
    res = upganet_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, n, model, spec)
    grid = SensingScenario.from_dict(config.family_config["scenario"]).grid_deg
    return {
        "H": H.astype(np.complex128), "p_t": p_t, "noise": n,
        "codes": res.codes.astype(np.int32), "w_re": res.w_re.astype(np.int32), "w_im": res.w_im.astype(np.int32),
        "w_word_bits": np.array(res.w_format.word_bits), "w_frac_bits": np.array(res.w_format.frac_bits),
        "phase_bits": np.array(res.phase_bits), "overflows": res.total_overflows.astype(np.int64),
        "counters": res.counter_table,  # per site, "input" first
        "sensing_angles_deg": grid, "sensing_benchmark": covariance_pattern(model.psi1, grid),
    }


def write_upganet_float_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.onnx`` of a quantized UPGANet model directory into the folder ``out``: the float32
    network with the quantized model's steps, the metadata naming its phase bits."""
    from hbf_edge.kernels import load_upganet_hw
    from hbf_edge.modeldir import load_model

    from hbf_edge.export.upga.onnx_float import export_float_onnx

    net, config = load_model(model_dir, family="upganet")
    return export_float_onnx(net, config, Path(out) / "model.onnx", phase_bits=load_upganet_hw(model_dir)[1].phase_bits)


def _check_onnx(model_dir: str | os.PathLike, beams: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    """Check the float graph's mean JCAS objective on the bundle's beam channels against the torch
    network's."""
    import torch

    from hbf_edge import cplx
    from hbf_edge.cplx import C
    from hbf_edge.families.upganet.model import jcas_objective
    from hbf_edge.modeldir import load_model

    from hbf_edge.export.upga.onnx_float import run_onnx

    net, _ = load_model(model_dir, family="upganet")
    H, p_t, noise = beams["H"], beams["p_t"], beams["noise"]
    f_re, f_im, w_re, w_im = (x.astype(np.float64) for x in run_onnx(path, H, p_t, noise))
    Hc = cplx.from_complex(torch.from_numpy(H))
    pt, nt = torch.from_numpy(p_t), torch.from_numpy(noise)
    with torch.no_grad():
        want = net(Hc.re, Hc.im, pt, nt)
        psi1 = net.psi1()
        objective = [float(jcas_objective(Hc, C(*map(torch.as_tensor, d[:2])), C(*map(torch.as_tensor, d[2:])), nt,
                                          psi1, pt, net.omega).mean())
                     for d in ((f_re, f_im, w_re, w_im), tuple(x.numpy() for x in want))]
    rel = abs(objective[0] - objective[1]) / abs(objective[1])
    if not rel <= ONNX_TOLERANCE:
        from hbf_edge.export._core.bundle import BundleError

        raise BundleError(f"model.onnx's mean objective {objective[0]:.4f} differs from the torch network's "
                          f"{objective[1]:.4f} by {rel:.2%} (> {ONNX_TOLERANCE:.0%})")
    return {"model.onnx": {"runtime": "onnxruntime", "channels": int(H.shape[0]), "dtype": "float32",
                           "objective_onnx": objective[0], "objective_torch_float64": objective[1],
                           "relative_difference": rel}}


def upganet_parts(model_dir: str | os.PathLike, config: ModelConfig, arrays: dict[str, np.ndarray], H: np.ndarray,
                  snr_db: float, noise: float) -> tuple[dict[str, str], dict[str, np.ndarray], list, Any]:
    """Texts, beams, ONNX writers and the hardware spec of a quantized UPGANet bundle."""
    from hbf_edge.export._core.side import SidePart
    from hbf_edge.kernels import load_upganet_hw

    model, spec = load_upganet_hw(model_dir)
    tables = _tables(config, spec, model, arrays)
    texts = {"lut.json": json.dumps(tables, indent=1) + "\n", "lut.h": c_header(tables),
             **mem_files(tables), **upganet_c_files(tables)}
    beams = _beams(model, spec, config, H, snr_db, noise)
    writers = [c_writer(lambda: upganet_input_words(model, spec, beams), beams),
               ("the ONNX graph, checked in onnxruntime",
                SidePart("the ONNX graph", ["model.onnx"], "hbf_edge.export.upganet.bundle:write_upganet_float_graph",
                         model_dir, check=lambda tmp: _check_onnx(model_dir, beams, tmp / "model.onnx")))]
    return texts, beams, writers, spec
