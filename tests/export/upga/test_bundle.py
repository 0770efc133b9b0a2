"""The bundle: tables equal the kernel's, the C header compiles, corruption is detected."""

import json
import shutil
import subprocess
import tempfile

from pathlib import Path

import numpy as np
import pytest
import torch

from hbf_edge import kernels
from hbf_edge.export import (
    SCHEMA_VERSION,
    BundleError,
    parse_header,
    parse_mem,
    read_bundle,
    vector_modulator_table,
    write_bundle,
)
from hbf_edge.export._core.bundle import _manifest_digest
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.families.upga.model import UPGA
from helpers import off_by_one_quant_onnx, quantized_model_dir
from hbf_edge.kernels.upga.hardware import output_stage_word
from hbf_edge.quant.upga.evaluate import quantized_design


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    precision, q = quantized_model_dir(root, 16, 3, {"default": {"phase_bits": 3, "precoder": {"word_bits": 12, "frac_bits": 10}},
                                                     "layers": {"0": {"phase_bits": 5}}}, xi=0.75)
    H = saleh_valenzuela_miso(12, 16, 4, seed=4)
    path = write_bundle(root / "q", root / "bundle", H, snr_db=15.0)
    return root, path, precision, q, H


def test_tables_round_trip_and_equal_the_kernels(bundle):
    _, path, precision, q, _ = bundle
    b = read_bundle(path)
    lut = b.lut()
    specs = precision.layer_specs()
    header = parse_header(b.text("lut.h"))
    bits = lut["formats"]["lut"]["word_bits"]
    for layer, spec in zip(lut["layers"], specs):
        c, s = kernels.phase_lut(spec)  # what the hardware kernel computes with
        assert layer["cos"] == c.tolist() and layer["sin"] == s.tolist()
        assert header[f"hbf_cos_layer{layer['layer']}"] == layer["cos"]
        assert parse_mem(b.text(f"lut_sin_layer{layer['layer']}.mem"), bits) == layer["sin"]
    out = lut["output"]
    assert out["phase_bits"] == 3 and out["cos"] == kernels.phase_lut(specs[-1])[0].tolist()
    assert header["hbf_cos"] == out["cos"] == parse_mem(b.text("lut_cos.mem"), bits)
    assert header["hbf_sin"] == out["sin"] == parse_mem(b.text("lut_sin.mem"), bits)
    vm = out["vector_modulator"]
    assert header["hbf_vm_i"] == vm["i"] == parse_mem(b.text("lut_vm_i.mem"), 8, signed=False)
    assert header["hbf_vm_q"] == vm["q"] == parse_mem(b.text("lut_vm_q.mem"), 8, signed=False)
    words, _ = specs[0].step.quantize(q.mu.detach().numpy())
    assert header["hbf_mu"] == words.ravel().tolist() == [v for row in lut["steps"]["mu"] for v in row]
    xi_word = output_stage_word(0.75, specs[-1])
    assert lut["output_stage"]["xi"] == 0.75 and lut["output_stage"]["xi_k_over_n"] == xi_word == round(0.75 / 4 * 2**24)
    assert f"#define HBF_OUTPUT_XI {xi_word} " in b.text("lut.h")


def test_header_compiles_and_prints_the_tables(bundle, tmp_path):
    _, path, _, _, _ = bundle
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\n#include "lut.h"\nint main(void){for(int c=0;c<HBF_N_CODES;c++)'
                   'printf("%d %d %u %u\\n",hbf_cos[c],hbf_sin[c],hbf_vm_i[c],hbf_vm_q[c]);return 0;}\n')
    exe = tmp_path / "main"
    subprocess.run([gcc, "-std=c99", "-Wall", "-Werror", "-Wno-unused-const-variable", "-I", str(path), str(src),
                    "-o", str(exe)], check=True, capture_output=True)
    rows = [list(map(int, line.split())) for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                                         check=True).stdout.splitlines()]
    out = json.loads((path / "lut.json").read_text())["output"]
    assert [r[0] for r in rows] == out["cos"] and [r[1] for r in rows] == out["sin"]
    assert [r[2] for r in rows] == out["vector_modulator"]["i"] and [r[3] for r in rows] == out["vector_modulator"]["q"]


def test_beams_are_the_hardware_kernels_and_the_qat_models(bundle):
    _, path, precision, q, H = bundle
    beams = read_bundle(path).beams()
    assert np.array_equal(beams["H"], H) and np.allclose(beams["p_t"], 10**1.5)
    specs = precision.layer_specs()
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"],
                                 beams["noise"], q.mu.detach().numpy(), q.lam.detach().numpy(), specs[0], specs,
                                 xi=q.output_xi)
    assert np.array_equal(beams["codes"], hw.codes) and np.array_equal(beams["w_re"], hw.w_re)
    assert np.array_equal(beams["w_im"], hw.w_im)
    assert int(beams["phase_bits"]) == 3 and int(beams["w_frac_bits"]) == 10
    codes, _, _ = quantized_design(q, H, beams["p_t"], beams["noise"])
    assert np.array_equal(codes, beams["codes"])


def test_a_bundle_with_the_code_search(tmp_path):
    """The beams are the kernel's with the search; the quantized graph stops before the search and
    the kernel's search on its codes gives the beams (checked by the writer); lut.json and lut.h
    carry the search's settings and log2 table."""
    from hbf_edge.kernels.upga import _search as _search_fixed

    precision, q = quantized_model_dir(tmp_path, 16, 3, {"default": {"phase_bits": 2}}, xi=1.0,
                                       search={"sweeps": 2, "span": 1})
    H = saleh_valenzuela_miso(10, 16, 4, seed=9)
    b = read_bundle(write_bundle(tmp_path / "q", tmp_path / "bundle", H, snr_db=20.0))
    beams = b.beams()
    specs = precision.layer_specs()
    args = (np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
            q.mu.detach().numpy(), q.lam.detach().numpy(), specs[0], specs)
    searched = kernels.upga_forward_hw(*args, xi=1.0, search=kernels.CodeSearch(2, 1))
    plain = kernels.upga_forward_hw(*args, xi=1.0)
    assert np.array_equal(beams["codes"], searched.codes) and np.array_equal(beams["w_re"], searched.w_re)
    assert not np.array_equal(beams["codes"], plain.codes)
    assert "code search" in b.manifest["verified"]["model.qcdq.onnx"]["equals"]
    cs = b.lut()["output_stage"]["code_search"]
    assert (cs["sweeps"], cs["span"]) == (2, 1) and cs["log2_table"] == _search_fixed.log2_table().tolist()
    header = parse_header(b.text("lut.h"))
    assert header["hbf_log2"] == cs["log2_table"] and "#define HBF_SEARCH_SWEEPS 2" in b.text("lut.h")


def test_every_flipped_byte_is_detected(bundle, tmp_path):
    _, path, _, _, _ = bundle
    for f in sorted(p.name for p in path.iterdir()):
        copy = tmp_path / f"b_{f}"
        shutil.copytree(path, copy)
        data = bytearray((copy / f).read_bytes())
        data[len(data) // 2] ^= 0x01
        (copy / f).write_bytes(bytes(data))
        with pytest.raises(BundleError):
            read_bundle(copy)


def test_missing_files_unknown_schema_and_no_overwrite(bundle, tmp_path):
    root, path, _, _, H = bundle
    copy = tmp_path / "missing"
    shutil.copytree(path, copy)
    (copy / "lut_vm_q.mem").unlink()
    with pytest.raises(BundleError, match="missing"):
        read_bundle(copy)
    copy = tmp_path / "future"
    shutil.copytree(path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="schema version"):
        read_bundle(copy)
    with pytest.raises(BundleError, match="not a bundle"):
        read_bundle(tmp_path)
    with pytest.raises(BundleError, match="exists"):
        write_bundle(root / "q", path, H)
    with pytest.raises(BundleError, match="float model"):
        write_bundle(root / "float", tmp_path / "new", H)
    assert not (tmp_path / "new").exists()


def test_vector_modulator_registers():
    i, q = vector_modulator_table(7)
    assert len(i) == 128
    assert (i[0], q[0]) == (0x20 | 31, 0x20 | 0)  # 0 degrees: +I full, +Q zero
    assert (i[64], q[64]) == (31, 0x20 | 0)  # 180 degrees: -I full
    assert (i[32], q[32]) == (0x20 | 0, 0x20 | 31)  # 90 degrees
    assert np.all((i & 0x1F) <= 31) and np.all(i >> 6 == 0)


def test_export_command(bundle, tmp_path, capsys):
    from hbf_edge.channels import make_dataset
    from hbf_edge.cli import main

    root, _, _, _, _ = bundle
    ch = make_dataset(n_channels=3, n_antennas=16, n_users=4, seed=8).save(tmp_path / "ch.npz")
    # one export (each builds and checks three graphs, ~20 s): the channels file and the SNR option
    assert main(["export", str(root / "q"), "--out", str(tmp_path / "b"), "--channels", str(ch), "--snr", "0"]) == 0
    assert read_bundle(tmp_path / "b").beams()["codes"].shape == (3, 16, 4)
    assert read_bundle(tmp_path / "b").manifest["beams"] == {"snr_db": 0.0, "noise_power": 1.0, "n_channels": 3}
    capsys.readouterr()
    assert main(["export", str(root / "float"), "--out", str(tmp_path / "b3")]) == 2
    assert "float model" in capsys.readouterr().err
    wrong = make_dataset(n_channels=2, n_antennas=8, n_users=4, seed=8).save(tmp_path / "n8.npz")
    assert main(["export", str(root / "q"), "--out", str(tmp_path / "b4"), "--channels", str(wrong)]) == 2
    assert not (tmp_path / "b3").exists() and not (tmp_path / "b4").exists()


def test_float_onnx_equals_torch(bundle):
    """onnxruntime on model.onnx equals the torch float model (same step sizes), float32."""
    from hbf_edge.export.upga.onnx_float import run_onnx

    root, path, _, q, _ = bundle
    import onnx

    proto = onnx.load(str(path / "model.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["N"] == "16" and meta["I"] == "3" and meta["phase_bits"] == "3" and meta["family"] == "upga"
    assert proto.opset_import[0].version >= 17
    model = UPGA(3, 1, 4)
    with torch.no_grad():
        model.mu.copy_(q.mu)
        model.lam.copy_(q.lam)
    H = saleh_valenzuela_miso(1000, 16, 4, seed=5)
    rng = np.random.default_rng(1)
    p_t, noise = (10 ** (rng.uniform(-10, 20, 1000) / 10)).astype(np.float32), np.ones(1000, np.float32)
    outs = run_onnx(path / "model.onnx", H, p_t, noise)
    with torch.no_grad():
        ref = model(*[torch.from_numpy(a) for a in (H.real.astype(np.float32), H.imag.astype(np.float32), p_t, noise)])
    for a, r in zip(outs, ref):
        assert np.abs(a - r.numpy()).max() / np.abs(r.numpy()).max() < 1e-5


def test_bundle_holds_both_quantized_graphs_checked_against_the_kernel(bundle):
    _, path, _, _, _ = bundle
    manifest = read_bundle(path).manifest
    assert {"model.qcdq.onnx", "model.qonnx.onnx"} <= set(manifest["files"])
    assert manifest["verified"]["model.qcdq.onnx"]["channels"] == 12


def test_bundle_holds_the_c_datapath_checked_against_the_kernel(bundle):
    """The C library and its harness are bundle members; the writer compiled them with the host
    compiler (strict flags) and checked them on the beams; beams.npz keeps the counters per site."""
    from hbf_edge.families.upga.config import COUNTER_SITES

    _, path, _, _, _ = bundle
    b = read_bundle(path)
    assert {"hbf_model.h", "hbf_model.c", "hbf_check.c"} <= set(b.manifest["files"])
    done = b.manifest["verified"]["hbf_model.c"]
    assert done["channels"] == 12 and "-Werror" in done["flags"] and "counters" in done["equals"]
    beams = b.beams()
    assert beams["counters"].shape == (12, len(COUNTER_SITES))
    assert np.array_equal(beams["counters"].sum(axis=1), beams["overflows"])


def test_firmware_command_verifies_the_bundle_and_refuses_what_it_cannot(bundle, tmp_path, capsys):
    """`hbf-edge firmware` on the host target: equal on every beam, firmware.json written; an
    unknown target, a release-0.1 bundle (no C) and a bundle whose vectors were altered are one line each."""
    import json
    import shutil

    from hbf_edge.cli import main

    _, path, _, _, _ = bundle
    assert main(["firmware", str(path), "--target", "host", "--out", str(tmp_path / "fw"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "host        equal to the kernel on 12 channels" in out
    report = json.loads((tmp_path / "fw" / "firmware.json").read_text())
    assert report["targets"]["host"]["channels"] == 12 and report["schema"] == "hbf-edge/firmware/1"
    assert main(["firmware", str(path), "--target", "host,pdp11", "--out", str(tmp_path / "x")]) == 2
    assert "unknown target(s) pdp11" in capsys.readouterr().err
    old = Path(__file__).parents[2] / "refs" / "v1" / "upga_bundle"
    assert main(["firmware", str(old), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "has no C datapath" in err and len(err.strip().splitlines()) == 1
    forged = tmp_path / "forged"
    shutil.copytree(path, forged)
    (forged / "hbf_expected.bin").write_bytes(b"\0" * 8)
    assert main(["firmware", str(forged), "--target", "host", "--out", str(tmp_path / "z")]) == 2
    assert "hbf_expected.bin has been altered" in capsys.readouterr().err


def test_export_refuses_a_quantized_graph_that_disagrees_with_the_kernel(bundle, tmp_path, monkeypatch):
    root, _, _, _, H = bundle
    off_by_one_quant_onnx(monkeypatch)
    with pytest.raises(BundleError, match="1 codes and 0 W words differ"):
        write_bundle(root / "q", tmp_path / "b", H, snr_db=15.0)
    assert not (tmp_path / "b").exists()


def test_the_graphs_of_a_second_process_are_those_of_this_one(bundle, tmp_path, monkeypatch):
    """``export._core.side``: the quantized graphs built by ``python -m
    hbf_edge.export._core.side`` (a fresh ``hbf-edge export``) are byte for byte those the
    fixture's bundle built in this process, and pass the check on the searched codes of a model
    with a code search (the graphs stop before it); nothing of the second process is left."""
    from hbf_edge.export._core import side
    from hbf_edge.export.upga import bundle as upga_bundle

    root, path, _, _, H = bundle
    model = tmp_path / "q_search"
    shutil.copytree(root / "q", model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["quantization"]["code_search"] = {"sweeps": 1, "span": 1}
    (model / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("HBF_EDGE_GRAPH_CACHE", "off")  # traced by the second process, not taken from the cache
    monkeypatch.setattr(upga_bundle, "quantized_graphs_aside", lambda: True)
    started, real = [], side.graph_process
    monkeypatch.setattr(side, "graph_process", lambda *args: started.append(args) or real(*args))
    manifest = read_bundle(write_bundle(model, tmp_path / "b", H[:6], snr_db=15.0)).manifest
    assert [(a[1], str(a[2])) for a in started] == [("hbf_edge.export.upga.onnx_quant:write_quant_graphs", str(model))]
    assert "after the kernel's code search" in manifest["verified"]["model.qcdq.onnx"]["equals"]
    for name in ("model.qonnx.onnx", "model.qcdq.onnx"):
        assert manifest["files"][name] == read_bundle(path).manifest["files"][name], name
    assert not list(tmp_path.glob("hbf-edge-side-*"))


def test_bench_onnx_command_reports_full_agreement(bundle, capsys):
    from hbf_edge.cli import main

    root, path, _, _, _ = bundle
    assert main(["bench", "onnx", str(root / "q"), str(path), "--count", "40", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["channels"] == 40 and report["phase_bits"] == [5, 3, 3]
    assert 0 < report["qonnx_quant_nodes"] < report["nodes"]["qonnx"]
    for key in ("codes_equal_qat_model", "codes_equal_kernel", "w_words_equal_qat_model", "w_words_equal_kernel"):
        assert report[key] == 1.0
    assert main(["bench", "onnx", str(root / "q"), str(root / "float")]) == 2  # not a bundle
