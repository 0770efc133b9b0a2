"""The C hand-off of a quantized UPGA model: ``hbf_model.h`` / ``hbf_model.c`` (the integer
datapath of :mod:`kernels.upga._fixed` and :mod:`kernels.upga._search` as a self-contained C99
library), ``hbf_check.c`` (a test harness) and its test vectors (the beam channels' input words
and the kernel's outputs), plus the check that compiles and runs them with a toolchain.

The generated part is only data: sizes, per-layer format rows and phase tables, the step words,
the output stage's word and the code search's constants, all taken from ``lut.json`` (the
tables the bundle ships).  The datapath itself is hand-written C (``c_src/``, and the shared
primitives in ``export/_core/c_src/``), appended verbatim: no dynamic allocation, no floating
point, fixed-width integer types only.

Host-side scaling (the float/integer boundary, :func:`kernels.upga.hardware.prepare_hw_inputs`):
the caller quantises H to the channel format, ``s2 N / P_t`` to the accumulator format and
``lambda_i N / P_t`` to the step format (``lut.json`` ``steps.lam`` holds ``lambda_i``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families.upga.config import COUNTER_SITES
from hbf_edge.hw.spec import FORMATS
from hbf_edge.kernels._core.tables import ROUNDING_CODES

from hbf_edge.export._core import ctool
from hbf_edge.export._core.cfiles import format_defines, size_defines

__all__ = ["C_FILES", "VECTOR_FILES", "c_sources", "c_vectors", "check_c", "decode_words", "DATAPATH_SITES"]

C_FILES = ("hbf_model.h", "hbf_model.c", "hbf_check.c")
VECTOR_FILES = ("hbf_inputs.bin", "hbf_expected.bin")
# counter sites of the integer datapath, in counters[] order: the family's sites but "input"
# (the quantisation at the float/integer boundary happens on the host)
DATAPATH_SITES = COUNTER_SITES[1:]
_SHARED = ("fixed.c", "linalg.c")


def _source(package: str, name: str) -> str:
    return resources.files(package).joinpath("c_src", name).read_text()


def _row(fmt: dict[str, Any]) -> list[int]:
    """``{frac_bits, min_int, max_int, rounding, saturate}`` (kernels/_core/tables.format_row)."""
    w = fmt["word_bits"]
    return [fmt["frac_bits"], -(1 << (w - 1)), (1 << (w - 1)) - 1, ROUNDING_CODES[fmt["rounding"]],
            int(bool(fmt["saturate"]))]


def _c_array(values: Any) -> str:
    if isinstance(values, (list, tuple)):
        return "{" + ", ".join(_c_array(v) for v in values) + "}"
    return str(int(values))


def _header(tables: dict[str, Any]) -> str:
    s = tables["sizes"]
    lines = [
        "/* hbf-edge C datapath of a quantized UPGA model (generated; do not edit).",
        " * hbf_design() is the bit-accurate hardware kernel (kernels/upga/_fixed.py) for one channel:",
        " * the initialisation (eq. 12-13), HBF_LAYERS layers of eq. (6)-(9) and, if the model has",
        " * them, the code search and the output stage.  Integer arithmetic only; no allocation.",
        " *",
        " * Inputs are words (the host quantises them, kernels/upga/hardware.py prepare_hw_inputs):",
        " *   h_re, h_im  H[n][k] in the channel format, row-major [HBF_N][HBF_K]",
        " *   noise       s2 N / P_t in the accumulator format (>= 1)",
        " *   lam         lambda_i N / P_t in the step format, one per layer (lut.json steps.lam: lambda_i)",
        " * Outputs: codes [HBF_N][HBF_M] (phase 2 pi c / 2^Q of the last layer's Q), W words",
        " * [HBF_M][HBF_K] in the last layer's precoder format, power-normalised (||F W||_F^2 = N; the",
        " * applied precoder is sqrt(P_t / N) W), and the overflow events of each site (HBF_SITE_*).",
        " * Returns 0, or HBF_EINPUT (outputs untouched) if an input word lies outside its format. */",
        "#ifndef HBF_MODEL_H",
        "#define HBF_MODEL_H",
        "#include <stdint.h>",
        "",
        *size_defines(tables),
        f"#define HBF_DMAX {max(s['M'], s['K'])}  /* largest matrix inverted (2 HBF_DMAX real rows) */",
        *format_defines(tables),
    ]
    out_pre = tables["output"]["precoder"]
    lines += [f"#define HBF_W_WORD_BITS {out_pre['word_bits']}  /* the output W words */",
              f"#define HBF_W_FRAC_BITS {out_pre['frac_bits']}", "",
              f"#define HBF_SITES {len(DATAPATH_SITES)}"]
    lines += [f"#define HBF_SITE_{site.upper()} {i}" for i, site in enumerate(DATAPATH_SITES)]
    lines += [
        "#define HBF_EINPUT (-1)",
        "",
        "int hbf_design(const int32_t h_re[HBF_N * HBF_K], const int32_t h_im[HBF_N * HBF_K], int32_t noise,",
        "               const int32_t lam[HBF_LAYERS], uint16_t codes[HBF_N * HBF_M], int32_t w_re[HBF_M * HBF_K],",
        "               int32_t w_im[HBF_M * HBF_K], uint32_t counters[HBF_SITES]);",
        "",
        "#endif /* HBF_MODEL_H */",
        "",
    ]
    return "\n".join(lines)


def _constants(tables: dict[str, Any]) -> str:
    f = tables["formats"]
    layers = tables["layers"]
    n_max = max(len(layer["cos"]) for layer in layers)
    rows = [[_row(f[name]) if name != "precoder" else _row(layer["precoder"]) for name in FORMATS]
            for layer in layers]

    def padded(key: str) -> list[list[int]]:
        return [layer[key] + [0] * (n_max - len(layer[key])) for layer in layers]

    out = tables["output_stage"]
    search = None if out is None else out.get("code_search")
    lines = [
        "/* ---- Model constants (generated from lut.json) */",
        *(f"#define HBF_{name.upper()} {i}" for name, i in
          zip(("ch", "lut", "acc", "grd", "stp", "pre"), range(len(FORMATS)))),
        f"#define HBF_MAX_CODES {n_max}",
        f"#define HBF_OUTPUT_XI {-1 if out is None else out['xi_k_over_n']}  /* xi K / N, step format; -1: none */",
        f"#define HBF_SEARCH_SWEEPS {0 if search is None else search['sweeps']}",
        f"#define HBF_SEARCH_SPAN {0 if search is None else search['span']}",
        "",
        "/* format rows per layer {frac_bits, min_int, max_int, rounding (0 half_up, 1 half_even, 2 floor),",
        f" * saturate}} in the order {', '.join(FORMATS)} */",
        f"static const int64_t hbf_formats[HBF_LAYERS][{len(FORMATS)}][5] = {_c_array(rows)};",
        "/* per-layer code -> cos / sin tables, lut format */",
        f"static const int32_t hbf_lut_cos[HBF_LAYERS][HBF_MAX_CODES] = {_c_array(padded('cos'))};",
        f"static const int32_t hbf_lut_sin[HBF_LAYERS][HBF_MAX_CODES] = {_c_array(padded('sin'))};",
        f"static const int64_t hbf_n_codes[HBF_LAYERS] = {_c_array([len(layer['cos']) for layer in layers])};",
        "/* F step sizes mu[i][j], step format */",
        f"static const int32_t hbf_mu[HBF_LAYERS][HBF_INNER] = {_c_array(tables['steps']['mu'])};",
    ]
    if search is not None:
        lines += [f"#define HBF_LOG_INDEX_BITS {search['log_index_bits']}",
                  f"#define HBF_LOG_FRAC_BITS {search['log_frac_bits']}",
                  "/* i -> round(log2(1 + i / 2^HBF_LOG_INDEX_BITS) 2^HBF_LOG_FRAC_BITS) */",
                  f"static const int32_t hbf_log2_table[{len(search['log2_table'])}] = "
                  f"{_c_array(search['log2_table'])};"]
    return "\n".join(lines) + "\n\n"


def c_sources(tables: dict[str, Any]) -> dict[str, str]:
    """``hbf_model.h``, ``hbf_model.c`` and ``hbf_check.c`` of a UPGA model's ``lut.json`` tables."""
    body = "".join(_source("hbf_edge.export._core", name) for name in _SHARED)
    model_c = ("/* hbf-edge C datapath of a quantized UPGA model (generated; do not edit). */\n"
               "#include \"hbf_model.h\"\n\n" + _constants(tables) + body + _source("hbf_edge.export.upga", "upga.c"))
    return {"hbf_model.h": _header(tables), "hbf_model.c": model_c,
            "hbf_check.c": _source("hbf_edge.export.upga", "check_main.c")}


def c_vectors(config: Any, arrays: dict[str, np.ndarray], beams: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The harness's test vectors of the beam channels: ``hbf_inputs.bin``, per channel the
    channel, noise and W-step words of :func:`kernels.upga.hardware.prepare_hw_inputs` (the
    kernel's own float/integer boundary), and ``hbf_expected.bin``, what the harness must write
    for them (status 0, then the kernel's codes, W words and datapath counters), so that
    ``hbf_check < hbf_inputs.bin | cmp - hbf_expected.bin`` verifies a target without Python."""
    from hbf_edge.hw.precision import PrecisionConfig
    from hbf_edge.kernels.upga.hardware import prepare_hw_inputs

    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    H = beams["H"]
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
                          arrays["mu"], arrays["lam"], specs[0], specs, xi=config.output_xi)
    B = H.shape[0]
    inputs = np.concatenate([x.h_r.reshape(B, -1), x.h_i.reshape(B, -1), x.noise[:, None], x.lam], axis=1)
    expected = np.concatenate([np.zeros((B, 1), np.int64), beams["codes"].reshape(B, -1), beams["w_re"].reshape(B, -1),
                               beams["w_im"].reshape(B, -1), beams["counters"][:, 1:]], axis=1)
    return {"hbf_inputs.bin": inputs.astype("<i4").tobytes(), "hbf_expected.bin": expected.astype("<i4").tobytes()}


def decode_words(raw: bytes, sizes: dict[str, int], what: str) -> dict[str, np.ndarray]:
    """A harness output (or ``hbf_expected.bin``) by field: ``status``, ``codes``, ``w_re``,
    ``w_im`` and ``counters`` per channel."""
    N, M, K = sizes["N"], sizes["M"], sizes["K"]
    width = 1 + N * M + 2 * M * K + len(DATAPATH_SITES)
    out = np.frombuffer(raw, dtype="<i4")
    if out.size == 0 or out.size % width:
        raise ctool.CBuildError(f"{what} holds {out.size} words, not a whole number of {width}-word channels")
    out = out.reshape(-1, width)
    o = 1 + N * M
    return {"status": out[:, 0], "codes": out[:, 1:o], "W words": out[:, o:o + 2 * M * K],
            "counters": out[:, o + 2 * M * K:].view("<u4")}


def check_c(src: Path, work: Path, tc: ctool.Toolchain = ctool.HOST) -> dict[str, Any]:
    """Compile the C of the bundle (or bundle draft) ``src`` with ``tc`` (into ``work``), run the
    harness on ``hbf_inputs.bin`` and require ``hbf_expected.bin`` (:func:`c_vectors`) word for
    word.  Returns what was checked; raises ``CBuildError`` naming how many channels differ in
    which field."""
    import json

    exe = ctool.build(src, ["hbf_model.c", "hbf_check.c"], work / f"hbf_check.{tc.name}", tc)
    sizes = json.loads((src / "lut.json").read_text())["sizes"]
    expected = decode_words((src / "hbf_expected.bin").read_bytes(), sizes, "hbf_expected.bin")
    raw = ctool.run(exe, (src / "hbf_inputs.bin").read_bytes(), tc)
    got = decode_words(raw, sizes, f"the output of {exe.name} ({tc.name})") if raw else {}
    B = expected["status"].shape[0]
    if not got or got["status"].shape[0] != B:
        raise ctool.CBuildError(f"{exe.name} ({tc.name}) wrote {0 if not got else got['status'].shape[0]} channels "
                                f"for {B}")
    bad = {k: int(np.count_nonzero(np.any(got[k] != v, axis=1) if v.ndim > 1 else got[k] != v))
           for k, v in expected.items()}
    if any(bad.values()):
        raise ctool.CBuildError(f"the C datapath ({tc.name}) disagrees with the hardware kernel: "
                                + ", ".join(f"{k} differ on {v} channels" for k, v in bad.items() if v))
    return {"toolchain": tc.name, "compiler": ctool.compiler_version(tc.cc),
            "flags": " ".join((*ctool.STRICT_FLAGS, *tc.flags)), "channels": B,
            "equals": "hbf_expected.bin: beams.npz codes, W words and overflow counters (hardware kernel)"}
