"""The superframe bundle of a quantized JCEHB model (spec 6.1): what is programmed once per
superframe kept apart from what is streamed per slot, for ``hbf-edge simulate``.

Files (``manifest.json`` holds the sha256 of each, as for the other bundles; ``scoring`` is
``superframe``):

``superframe.json``
    Sizes, phase bits, the vector-modulator table of the codes, the word formats of the streamed
    ``F_BB`` / ``W_BB`` words, the slots' noise power, the integer datapath's overflow counters,
    and ``calibration``: ``"ideal"``, or the name and sha256 of the calibration table the slots'
    pilots went through (``hbf-edge export --calibration``; spec 6.1: CEDUN estimates the
    equivalent channel of the front ends as they are, errors included).
``beams.npz``
    Once per superframe: ``codes_bs [N_t, N_t^RF]`` and ``codes_ue [K, N_r, N_r^RF]`` (the phase
    codes of the BS and every user).  Per slot (one per channel): ``H [B, K, N_r, N_t]``, the
    integer datapath's words ``F_bb [B, N_t^RF, K N_s, 2]`` and ``W_bb [B, K, N_r^RF, N_s, 2]``
    (``(re, im)`` last), and ``kernel_sum_rate [B]``, the toolkit's score of those words; ``Y [B, K,
    N_r^RF, L, 2]``, every slot's received pilots before the ADC (the float graph's input), and
    ``Y_words``, the same after the ADC (``received`` words, int64: the integer graph's input).
``datapath.npz``, ``datapath.h``, ``jcehb_*.mem``
    The per-slot datapath's constant words, what its ROMs hold (:func:`datapath_roms`; they do
    not change within a superframe): the pilot ROM, CEDUN's gains and (17d)'s multipliers and
    offsets, the Gram of the BS's code phases, HBDUN's multipliers and offsets per layer, the
    ``2^x`` table; as arrays, as one ``static const`` array per ROM (shape and format in a
    comment, ``#define``s of the sizes and word lengths) and as one ``$readmemh`` file per ROM.
``model.onnx``
    The float per-slot network (:mod:`export.jcehb.onnx_float`), with the superframe's constants
    of the quantized model; checked in onnxruntime on the bundle's slots: the mean sum rate of its
    designs within ``ONNX_TOLERANCE`` of the torch network's (``verified`` in the manifest).
``model.int.onnx``
    The quantized per-slot network: the integer datapath in int64 operators
    (:mod:`export.jcehb.onnx_int`), from ``Y_words`` and the slots' noise word to the ``F_BB`` /
    ``W_BB`` words; checked in onnxruntime on the bundle's slots: every word equal to the
    integer kernel's (``verified``; any difference refuses the bundle).
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
from hbf_edge._io import read_json, sha256_file
from hbf_edge.families.jcehb.system import (design_sum_rate, equivalent, noise_power, observe, pilot_noise,
                                            pilot_noise_power, sum_rate)
from hbf_edge.hw.spec import phase_to_code

__all__ = ["write_jcehb_bundle", "ONNX_TOLERANCE"]

ONNX_TOLERANCE = 0.01  # float32 graph against the float64 torch network, relative mean sum rate (as UPGANet's)


def write_jcehb_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float,
                       noise_seed: int, overwrite: bool = False,
                       calibration: str | os.PathLike | None = None) -> Path:
    """Run the integer datapath on one slot per channel of ``H`` and write the bundle (module
    notes).  ``calibration``: a per-code phase and gain error table (``hbf-edge calibration``);
    the slots' pilots then pass through the calibrated front ends, as on hardware, and
    ``kernel_sum_rate`` scores the words on the equivalent channels they have."""
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    Q = config.spec.phase_bits
    if config.quantization is None or Q is None:
        raise ConfigError(f"{model_dir} is a float model: export needs a quantized one (`hbf-edge quantize`)")
    H = _check_channels(config, H)
    int_graph = _int_graph_writer(model_dir)  # started first: on two cores it runs alongside the rest
    try:
        return _write_jcehb(model_dir, out, H, snr_db, noise_seed, overwrite, calibration, config, arrays, int_graph)
    finally:
        int_graph.close()


def _write_jcehb(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float, noise_seed: int,
                 overwrite: bool, calibration: str | os.PathLike | None, config: Any, arrays: dict[str, np.ndarray],
                 int_graph: Any) -> Path:
    from hbf_edge.export._core.side import SidePart
    from hbf_edge.kernels.jcehb.hardware import load_jcehb_hw
    from hbf_edge.kernels.jcehb.stage import KERNELS
    from hbf_edge.modeldir import load_model

    Q = config.spec.phase_bits
    codes_bs, codes_ue = phase_to_code(arrays["phi_f"], Q), phase_to_code(arrays["phi_w"], Q)
    applied, cal_info = None, "ideal"
    if calibration is not None:
        phase_err, gain = read_calibration(calibration, 1 << Q)
        applied = (_weights(codes_bs, Q, phase_err, gain), _weights(codes_ue, Q, phase_err, gain))
        cal_info = {"file": Path(calibration).name, "sha256": sha256_file(calibration)}
    out_hw = KERNELS.forward_hw(Path(model_dir), H, snr_db=snr_db, noise_seed=noise_seed, beams=applied)
    nu = noise_power(snr_db)
    rate = design_sum_rate(H, out_hw, nu)
    vm_i, vm_q = vector_modulator_table(Q)
    z = config.family_config["sizes"]
    info = {"sizes": z, "pilots": config.family_config["pilots"], "hb_layers": config.family_config["hb_layers"],
            "phase_bits": Q, "vector_modulator": {"i": vm_i.tolist(), "q": vm_q.tolist()},
            "words": {name: out_hw["formats"][name] for name in ("precoder", "combiner")},
            "snr_db": snr_db, "noise_power": nu, "noise_seed": noise_seed, "n_slots": int(H.shape[0]),
            "counters": out_hw["counters"], "calibration": cal_info}
    model, _ = load_model(model_dir, family=config.family)
    He = equivalent(H, out_hw["F_rf"], out_hw["W_rf"])  # what the slots' pilots go through
    X = model.pilots().detach().numpy()
    Y = observe(He, X, out_hw["W_rf"], pilot_noise(H.shape[0], model.sizes, model.n_pilots, noise_seed),
                pilot_noise_power(nu, model.pilot_boost_db))
    beams = {"codes_bs": codes_bs, "codes_ue": codes_ue, "H": H,
             "F_bb": out_hw["F_bb_words"], "W_bb": out_hw["W_bb_words"], "kernel_sum_rate": rate,
             "Y": np.stack([Y.real, Y.imag], -1), "Y_words": out_hw["Y"]}
    extra = {"family": config.family, "scoring": "superframe",
             "model": {k: v for k, v in config.to_dict().items() if k != "history"}}
    hw = load_jcehb_hw(model_dir)

    def roms(tmp: Path) -> dict[str, Any]:
        with open(tmp / "datapath.npz", "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in hw.words.items()})
        for name, text in datapath_roms(hw).items():
            (tmp / name).write_text(text)
        return {}

    writers = [("the datapath's constant words", roms),
               ("the per-slot ONNX graph, checked in onnxruntime",
                SidePart("the per-slot ONNX graph", ["model.onnx"], "hbf_edge.export.jcehb.onnx_float:write_jcehb_float_graph",
                         model_dir, check=lambda tmp: _check_onnx(model, He, Y, nu, out_hw["W_rf"], tmp / "model.onnx"))),
               ("the per-slot integer ONNX graph, checked word for word in onnxruntime", int_graph)]
    int_graph.check = lambda tmp: _check_int(hw, out_hw, nu, tmp / "model.int.onnx")
    return _write(out, overwrite, {"superframe.json": json.dumps(info, indent=2) + "\n"}, beams, writers, extra)


def datapath_roms(hw: Any) -> dict[str, str]:
    """``datapath.h`` and the ``.mem`` files of a packed quantized network's constant words
    (:func:`kernels.jcehb.hardware.pack_hw`; module notes)."""
    from hbf_edge.export._core.cfiles import rom_files
    from hbf_edge.families.jcehb.formats import EXP2_TABLE_BITS, T_RANGE

    w, f = hw.words, hw.formats.to_dict()
    Nt, N, Nr, R, K, S = hw.model.sizes
    defines = {"HBF_JCEHB_NT": Nt, "HBF_JCEHB_NT_RF": N, "HBF_JCEHB_NR": Nr, "HBF_JCEHB_NR_RF": R,
               "HBF_JCEHB_K": K, "HBF_JCEHB_NS": S, "HBF_JCEHB_PILOTS": hw.model.n_pilots,
               "HBF_JCEHB_HB_LAYERS": int(w["hb"].shape[1]), "HBF_JCEHB_EXACT_INVERSE": int(hw.model.exact),
               "HBF_JCEHB_PHASE_BITS": hw.phase_bits, "HBF_JCEHB_LAMBDA_FLOOR": int(w["lam_floor"]),
               "HBF_JCEHB_EXP2_TABLE_BITS": EXP2_TABLE_BITS, "HBF_JCEHB_T_MIN": T_RANGE[0], "HBF_JCEHB_T_MAX": T_RANGE[1]}
    for name, fmt in f.items():
        defines[f"HBF_JCEHB_{name.upper()}_WORD_BITS"] = fmt["word_bits"]
        defines[f"HBF_JCEHB_{name.upper()}_FRAC_BITS"] = fmt["frac_bits"]
    P, C, A = f["pilot"], f["coef"], f["accumulator"]
    ce = w["ce"][..., :R]  # (17d)'s rows; the packing pads the last axis
    roms = [("jcehb_pilot_re", w["xr"], P, "pilot ROM X, real [N_t^RF, L]"), ("jcehb_pilot_im", w["xi"], P, "imaginary"),
            ("jcehb_gain_re", w["vgr"], A, "CEDUN gains v of (17a)-(17c), real [L, K, N_t^RF]"),
            ("jcehb_gain_im", w["vgi"], A, "imaginary"),
            ("jcehb_tw_re", ce[12], C, "(17d) multipliers T_w, real [L, K, N_t^RF, N_r^RF]"),
            ("jcehb_tw_im", ce[13], C, "imaginary"), ("jcehb_qw_re", ce[14], A, "(17d) offsets q_w, real"),
            ("jcehb_qw_im", ce[15], A, "imaginary"),
            ("jcehb_gram_re", w["gfr"], A, "G_F = F_RF^H F_RF of the BS's codes, real [N_t^RF, N_t^RF]"),
            ("jcehb_gram_im", w["gfi"], A, "imaginary")]
    for key, what, shape in (("hb", "inverse approximation B, D^-", "[layer, K, N_t^RF, N_t^RF]"),
                             ("hbw", "(31a) W multipliers and offsets", "[layer, K, N_r^RF, N_s]"),
                             ("hbf", "(31c) F multipliers and offsets", "[layer, K, N_t^RF]")):
        for j, (part, fmt) in enumerate((("t_re", C), ("t_im", C), ("q_re", A), ("q_im", A))):
            roms.append((f"jcehb_{key}_{part}", w[key][j], fmt, f"{what}: {part} {shape}"))
    for j, (part, fmt) in enumerate((("lam_t", C), ("lam_q", A), ("t_t", C), ("t_q", A), ("mu", C))):
        roms.append((f"jcehb_hbs_{part}", w["hbs"][j], fmt, f"(31b), (31d) scalars: {part} (T_lambda mu folded) "
                                                             "[layer, K]"))
    roms.append(("jcehb_exp2", w["table"], A, "2^(j / 2^HBF_JCEHB_EXP2_TABLE_BITS), accumulator words"))
    return rom_files("datapath", defines, roms)


def read_calibration(path: str | os.PathLike, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-code phase errors (radians) and gain factors of a calibration table: JSON with
    ``phase_error_deg`` and optionally ``gain_error_db``, ``n_codes`` numbers each (the format of
    ``hbf-edge calibration``; the controller simulator reads the same file with its own parser)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"calibration file {path} does not exist")
    data = read_json(path, ConfigError)
    if not isinstance(data, dict) or "phase_error_deg" not in data:
        raise ConfigError(f"{path}: a calibration table needs 'phase_error_deg' (and optionally 'gain_error_db')")
    tables = []
    for key, limit in (("phase_error_deg", 180.0), ("gain_error_db", 60.0)):
        values = data.get(key, [0.0] * n_codes)
        if not (isinstance(values, list) and len(values) == n_codes
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= limit for v in values)):
            raise ConfigError(f"{path}: {key} must be {n_codes} numbers (one per {n_codes.bit_length() - 1}-bit code) "
                              f"within +-{limit:g}")
        tables.append(np.asarray(values, dtype=np.float64))
    return np.deg2rad(tables[0]), 10.0 ** (tables[1] / 20.0)


def _weights(codes: np.ndarray, Q: int, phase_err: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The applied analog weights of ``codes [..., n_ant, n_chains]`` with per-code errors, over
    sqrt(n_ant) as eq. (18) (the chips' gain registers at their reset value, 127/127)."""
    return gain[codes] * np.exp(1j * (2 * np.pi * codes / (1 << Q) + phase_err[codes])) / np.sqrt(codes.shape[-2])


def _check_onnx(model: Any, He: np.ndarray, Y: np.ndarray, nu: float, W_rf: np.ndarray, path: Path) -> dict[str, Any]:
    """Check the per-slot graph's designs' sum rate against the torch network's on the same
    received pilots, both scored on the slots' equivalent channels ``He``."""
    import torch

    from hbf_edge.export.jcehb.onnx_float import run_jcehb_onnx

    F_onnx, W_onnx = run_jcehb_onnx(path, Y, nu)
    with torch.no_grad():
        F, W = (x.numpy() for x in model.digital(model.estimate(torch.from_numpy(Y)), nu))
    rates = [float(sum_rate(He, f, w, W_rf, nu).mean()) for f, w in ((F_onnx, W_onnx), (F, W))]
    rel = abs(rates[0] - rates[1]) / abs(rates[1])
    if not rel <= ONNX_TOLERANCE:
        raise BundleError(f"model.onnx's mean sum rate {rates[0]:.4f} differs from the torch network's "
                          f"{rates[1]:.4f} by {rel:.2%} (> {ONNX_TOLERANCE:.0%})")
    return {"model.onnx": {"runtime": "onnxruntime", "channels": int(He.shape[0]), "dtype": "float32",
                           "sum_rate_onnx": rates[0], "sum_rate_torch_float64": rates[1], "relative_difference": rel}}


def _int_graph_writer(model_dir: str | os.PathLike) -> Any:
    """The writer of ``model.int.onnx``: a second process started now when the thread policy
    allows two cores (its trace is the longest part of the export, README "JCEHB superframe
    bundle"), else this one when it is called."""
    from hbf_edge._process import side_cores
    from hbf_edge.export._core.side import SidePart

    return SidePart("the per-slot integer ONNX graph", ["model.int.onnx"], "hbf_edge.export.jcehb.onnx_int:write_jcehb_int_graph",
                    model_dir, side_cores() >= 2)


def _check_int(hw: Any, out_hw: dict[str, Any], nu: float, path: Path) -> dict[str, Any]:
    """Run the per-slot integer graph in onnxruntime on the bundle's received words: its F_BB and
    W_BB words must equal the integer kernel's, every one."""
    from hbf_edge.export.jcehb.onnx_int import run_jcehb_int_onnx
    from hbf_edge.kernels.jcehb.hardware import noise_word

    nu_word = noise_word(hw, nu)
    F, W = run_jcehb_int_onnx(path, out_hw["Y"], nu_word)
    differ = {name: int(np.count_nonzero(got != out_hw[f"{name}_words"])) for name, got in (("F_bb", F), ("W_bb", W))}
    if any(differ.values()):
        raise BundleError(f"model.int.onnx's words differ from the integer kernel's: {differ['F_bb']} F_BB and "
                          f"{differ['W_bb']} W_BB words")
    return {"model.int.onnx": {"runtime": "onnxruntime", "channels": int(F.shape[0]), "dtype": "int64",
                               "noise_word": nu_word, "words_compared": int(F.size + W.size),
                               "words_differing_from_kernel": 0}}


def _check_channels(config: object, H: np.ndarray) -> np.ndarray:
    """``H`` checked against the model's sizes (one line on a mismatch)."""
    from hbf_edge.families.jcehb.core import CORE

    return CORE.sizes(config).check_channels(H, "bundle channels")
