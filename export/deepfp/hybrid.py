"""The hybrid bundle: a UPGA bundle's analog phase codes with DeepFP as the digital stage.

``hbf-edge export DEEPFP_DIR --hybrid PGA_BUNDLE --out DIR``: for every beam of the PGA bundle,
DeepFP (trained on ``hbf-edge channels --model deepfp --hybrid`` problems) designs ``W`` on the
effective channel of the bundle's codes (:mod:`hbf_edge.families.deepfp.hybrid`); ``W`` is stored in the
bundle's own precoder words, so the controller simulator replays the result like any bundle.
A quantized DeepFP runs in its hardware mode (integer DNNs, fixed-point V,
:mod:`kernels.deepfp.hardware`), a float one in the float kernel.

The hybrid bundle holds the PGA bundle's tables (``lut.json``, ``lut.h``, ``lut_*.mem``: the
phase shifters are the same) and a new ``beams.npz`` (the same channels, powers and codes; DeepFP's
``W`` words; ``saturated_w`` words per beam).  The manifest's ``hybrid`` section records both
sources (with the PGA manifest's sha256) and the mean sum rates of the beams with the PGA
bundle's own ``W``, with DeepFP's (before and after rounding to words) and with FastFP-100
on the same codes, all on the bundle's channels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families.deepfp.hybrid import effective_problem, hybrid_precoder, precoder_words
from hbf_edge.modelfiles import read_model_dir
from hbf_edge.families.deepfp.wsr import random_init, weighted_sum_rate

from hbf_edge.export._core.bundle import BundleError, _write, read_bundle

__all__ = ["write_hybrid_bundle"]

TABLE_FILES = ("lut.json", "lut.h")


def _words_to_v(w_re: np.ndarray, w_im: np.ndarray, frac: int, R: np.ndarray, n: int) -> np.ndarray:
    """``V = R W_hw / sqrt(N)`` ``[B, 1, K, M, 1]`` of precoder words (the inverse of
    :func:`hbf_edge.families.deepfp.hybrid.hybrid_precoder`)."""
    W = (w_re + 1j * w_im) * 2.0 ** -frac
    return np.swapaxes(R @ W / np.sqrt(n), 1, 2)[:, None, :, :, None]


def write_hybrid_bundle(deepfp_dir: str | os.PathLike, pga_bundle: str | os.PathLike, out: str | os.PathLike,
                        seed: int = 2026, overwrite: bool = False) -> Path:
    """Write the hybrid bundle of a DeepFP model on a UPGA bundle's codes (module notes)."""
    from hbf_edge.kernels.deepfp.forward import deepfp_forward, load_deepfp
    from hbf_edge.kernels.deepfp.hardware import deepfp_forward_hw

    from hbf_edge.families.deepfp.solvers import solve

    from hbf_edge.families import runs_on

    config, _ = read_model_dir(deepfp_dir)
    if not runs_on(config.family, "deepfp"):
        raise BundleError(f"{deepfp_dir} holds a {config.family} model, not deepfp")
    pga = read_bundle(pga_bundle)
    if "sensing_benchmark" in (beams := pga.beams()) or "codes" not in beams:
        raise BundleError(f"{pga_bundle} is not a UPGA bundle (it needs phase codes and no sensing task)")
    net = config.family_config["network"]
    B, N, M = beams["codes"].shape
    K = beams["H"].shape[2]
    if (net["n_cells"], net["n_users"], net["n_rx"], net["n_streams"]) != (1, K, 1, 1) or net["n_tx"] != M:
        raise BundleError(f"{deepfp_dir} was trained for {net['n_cells']} cell(s), N_t={net['n_tx']}, "
                          f"K={net['n_users']}, N_r={net['n_rx']}, d={net['n_streams']}; the bundle needs the hybrid "
                          f"problem N_t=M={M}, K={K}, N_r=d=1 (train on `hbf-edge channels --model deepfp --hybrid`)")
    frac, word = int(beams["w_frac_bits"]), int(beams["w_word_bits"])
    problem = effective_problem(beams["H"], beams["codes"].astype(np.int64), int(beams["phase_bits"]), beams["p_t"],
                                beams["noise"])
    H = problem.H
    V0 = random_init((B, 1, K, M, 1), np.ones(1), seed)
    kmodel = load_deepfp(deepfp_dir)
    hr, hi = np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)
    v0r, v0i = np.ascontiguousarray(V0.real), np.ascontiguousarray(V0.imag)
    if kmodel.quantization is not None:
        V, mode = deepfp_forward_hw(hr, hi, v0r, v0i, kmodel).v, "hardware"
    else:
        vr, vi, _ = deepfp_forward(hr, hi, v0r, v0i, kmodel)
        V, mode = vr + 1j * vi, "float64"
    w_re, w_im, saturated = precoder_words(hybrid_precoder(V, problem.R, N), word, frac)
    fastfp = solve(H, "fastfp", 100, V0=V0)["V"]
    rates = {"pga_w": _wsr(H, _words_to_v(beams["w_re"], beams["w_im"], frac, problem.R, N)),
             "deepfp": _wsr(H, V), "deepfp_words": _wsr(H, _words_to_v(w_re, w_im, frac, problem.R, N)),
             "fastfp_100": _wsr(H, fastfp)}
    new_beams = {**beams, "w_re": w_re, "w_im": w_im, "saturated_w": saturated}
    texts = {name: pga.text(name) for name in pga.manifest["files"] if name in TABLE_FILES or name.endswith(".mem")}
    extra: dict[str, Any] = {
        "family": config.family, "scoring": "sum_rate", "hardware": pga.manifest.get("hardware"), "precision": pga.manifest.get("precision"),
        "model": {k: v for k, v in config.to_dict().items() if k != "history"}, "beams": pga.manifest.get("beams"),
        "hybrid": {"analog_bundle": str(pga_bundle), "analog_manifest_sha256": pga.manifest["manifest_sha256"],
                   "deepfp_model": str(deepfp_dir), "deepfp_mode": mode, "seed": seed,
                   "mean_sum_rate": rates, "saturated_w_words": int(saturated.sum())}}
    return _write(out, overwrite, texts, new_beams, [], extra)


def _wsr(H: np.ndarray, V: np.ndarray) -> float:
    return float(weighted_sum_rate(H, V).mean())
