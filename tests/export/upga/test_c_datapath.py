"""The generated C datapath (``hbf_model.c``) against the Numba hardware kernel: codes, W words
and per-site overflow counters, natively (strict warnings, then with UBSan and ASan) and, under
the ``arm`` marker, cross-compiled for 32-bit ARM and run under qemu-arm, plus the Cortex-M4
build (size, no soft-float calls).

The two models cover the whole contract: a plain one, and one with every option the datapath
has -- per-layer phase bits and precoder formats (the W re-rounding between layers), all three
rounding rules, a wrapping format, a narrow precoder that saturates, the output stage and the
code search.
"""

import json
import re

import numpy as np
import pytest

from helpers import quantized_model_dir, require_toolchain as _tool_or_skip
from hbf_edge.export._core import ctool
from hbf_edge.export._core.tables import build_tables
from hbf_edge.export.upga.bundle import design_beams
from hbf_edge.export._core.cmodel import c_vectors, check_c, decode_words
from hbf_edge.export.upga.c_model import DATAPATH_SITES, upga_c_files, upga_input_words
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.modelfiles import read_model_dir

CASES = {
    "plain": dict(n_antennas=8, n_layers=2, precision={"default": {"phase_bits": 4}}),
    "every_option": dict(
        n_antennas=16, n_layers=3, xi=1.0, search={"sweeps": 2, "span": 2},
        precision={
            "default": {"phase_bits": 3,
                        "gradient": {"word_bits": 19, "frac_bits": 16, "rounding": "half_even"},
                        "accumulator": {"word_bits": 32, "frac_bits": 16, "rounding": "floor"},
                        "precoder": {"word_bits": 6, "frac_bits": 5}},
            "layers": {"1": {"phase_bits": 5, "precoder": {"word_bits": 12, "frac_bits": 10, "rounding": "half_even"}}},
        }),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    """(source dir, config, arrays, beams) of a quantized model on 48 channels at 10 dB."""
    kw = dict(CASES[request.param])
    root = tmp_path_factory.mktemp(request.param)
    quantized_model_dir(root, kw.pop("n_antennas"), kw.pop("n_layers"), kw.pop("precision"), **kw)
    if request.param == "every_option":  # the kernel can wrap; QAT cannot train with it, so edit it in
        cfg = json.loads((root / "q" / "config.json").read_text())
        cfg["precision"]["default"]["gradient"]["saturate"] = False
        (root / "q" / "config.json").write_text(json.dumps(cfg))
    config, arrays = read_model_dir(root / "q")
    specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
    rng = np.random.default_rng(7)
    shape = (48, config.spec.n_antennas, 4)
    H = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    beams = design_beams(config, arrays, H, 10.0, 1.0)
    src = root / "c"
    src.mkdir()
    tables = build_tables(config, specs, arrays)
    for name, text in upga_c_files(tables).items():
        (src / name).write_text(text)
    for name, data in c_vectors(upga_input_words(config, arrays, beams), beams).items():
        (src / name).write_bytes(data)
    (src / "lut.json").write_text(json.dumps(tables))
    return src, config, arrays, beams


@pytest.mark.parametrize("case", ["every_option"], indirect=True)
def test_the_option_rich_case_reaches_what_it_claims(case):
    """The comparison means something: the option-rich model overflows at two sites (a narrow,
    wrapping gradient format), and its generated C holds the half-even, wrapping and floor rows
    and layers of different phase bits."""
    src, _, _, beams = case
    counts = dict(zip(DATAPATH_SITES, beams["counters"][:, 1:].sum(axis=0)))
    assert counts["grad_W"] > 0 and counts["norm"] > 0
    rows = (src / "hbf_model.c").read_text()
    assert "{16, -262144, 262143, 1, 0}" in rows  # the gradient row: half_even (1), wrapping (0)
    assert "{16, -2147483648, 2147483647, 2, 1}" in rows  # the accumulator: floor (2)
    assert "hbf_n_codes[HBF_LAYERS] = {8, 32, 8}" in rows  # Q = 3, 5, 3


@pytest.mark.parametrize("tc", [ctool.HOST, ctool.HOST_SANITIZED], ids=lambda t: t.name)
def test_native_equals_the_kernel(case, tc, tmp_path):
    src, config, arrays, beams = case
    _tool_or_skip(tc)
    done = check_c(src, tmp_path, tc)
    assert done["channels"] == 48 and "-Werror" in done["flags"]


@pytest.mark.arm
def test_arm32_under_qemu_equals_the_kernel(case, tmp_path):
    src, config, arrays, beams = case
    _tool_or_skip(ctool.ARM32)
    assert check_c(src, tmp_path, ctool.ARM32)["toolchain"] == "arm-linux-gnueabihf"


@pytest.mark.arm
@pytest.mark.parametrize("case", ["plain"], indirect=True)  # single-stepping the code search takes minutes
def test_arm_instruction_count_is_per_channel_and_repeatable(case, tmp_path):
    """qemu's single-step log counted through a pipe: positive and the same twice (qemu-user is
    deterministic for a static binary on the same input)."""
    src, config = case[0], case[1]
    _tool_or_skip(ctool.ARM32)
    exe = ctool.build(src, ["hbf_model.c", "hbf_check.c"], tmp_path / "exe", ctool.ARM32)
    width = 2 * config.spec.n_antennas * 4 + 1 + config.n_layers
    one = (src / "hbf_inputs.bin").read_bytes()[:4 * width]
    first = ctool.arm_instructions(exe, one)
    assert first == ctool.arm_instructions(exe, one)
    assert first > 2_000


@pytest.mark.arm
def test_cortex_m4_build_has_no_floating_point(case, tmp_path):
    src = case[0]
    _tool_or_skip(ctool.CORTEX_M4)
    size = ctool.cortex_m4_size(src, "hbf_model.c", tmp_path)
    assert size["text"] > 1000 and size["data"] == 0 and size["bss"] == 0  # tables are const, state on the stack
    assert ctool.soft_float_calls(tmp_path / "hbf_model.m4.o") == []


def _code_tokens(c_text):
    text = re.sub(r"/\*.*?\*/", " ", c_text, flags=re.S)
    text = re.sub(r'"([^"\\]|\\.)*"', " ", text)
    return set(re.findall(r"[A-Za-z_]\w*", text))


def test_the_library_has_no_float_no_allocation_and_fixed_width_types(case):
    src = case[0]
    tokens = _code_tokens((src / "hbf_model.c").read_text()) | _code_tokens((src / "hbf_model.h").read_text())
    assert not tokens & {"float", "double", "malloc", "calloc", "realloc", "free", "alloca"}
    assert not tokens & {"int", "long", "short"} - {"int"}  # only fixed-width integers (int: flags and sites)
    assert "int64_t" in tokens and "stdio" not in tokens


def test_the_check_catches_one_changed_word(case, tmp_path):
    """One table word changed in the generated C (sin of layer 0's code 1, negated) makes the
    check fail, naming what differs."""
    src, config, arrays, beams = case
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("hbf_model.h", "hbf_check.c", "lut.json", "hbf_inputs.bin", "hbf_expected.bin"):
        (bad / name).write_bytes((src / name).read_bytes())
    text = (src / "hbf_model.c").read_text()
    m = re.search(r"hbf_lut_sin\[HBF_LAYERS\]\[HBF_MAX_CODES\] = \{\{0, (\d+)", text)
    (bad / "hbf_model.c").write_text(text[:m.start(1)] + "-" + m[1] + text[m.end(1):])
    with pytest.raises(ctool.CBuildError, match="disagrees with the hardware kernel: codes differ on [1-9]"):
        check_c(bad, tmp_path)


def test_an_input_word_outside_its_format_is_refused(case, tmp_path):
    src, config, _, beams = case
    _tool_or_skip(ctool.HOST)
    exe = ctool.build(src, ["hbf_model.c", "hbf_check.c"], tmp_path / "exe", ctool.HOST)
    n_in = 2 * config.spec.n_antennas * 4 + 1 + config.n_layers
    words = np.frombuffer((src / "hbf_inputs.bin").read_bytes(), "<i4").reshape(-1, n_in)[:3].copy()
    words[1, 0] = 1 << 20  # beyond a 16-bit channel word
    words[2, n_in - config.n_layers - 1] = 0  # the noise word must be >= 1
    got = decode_words(ctool.run(exe, words.tobytes(), ctool.HOST), {"N": config.spec.n_antennas, "M": 4, "K": 4, "SITES": 14}, "out")
    assert got["status"].tolist() == [0, -1, -1]
    assert np.array_equal(got["codes"][0], beams["codes"][0].ravel())


def test_the_vectors_hold_the_kernels_outputs(case):
    src, config, _, beams = case
    exp = decode_words((src / "hbf_expected.bin").read_bytes(), {"N": config.spec.n_antennas, "M": 4, "K": 4, "SITES": 14}, "exp")
    assert np.array_equal(exp["codes"], beams["codes"].reshape(48, -1))
    assert np.array_equal(exp["counters"], beams["counters"][:, 1:])
    assert not exp["status"].any()


def test_the_sanitizer_build_can_fail(tmp_path):
    """The sanitizer run is a real check: a signed overflow in C aborts it with a one-line error."""
    _tool_or_skip(ctool.HOST_SANITIZED)
    (tmp_path / "ub.c").write_text("#include <stdint.h>\n#include <stdio.h>\nint main(void) {\n"
                                   "    int64_t x = INT64_MAX;\n    volatile int64_t one = 1;\n"
                                   "    printf(\"%lld\\n\", (long long)(x + one));\n    return 0;\n}\n")
    exe = ctool.build(tmp_path, ["ub.c"], tmp_path / "ub", ctool.HOST_SANITIZED)
    with pytest.raises(ctool.CBuildError, match="exited with 1: .*signed integer overflow"):
        ctool.run(exe, b"", ctool.HOST_SANITIZED)


def test_a_missing_toolchain_is_one_line(monkeypatch, tmp_path):
    tc = ctool.Toolchain("nowhere", "no-such-cc-hbf")
    with pytest.raises(ctool.CBuildError, match="needs no-such-cc-hbf on PATH"):
        ctool.build(tmp_path, ["x.c"], tmp_path / "x", tc)
