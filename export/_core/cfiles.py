"""C header and HDL ``$readmemh`` files of the lookup tables, and parsers to read them back."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["c_header", "mem_file", "parse_header", "parse_mem", "mem_files", "size_defines", "format_defines",
           "rom_files"]


def _ctype(bits: int, signed: bool = True) -> str:
    width = 8 if bits <= 8 else 16 if bits <= 16 else 32
    return f"{'' if signed else 'u'}int{width}_t"


def _array(name: str, ctype: str, values: list, comment: str) -> str:
    body = ", ".join(str(v) for v in values)
    return f"/* {comment} */\nstatic const {ctype} {name}[{len(values)}] = {{{body}}};\n"


def _fmt_comment(fmt: dict) -> str:
    return (f"signed Q{fmt['word_bits'] - fmt['frac_bits']}.{fmt['frac_bits']} ({fmt['word_bits']} bits), "
            f"value = word * 2^-{fmt['frac_bits']}, rounding {fmt['rounding']}, "
            f"{'saturating' if fmt['saturate'] else 'wrapping'}")


def size_defines(tables: dict[str, Any]) -> list[str]:
    """``#define HBF_N`` .. ``HBF_PHASE_BITS`` (sizes, and the output codes' phase bits)."""
    s = tables["sizes"]
    return [f"#define HBF_N {s['N']}", f"#define HBF_M {s['M']}", f"#define HBF_K {s['K']}",
            f"#define HBF_LAYERS {s['I']}", f"#define HBF_INNER {s['J']}",
            f"#define HBF_PHASE_BITS {tables['output']['phase_bits']}"]


def format_defines(tables: dict[str, Any]) -> list[str]:
    """``#define HBF_<FORMAT>_WORD_BITS`` and ``_FRAC_BITS`` of every model-wide format (layer 0's)."""
    lines = []
    for name, fmt in tables["formats"].items():
        lines.append(f"#define HBF_{name.upper()}_WORD_BITS {fmt['word_bits']}")
        lines.append(f"#define HBF_{name.upper()}_FRAC_BITS {fmt['frac_bits']}")
    return lines


def c_header(tables: dict[str, Any]) -> str:
    """``lut.h``: ``static const`` tables with their formats in comments and ``#define``s."""
    f = tables["formats"]
    out = tables["output"]
    lines = [
        "/* hbf-edge lookup tables (generated; do not edit). Formats are in the comments. */",
        "#ifndef HBF_EDGE_LUT_H",
        "#define HBF_EDGE_LUT_H",
        "#include <stdint.h>",
        "",
        *size_defines(tables),
        f"#define HBF_N_CODES {len(out['cos'])}",
        *format_defines(tables),
        "",
    ]
    lut_t = _ctype(f["lut"]["word_bits"])
    lines.append(_array("hbf_cos", lut_t, out["cos"], f"code -> cos(2 pi c / 2^{out['phase_bits']}), lut format: {_fmt_comment(f['lut'])}"))
    lines.append(_array("hbf_sin", lut_t, out["sin"], "code -> sin, same format"))
    vm = out["vector_modulator"]
    lines.append(_array("hbf_vm_i", "uint8_t", vm["i"], f"code -> vector-modulator I register: {vm['layout']}"))
    lines.append(_array("hbf_vm_q", "uint8_t", vm["q"], "code -> vector-modulator Q register, same layout"))
    for layer in tables["layers"]:
        i = layer["layer"]
        lines.append(_array(f"hbf_cos_layer{i}", lut_t, layer["cos"], f"layer {i}: {layer['phase_bits']}-bit table (cos)"))
        lines.append(_array(f"hbf_sin_layer{i}", lut_t, layer["sin"], f"layer {i}: {layer['phase_bits']}-bit table (sin)"))
    st = tables["steps"]
    step_t = _ctype(st["format"]["word_bits"])
    mu_flat = [v for row in st["mu"] for v in row]
    lines.append(_array("hbf_mu", step_t, mu_flat, f"mu[i * HBF_INNER + j], step format: {_fmt_comment(st['format'])}"))
    lines.append(_array("hbf_lam", step_t, st["lam"], f"lambda[i], step format; {st['note']}"))
    if tables.get("output_stage") is not None:
        o = tables["output_stage"]
        lines.append(f"/* output stage: {o['note']} */")
        lines.append(f"#define HBF_OUTPUT_XI {o['xi_k_over_n']}  /* xi K / N = {o['xi']} K / N, step format */")
        lines.append("")
        if o.get("code_search") is not None:
            cs = o["code_search"]
            lines.append(f"/* code search before the output stage: {cs['note']} */")
            lines.append(f"#define HBF_SEARCH_SWEEPS {cs['sweeps']}")
            lines.append(f"#define HBF_SEARCH_SPAN {cs['span']}")
            lines.append(f"#define HBF_LOG_INDEX_BITS {cs['log_index_bits']}")
            lines.append(f"#define HBF_LOG_FRAC_BITS {cs['log_frac_bits']}")
            lines.append(_array("hbf_log2", "uint16_t", cs["log2_table"],
                                "i -> round(log2(1 + i / 2^HBF_LOG_INDEX_BITS) * 2^HBF_LOG_FRAC_BITS)"))
    if "sensing" in tables:
        lines += _sensing_arrays(tables["sensing"], f)
    lines += ["#endif /* HBF_EDGE_LUT_H */", ""]
    return "\n".join(lines)


def _sensing_arrays(sen: dict[str, Any], formats: dict[str, Any]) -> list[str]:
    """UPGANet (JCAS): ``Psi_n = N Psi_1`` row-major and the initial codes of the targets."""
    ch = formats["channel"]
    psi_t = _ctype(ch["word_bits"])
    steer = [v for row in sen["steer_codes"] for v in row]
    return [
        f"/* sensing: targets {sen['targets_deg']} deg, omega {sen['omega']}, eta {sen['eta']}; {sen['weights']} */",
        _array("hbf_psi_re", psi_t, [v for row in sen["psi_n_re"] for v in row],
               f"Re(N Psi_1)[n * HBF_N + m], channel format: {_fmt_comment(ch)}"),
        _array("hbf_psi_im", psi_t, [v for row in sen["psi_n_im"] for v in row], "Im(N Psi_1), same layout and format"),
        _array("hbf_steer_codes", "uint8_t" if steer and max(steer) < 256 else "uint16_t", steer,
               "initial codes of RF chains K..M-1 (eq. 17): [n * (HBF_M - HBF_K) + p]"),
    ]


def mem_file(values: list[int], bits: int) -> str:
    """One two's-complement hex word per line, ``ceil(bits / 4)`` digits (``$readmemh``)."""
    digits = (bits + 3) // 4
    mask = (1 << bits) - 1
    return "".join(f"{v & mask:0{digits}x}\n" for v in values)


def mem_files(tables: dict[str, Any]) -> dict[str, str]:
    """The ``.mem`` files of a bundle: output phase table, vector-modulator registers, and each
    distinct per-layer table (``lut_cos_layer<i>.mem``)."""
    lut_bits = tables["formats"]["lut"]["word_bits"]
    out = tables["output"]
    files = {
        "lut_cos.mem": mem_file(out["cos"], lut_bits),
        "lut_sin.mem": mem_file(out["sin"], lut_bits),
        "lut_vm_i.mem": mem_file(out["vector_modulator"]["i"], 8),
        "lut_vm_q.mem": mem_file(out["vector_modulator"]["q"], 8),
    }
    if "sensing" in tables:
        ch_bits = tables["formats"]["channel"]["word_bits"]
        sen = tables["sensing"]
        files["lut_psi_re.mem"] = mem_file([v for row in sen["psi_n_re"] for v in row], ch_bits)
        files["lut_psi_im.mem"] = mem_file([v for row in sen["psi_n_im"] for v in row], ch_bits)
    if len({layer["phase_bits"] for layer in tables["layers"]}) > 1:
        for layer in tables["layers"]:
            files[f"lut_cos_layer{layer['layer']}.mem"] = mem_file(layer["cos"], lut_bits)
            files[f"lut_sin_layer{layer['layer']}.mem"] = mem_file(layer["sin"], lut_bits)
    return files


def rom_files(name: str, defines: dict[str, int], roms: list[tuple[str, Any, dict | int, str]]) -> dict[str, str]:
    """A datapath's constant words as ``<name>.h`` (``static const`` arrays, formats and shapes
    in the comments, ``#define``s) and one ``<rom>.mem`` per array (``$readmemh``).

    ``roms``: ``(array name, int array of any shape (row-major), its word format (a
    ``FixedPointFormat`` dict) or its width in bits (plain signed integers), what it holds)``."""
    import numpy as np

    guard = f"HBF_EDGE_{name.upper()}_H"
    lines = [f"/* hbf-edge {name} ROMs (generated; do not edit). Arrays are row-major; shapes and formats in "
             "the comments. */", f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>", ""]
    lines += [f"#define {k} {v}" for k, v in defines.items()] + [""]
    files = {}
    for rom, values, fmt, what in roms:
        a = np.asarray(values, dtype=np.int64)
        bits = fmt["word_bits"] if isinstance(fmt, dict) else int(fmt)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if a.size and not (lo <= a.min() and a.max() <= hi):
            raise ValueError(f"{rom}: words outside {bits} bits")
        shape = "x".join(str(d) for d in a.shape) or "1"
        form = _fmt_comment(fmt) if isinstance(fmt, dict) else f"signed integers ({bits} bits)"
        lines.append(_array(rom, _ctype(bits), a.ravel().tolist(), f"{what}; [{shape}]; {form}"))
        files[f"{rom}.mem"] = mem_file(a.ravel().tolist(), bits)
    lines += [f"#endif /* {guard} */", ""]
    return {f"{name}.h": "\n".join(lines), **files}


def parse_mem(text: str, bits: int, signed: bool = True) -> list[int]:
    """Words of a ``.mem`` file back as integers."""
    values = []
    for line in text.split():
        v = int(line, 16)
        if signed and v >= 1 << (bits - 1):
            v -= 1 << bits
        values.append(v)
    return values


_ARRAY = re.compile(r"static const (u?int\d+_t) (\w+)\[(\d+)\] = \{([^}]*)\};")


def parse_header(text: str) -> dict[str, list[int]]:
    """``name -> values`` of every ``static const`` array in a header written by :func:`c_header`."""
    out = {}
    for ctype, name, n, body in _ARRAY.findall(text):
        values = [int(v) for v in body.split(",") if v.strip()]
        if len(values) != int(n):
            raise ValueError(f"{name}: declared {n} entries, found {len(values)}")
        out[name] = values
    return out
