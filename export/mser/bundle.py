"""The transceiver bundle of a quantized MSER model (spec 6.4, 6.6): one design per channel for
the K + 1 front ends (the BS's phase shifters and every user's), for ``hbf-edge simulate``.

Files (``manifest.json`` holds the sha256 of each, as for the other bundles; ``scoring`` is
``transceiver``):

``transceiver.json``
    Sizes, the phase bits of the BS and of the users with their vector-modulator tables, the
    word formats of ``V`` and ``W`` (and every other format of the datapath), the SNR and noise
    std of the designs, the refit layers and the integer datapath's overflow counters.
``beams.npz``
    Per channel: ``H [B, K, N_r, N_t]``, the codes ``codes_bs [B, N_t, R_t]`` and ``codes_ue
    [B, K, R_r, N_r]`` (U_k, element (r, n) joining antenna n to RF chain r), the datapath's
    words ``V [B, R_t, D, 2]`` and ``W [B, K, R_r, D_k, 2]`` (``(re, im)`` last) and
    ``kernel_ser [B]``, the toolkit's exact SER of those codes and words; for 16-QAM also
    ``ser_vectors [D, J]``, the transmit vectors that SER averages over (a seeded sample when
    16^D is large), so that the simulator scores the same ones.
``datapath.npz``
    The datapath's constant words, what its ROMs hold (:func:`kernels.mser.hardware.pack_hw`):
    the per-layer steps, offsets and widths (``step`` format), the symbol ROM (small integers),
    the ``e^{-u}`` table (``kernel``), the internal and output cos / sin tables (``lut``), the
    power and the radians -> angle-word factor.
``datapath.h``, ``mser_*.mem``
    The same constant words for firmware and HDL (:func:`datapath_roms`): one ``static const``
    array per ROM with its shape and format in a comment, ``#define``s of the sizes, bits and
    constants, and one ``$readmemh`` file per ROM.
``inputs.npz``
    Per design, what the host gave the datapath, as words: the channel ``h_re, h_im [B, K, N_r,
    N_t]`` (``H / sigma_n``), the start ``theta_f, v_re, v_im, theta_u, w_re, w_im`` and the step
    factor ``g [B]`` -- the integer graph's inputs.

``model.onnx``
    The float network (:mod:`export.mser.onnx_float`: its L layers from the host's start, no
    rounding, no refit layers); checked in onnxruntime on the bundle's channels: the mean SER of
    its designs within ``ONNX_TOLERANCE`` of the float kernel's, or within ``ONNX_FLOOR`` of it
    (``verified`` in the manifest).
``model.int.onnx``
    The quantized network: the integer datapath in int64 operators (:mod:`export.mser.onnx_int`:
    the L layers, the rounding to codes, the refit layers), from ``inputs.npz`` to the codes and
    the ``V`` / ``W`` words; checked in onnxruntime on the bundle's designs: every code and word
    equal to the integer kernel's (``verified``; any difference refuses the bundle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.export._core.bundle import BundleError, _write
from hbf_edge.export._core.tables import vector_modulator_table

__all__ = ["write_mser_bundle", "ONNX_TOLERANCE"]

ONNX_TOLERANCE = 0.01  # float32 graph against the float64 kernel, relative mean SER ...
ONNX_FLOOR = 1e-9  # ... or absolute, for designs with almost no errors (float32 rounds those SERs apart)


def write_mser_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float,
                      overwrite: bool = False) -> Path:
    """Run the integer datapath on every channel of ``H`` at ``snr_db`` and write the bundle
    (module notes)."""
    from hbf_edge.families.mser.core import CORE
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    if config.quantization is None or config.spec.phase_bits is None:
        raise ConfigError(f"{model_dir} is a float model: export needs a quantized one (`hbf-edge quantize`)")
    sizes = CORE.sizes(config)
    H = sizes.check_channels(H, "bundle channels")
    int_graph = _int_graph_writer(model_dir)  # started first: on two cores it runs alongside the rest
    try:
        return _write_mser(model_dir, out, H, snr_db, overwrite, config, sizes, int_graph)
    finally:
        int_graph.close()


def _write_mser(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float, overwrite: bool,
                config: Any, sizes: Any, int_graph: Any) -> Path:
    from hbf_edge.families.mser.ser import eval_vectors, ser_semi_analytic
    from hbf_edge.export._core.side import SidePart
    from hbf_edge.families.mser.system import noise_std
    from hbf_edge.kernels.mser.hardware import load_mser_hw
    from hbf_edge.kernels.mser.stage import KERNELS

    sigma = float(noise_std(snr_db))
    packed = load_mser_hw(model_dir)  # the float packing (start, ONNX) and the datapath's constant words
    start = KERNELS.start(packed.model, H, sigma)  # the host's start, for the datapath and ONNX
    hw = KERNELS.forward_hw(Path(model_dir), H, snr_db=snr_db, start=start)
    kernel_ser = ser_semi_analytic(H, hw["F"], hw["V"], hw["U"], hw["W"], sigma, sizes.constellation)
    q_bs, q_ue = hw["phase_bits"]["bs"], hw["phase_bits"]["ue"]
    vm = {side: dict(zip("iq", (t.tolist() for t in vector_modulator_table(q)))) for side, q in (("bs", q_bs),
                                                                                                ("ue", q_ue))}
    info = {"sizes": config.family_config["sizes"], "phase_bits": {"bs": q_bs, "ue": q_ue}, "vector_modulator": vm,
            "words": {name: hw["formats"][name] for name in ("precoder", "combiner")}, "formats": hw["formats"],
            "snr_db": snr_db, "noise_std": sigma, "refit_layers": int(config.quantization.get("refit_layers", 0)),
            "n_designs": int(H.shape[0]), "counters": hw["counters"]}
    beams = {"H": H, "codes_bs": hw["F_codes"], "codes_ue": hw["U_codes"], "V": hw["V_words"], "W": hw["W_words"],
             "kernel_ser": kernel_ser}
    if sizes.constellation != "qpsk":
        beams["ser_vectors"] = eval_vectors(sizes.n_total_streams, sizes.constellation)
    words = packed.words

    def datapath(tmp: Path) -> dict:
        for name, arrays in (("datapath.npz", words), ("inputs.npz", hw["input_words"])):
            with open(tmp / name, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
        for name, text in datapath_roms(packed, hw["formats"]).items():
            (tmp / name).write_text(text)
        return {}

    extra = {"family": config.family, "scoring": "transceiver",
             "model": {k: v for k, v in config.to_dict().items() if k != "history"}}
    writers = [("the datapath's constant and input words", datapath),
               ("the network's ONNX graph, checked in onnxruntime",
                SidePart("the network's ONNX graph", ["model.onnx"], "hbf_edge.export.mser.onnx_float:write_mser_float_graph",
                         model_dir, check=lambda tmp: _check_onnx(packed.model, config, H, start, sigma,
                                                                  tmp / "model.onnx"))),
               ("the integer ONNX graph, checked code for code in onnxruntime", int_graph)]
    int_graph.check = lambda tmp: _check_int(hw, tmp / "model.int.onnx")
    return _write(out, overwrite, {"transceiver.json": json.dumps(info, indent=2) + "\n"}, beams, writers, extra)


def datapath_roms(packed: Any, formats: dict[str, Any]) -> dict[str, str]:
    """``datapath.h`` and the ``.mem`` files of the datapath's constant words (the module notes'
    ``datapath.h``), from the packed model (:func:`kernels.mser.hardware.pack_hw`)."""
    from hbf_edge.export._core.cfiles import rom_files
    from hbf_edge.families.mser.formats import KERNEL_TABLE_BITS, KERNEL_U_MAX, RAD_FRAC

    w, f = packed.words, formats
    Nt, Rt, K, Nr, Rr, Dk = packed.model.sizes
    b = f["angle_bits"]
    sym_bits = max(2, int(max(np.abs(w["sym_r"]).max(), np.abs(w["sym_i"]).max())).bit_length() + 1)
    defines = {"HBF_MSER_NT": Nt, "HBF_MSER_RT": Rt, "HBF_MSER_K": K, "HBF_MSER_NR": Nr, "HBF_MSER_RR": Rr,
               "HBF_MSER_DK": Dk, "HBF_MSER_LAYERS": packed.model.n_layers, "HBF_MSER_REFIT": packed.refit,
               "HBF_MSER_SAMPLES": int(w["sym_r"].shape[2]), "HBF_MSER_Q_BS": packed.q_bs, "HBF_MSER_Q_UE": packed.q_ue,
               "HBF_MSER_ANGLE_BITS": b, "HBF_MSER_INTERNAL_PHASE_BITS": f["internal_phase_bits"],
               "HBF_MSER_KERNEL_TABLE_BITS": KERNEL_TABLE_BITS, "HBF_MSER_KERNEL_U_MAX": KERNEL_U_MAX,
               "HBF_MSER_POWER": int(w["power"]), "HBF_MSER_RAD": int(w["rad"]), "HBF_MSER_RAD_FRAC": RAD_FRAC}
    for name in ("channel", "lut", "accumulator", "step", "kernel", "precoder", "combiner"):
        defines[f"HBF_MSER_{name.upper()}_WORD_BITS"] = f[name]["word_bits"]
        defines[f"HBF_MSER_{name.upper()}_FRAC_BITS"] = f[name]["frac_bits"]
    S, L, P, C = f["step"], f["lut"], f["precoder"], f["combiner"]
    roms = [("mser_ap_r", w["ap_r"], S, "V steps mu o a, real [layer, R_t, D]"), ("mser_ap_i", w["ap_i"], S, "imaginary"),
            ("mser_aw_r", w["aw_r"], S, "W steps, real [layer, K, R_r, D_k]"), ("mser_aw_i", w["aw_i"], S, "imaginary"),
            ("mser_au", w["au"], S, "theta_U steps [layer, K, R_r, N_r]"), ("mser_af", w["af"], S,
                                                                              "theta_F steps [layer, N_t, R_t]"),
            ("mser_op_r", w["op_r"], P, "V offsets, real"), ("mser_op_i", w["op_i"], P, "V offsets, imaginary"),
            ("mser_ow_r", w["ow_r"], C, "W offsets, real"), ("mser_ow_i", w["ow_i"], C, "W offsets, imaginary"),
            ("mser_ou", w["ou"], b, "theta_U offsets, angle words (2^HBF_MSER_ANGLE_BITS = 2 pi)"),
            ("mser_of", w["of_"], b, "theta_F offsets, angle words"),
            ("mser_ws", w["ws"], S, "1 / (sqrt 2 r) of the widths [layer, 3 (V, W, theta_U), K]"),
            ("mser_wc", w["wc"], S, "c = 1 / (J sqrt(2 pi) r), same layout"),
            ("mser_wsf", w["wsf"], S, "1 / (sqrt 2 r) of theta_F's width [layer]"),
            ("mser_wcf", w["wcf"], S, "c of theta_F's width [layer]"),
            ("mser_sym_r", w["sym_r"], sym_bits, "symbol ROM, real levels [layer, D, J]"),
            ("mser_sym_i", w["sym_i"], sym_bits, "symbol ROM, imaginary levels"),
            ("mser_ktab", w["ktab"], f["kernel"], "e^{-u} at u = i / 2^HBF_MSER_KERNEL_TABLE_BITS"),
            ("mser_lc", w["lc"], L, "cos of the internal phase table"), ("mser_ls", w["ls"], L, "sin, same table"),
            ("mser_oc", w["oc"], L, "cos of the BS's Q_BS-bit codes"), ("mser_os", w["os_"], L, "sin, same codes"),
            ("mser_uc", w["uc"], L, "cos of the users' Q_UE-bit codes"), ("mser_us", w["us_"], L, "sin, same codes")]
    return rom_files("datapath", defines, roms)


def _int_graph_writer(model_dir: str | os.PathLike) -> Any:
    """The writer of ``model.int.onnx``: a second process started now when the thread policy
    allows two cores (its trace is most of the export: 16 of 30 s on the embedded model, Intel
    Xeon, 2026-12-05; README, "MSER hardware datapath"), else this one when it is called."""
    from hbf_edge._process import side_cores
    from hbf_edge.export._core.side import SidePart

    return SidePart("the integer ONNX graph", ["model.int.onnx"], "hbf_edge.export.mser.onnx_int:write_mser_int_graph",
                    model_dir, side_cores() >= 2)


def _check_int(hw: dict, path: Path) -> dict:
    """Run the integer graph in onnxruntime on the datapath's input words: its codes and words
    must equal the integer kernel's, every one."""
    from hbf_edge.export.mser.onnx_int import run_mser_int_onnx

    got = run_mser_int_onnx(path, hw["input_words"])
    want = {"F_codes": hw["F_codes"], "U_codes": hw["U_codes"], "V": hw["V_words"], "W": hw["W_words"]}
    differ = {name: int(np.count_nonzero(got[name] != want[name])) for name in want}
    if any(differ.values()):
        raise BundleError("model.int.onnx differs from the integer kernel: " + ", ".join(
            f"{n} {name}" for name, n in differ.items() if n))
    return {"model.int.onnx": {"runtime": "onnxruntime", "channels": int(got["V"].shape[0]), "dtype": "int64",
                               "values_compared": int(sum(v.size for v in want.values())),
                               "values_differing_from_kernel": 0}}


def _check_onnx(model: object, config: object, H: np.ndarray, start: tuple, sigma: float, path: Path) -> dict:
    """Check the mean SER of the float graph's designs (``model``: the kernel packing) in
    onnxruntime against the float kernel's on the same channels and ``start``."""
    from hbf_edge.export.mser.onnx_float import run_mser_onnx
    from hbf_edge.families.mser.core import CORE
    from hbf_edge.families.mser.ser import ser_semi_analytic
    from hbf_edge.kernels.mser.forward import mser_forward

    sizes = CORE.sizes(config)
    sers = [float(ser_semi_analytic(H, *d, sigma, sizes.constellation).mean())
            for d in (run_mser_onnx(path, H, start, sigma), mser_forward(H, start, sigma, model))]
    rel = abs(sers[0] - sers[1]) / max(abs(sers[1]), 1e-300)
    if not (rel <= ONNX_TOLERANCE or abs(sers[0] - sers[1]) <= ONNX_FLOOR):
        raise BundleError(f"model.onnx's mean SER {sers[0]:.4e} differs from the float kernel's {sers[1]:.4e} by "
                          f"{rel:.2%} (> {ONNX_TOLERANCE:.0%})")
    return {"model.onnx": {"runtime": "onnxruntime", "channels": int(H.shape[0]), "dtype": "float32",
                           "ser_onnx": sers[0], "ser_kernel_float64": sers[1], "relative_difference": rel}}
