"""The C hand-off of a bundle, for every family whose hardware kernel has a C twin:
``hbf_model.h`` / ``hbf_model.c`` (a self-contained C99 library), ``hbf_check.c`` (the test
harness) and its vectors, and the check that compiles and runs them with a toolchain.

The generated part is data only: sizes, site and scalar indices, per-layer format rows and
phase tables and the F step words (from the bundle's ``lut.json``), plus the family's own
constants.  The datapath is hand-written C appended verbatim: the shared primitives
(``_core/c_src/fixed.c``, ``linalg.c``) and the family's ``c_src/`` files.  No dynamic
allocation, no floating point, fixed-width integer types only.

One API for every family::

    int hbf_design(const int32_t h_re[HBF_N * HBF_K], const int32_t h_im[HBF_N * HBF_K],
                   const int32_t scalars[HBF_SCALARS], uint16_t codes[HBF_N * HBF_M],
                   int32_t w_re[HBF_M * HBF_K], int32_t w_im[HBF_M * HBF_K],
                   uint32_t counters[HBF_SITES]);

``scalars`` are the per-channel words the host computes at the float/integer boundary (the
noise word first); the header lists them.  The harness reads ``h_re, h_im, scalars`` per channel
and writes the status, codes, W words and counters, all as little-endian 32-bit words.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.hw.spec import FORMATS
from hbf_edge.kernels._core.tables import ROUNDING_CODES

from hbf_edge.export._core import ctool
from hbf_edge.export._core.cfiles import format_defines, size_defines

__all__ = ["CDatapath", "C_FILES", "VECTOR_FILES", "c_sources", "c_vectors", "check_c", "decode_words", "c_array",
           "c_writer", "input_words"]

C_FILES = ("hbf_model.h", "hbf_model.c", "hbf_check.c")
VECTOR_FILES = ("hbf_inputs.bin", "hbf_expected.bin")
_SHARED = ("fixed.c", "linalg.c")


@dataclasses.dataclass(frozen=True)
class CDatapath:
    """What a family adds to the generated library.

    Attributes
    ----------
    title : str
        First line of both files, e.g. ``"a quantized UPGA model"``.
    sources : tuple of (package, file name)
        Hand-written C appended in order after the shared primitives, each from its package's
        ``c_src/`` (a family may reuse another's datapath).
    sites : tuple of str
        Overflow-counter sites of the integer datapath, in ``counters[]`` order.
    scalars : tuple of str
        One line per per-channel scalar word (the noise word first); ``"lam"`` stands for the
        ``HBF_LAYERS`` W-step words.
    description : tuple of str
        The header's lines on what ``hbf_design`` computes.
    constants : str
        The family's own constants (C text), after the shared ones.
    """

    title: str
    sources: tuple[tuple[str, str], ...]
    sites: tuple[str, ...]
    scalars: tuple[str, ...]
    description: tuple[str, ...]
    constants: str = ""

    def n_scalars(self, n_layers: int) -> int:
        return sum(n_layers if s.startswith("lam") else 1 for s in self.scalars)


def _source(package: str, name: str) -> str:
    return resources.files(package).joinpath("c_src", name).read_text()


def _row(fmt: dict[str, Any]) -> list[int]:
    """``{frac_bits, min_int, max_int, rounding, saturate}`` (kernels/_core/tables.format_row)."""
    w = fmt["word_bits"]
    return [fmt["frac_bits"], -(1 << (w - 1)), (1 << (w - 1)) - 1, ROUNDING_CODES[fmt["rounding"]],
            int(bool(fmt["saturate"]))]


def c_array(values: Any) -> str:
    """A (nested) list of integers as a C initialiser."""
    if isinstance(values, (list, tuple)):
        return "{" + ", ".join(c_array(v) for v in values) + "}"
    return str(int(values))


def _header(tables: dict[str, Any], dp: CDatapath) -> str:
    s = tables["sizes"]
    out_pre = tables["output"]["precoder"]
    lines = [f"/* hbf-edge C datapath of {dp.title} (generated; do not edit)."]
    lines += [f" * {line}" for line in dp.description]
    lines += [
        " *",
        " * hbf_design(h_re, h_im, scalars, codes, w_re, w_im, counters) designs one channel:",
        " *   h_re, h_im  H[n][k] in the channel format, row-major [HBF_N][HBF_K]",
        " *   scalars     per-channel words the host computes (kernels/upga/hardware.py prepare_hw_inputs):",
        *(f" *     {line}" for line in dp.scalars),
        " *   codes       [HBF_N][HBF_M] phase codes (2 pi c / 2^Q, the last layer's Q)",
        " *   w_re, w_im  [HBF_M][HBF_K] W words in the last layer's precoder format, power-normalised",
        " *               (||F W||_F^2 = N; the applied precoder is sqrt(P_t / N) W)",
        " *   counters    overflow events per site (HBF_SITE_*)",
        " * It returns 0, or HBF_EINPUT (outputs untouched) if an input word lies outside its format. */",
        "#ifndef HBF_MODEL_H",
        "#define HBF_MODEL_H",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        *size_defines(tables),
        f"#define HBF_DMAX {max(s['M'], s['K'])}  /* largest matrix inverted (2 HBF_DMAX real rows) */",
        *format_defines(tables),
        f"#define HBF_W_WORD_BITS {out_pre['word_bits']}  /* the output W words */",
        f"#define HBF_W_FRAC_BITS {out_pre['frac_bits']}",
        "",
        f"#define HBF_SCALARS {dp.n_scalars(s['I'])}",
        f"#define HBF_SITES {len(dp.sites)}",
        *(f"#define HBF_SITE_{site.upper()} {i}" for i, site in enumerate(dp.sites)),
        "#define HBF_EINPUT (-1)",
        "",
        "int hbf_design(const int32_t h_re[HBF_N * HBF_K], const int32_t h_im[HBF_N * HBF_K],",
        "               const int32_t scalars[HBF_SCALARS], uint16_t codes[HBF_N * HBF_M],",
        "               int32_t w_re[HBF_M * HBF_K], int32_t w_im[HBF_M * HBF_K], uint32_t counters[HBF_SITES]);",
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

    lines = [
        "/* ---- Model constants (generated from lut.json) */",
        *(f"#define HBF_{name} {i}" for i, name in enumerate(("CH", "LUT", "ACC", "GRD", "STP", "PRE"))),
        f"#define HBF_MAX_CODES {n_max}",
        "/* format rows per layer {frac_bits, min_int, max_int, rounding (0 half_up, 1 half_even, 2 floor),",
        f" * saturate}} in the order {', '.join(FORMATS)} */",
        f"static const int64_t hbf_formats[HBF_LAYERS][{len(FORMATS)}][5] = {c_array(rows)};",
        "/* per-layer code -> cos / sin tables, lut format */",
        f"static const int32_t hbf_lut_cos[HBF_LAYERS][HBF_MAX_CODES] = {c_array(padded('cos'))};",
        f"static const int32_t hbf_lut_sin[HBF_LAYERS][HBF_MAX_CODES] = {c_array(padded('sin'))};",
        f"static const int64_t hbf_n_codes[HBF_LAYERS] = {c_array([len(layer['cos']) for layer in layers])};",
        "/* F step sizes mu[i][j], step format (lut.json steps.mu) */",
        f"static const int32_t hbf_mu[HBF_LAYERS][HBF_INNER] = {c_array(tables['steps']['mu'])};",
    ]
    return "\n".join(lines) + "\n"


def c_sources(tables: dict[str, Any], dp: CDatapath) -> dict[str, str]:
    """``hbf_model.h``, ``hbf_model.c`` and ``hbf_check.c`` of a model's ``lut.json`` tables."""
    body = "".join(_source("hbf_edge.export._core", name) for name in _SHARED)
    body += "".join(_source(package, name) for package, name in dp.sources)
    model_c = (f"/* hbf-edge C datapath of {dp.title} (generated; do not edit). */\n#include \"hbf_model.h\"\n\n"
               + _constants(tables) + dp.constants + "\n" + body)
    return {"hbf_model.h": _header(tables, dp), "hbf_model.c": model_c,
            "hbf_check.c": _source("hbf_edge.export._core", "check_main.c")}


def input_words(x: Any, *scalars: np.ndarray) -> np.ndarray:
    """``[B, 2NK + HBF_SCALARS]``: the channel words of ``x`` (a
    :class:`kernels.upga.hardware.HwInputs`, the kernel's float/integer boundary), its noise and
    W-step words, then the family's further per-channel ``scalars`` ([B] each)."""
    B = x.h_r.shape[0]
    return np.concatenate([x.h_r.reshape(B, -1), x.h_i.reshape(B, -1), x.noise[:, None], x.lam,
                           *(np.asarray(v)[:, None] for v in scalars)], axis=1)


def c_vectors(inputs: np.ndarray, beams: dict[str, np.ndarray]) -> dict[str, bytes]:
    """``hbf_inputs.bin`` (``inputs [B, 2NK + HBF_SCALARS]``: the channel words, then the scalar
    words, as the family's kernel quantises them) and ``hbf_expected.bin`` (status 0, the
    kernel's codes, W words and datapath counters, columns 1.. of ``beams["counters"]``), so
    that ``hbf_check < hbf_inputs.bin | cmp - hbf_expected.bin`` verifies a target without
    Python."""
    B = inputs.shape[0]
    expected = np.concatenate([np.zeros((B, 1), np.int64), beams["codes"].reshape(B, -1), beams["w_re"].reshape(B, -1),
                               beams["w_im"].reshape(B, -1), beams["counters"][:, 1:]], axis=1)
    return {"hbf_inputs.bin": np.asarray(inputs).astype("<i4").tobytes(),
            "hbf_expected.bin": expected.astype("<i4").tobytes()}


def _sizes(header: str) -> dict[str, int]:
    """``N``, ``M``, ``K``, ``SITES`` and ``SCALARS`` from ``hbf_model.h``."""
    found = dict(re.findall(r"^#define HBF_(N|M|K|SITES|SCALARS) (\d+)", header, flags=re.M))
    if set(found) != {"N", "M", "K", "SITES", "SCALARS"}:
        raise ctool.CBuildError("hbf_model.h does not define HBF_N, HBF_M, HBF_K, HBF_SITES and HBF_SCALARS")
    return {k: int(v) for k, v in found.items()}


def decode_words(raw: bytes, sizes: dict[str, int], what: str) -> dict[str, np.ndarray]:
    """A harness output (or ``hbf_expected.bin``) by field: ``status``, ``codes``, ``W words``
    and ``counters`` per channel; ``sizes`` as ``hbf_model.h`` defines them."""
    N, M, K = sizes["N"], sizes["M"], sizes["K"]
    width = 1 + N * M + 2 * M * K + sizes["SITES"]
    out = np.frombuffer(raw, dtype="<i4")
    if out.size == 0 or out.size % width:
        raise ctool.CBuildError(f"{what} holds {out.size} words, not a whole number of {width}-word channels")
    out = out.reshape(-1, width)
    o = 1 + N * M
    return {"status": out[:, 0], "codes": out[:, 1:o], "W words": out[:, o:o + 2 * M * K],
            "counters": out[:, o + 2 * M * K:].view("<u4")}


def check_c(src: Path, work: Path, tc: ctool.Toolchain = ctool.HOST) -> dict[str, Any]:
    """Compile the C of the bundle (or bundle draft) ``src`` with ``tc`` (into ``work``), run the
    harness on ``hbf_inputs.bin`` and require ``hbf_expected.bin`` word for word.  Returns what
    was checked; raises ``CBuildError`` naming how many channels differ in which field."""
    exe = ctool.build(src, ["hbf_model.c", "hbf_check.c"], ctool.harness(work, tc), tc)
    sizes = _sizes((src / "hbf_model.h").read_text())
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


def c_writer(input_words: Callable[[], np.ndarray], beams: dict[str, np.ndarray]) -> tuple[str, Callable]:
    """The bundle writer's (what, write) pair of the C datapath: write the test vectors and, when
    the host has a C compiler, check them (:func:`check_c`, recorded in the manifest's
    ``verified``; without one, recorded as not checked)."""
    import tempfile

    def write(tmp: Path) -> dict[str, Any]:
        for name, data in c_vectors(input_words(), beams).items():
            (tmp / name).write_bytes(data)
        if not ctool.HOST.available():
            return {"hbf_model.c": {"toolchain": "host", "checked": False, "why": "no C compiler (cc) on PATH"}}
        with tempfile.TemporaryDirectory(prefix="hbf_c_") as work:
            return {"hbf_model.c": check_c(tmp, Path(work))}

    return f"the C datapath, compiled and checked against the kernel on {beams['codes'].shape[0]} beams", write
