"""The MSER transceiver bundle through the controller: K + 1 front ends programmed per design,
codes read back, the applied beams scored by the simulator's own SER (numpy only) against the
toolkit's score of the same words; calibration errors, tampering and misuse."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hbf_edge import firmware_sim
from hbf_edge.cli import main
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels

TINY = ["--n-tx", "8", "--n-rf-tx", "4", "--users", "2", "--n-rx", "4", "--n-rf-rx", "2", "--streams", "1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("mser_bundle")
    assert main(["train", "mser", "--out", str(root / "m"), "-I", "2", "--samples", "8", "--epochs", "1",
                 "--train-size", "20", "--val-size", "10", "--batch-size", "10", "-q", *TINY]) == 0
    assert main(["quantize", str(root / "m"), "--out", str(root / "q"), "--method", "ptq", "-Q", "3",
                 "--ue-phase-bits", "4", "--refit-layers", "2", "--count", "6", "--snr", "10", "-q"]) == 0
    assert main(["export", str(root / "q"), "--out", str(root / "b"), "--count", "5", "--snr", "12"]) == 0
    return root


def test_the_replay_programs_every_front_end_and_reproduces_the_kernels_ser(bundle, capsys):
    assert main(["simulate", str(bundle / "b")]) == 0
    rep = json.loads((bundle / "b" / "sim" / "simulate.json").read_text())
    assert rep["kind"] == "transceiver" and rep["n_beams"] == 5 and rep["family"] == "mser"
    assert rep["code_mismatches"] == {"bs": 0, "user0": 0, "user1": 0}
    assert rep["array"]["phase_bits_bs"] == 3 and rep["array"]["phase_bits_ue"] == 4
    assert rep["ser"]["largest_difference"] < 1e-12 and 0 < rep["ser"]["applied_mean"] < 1
    assert rep["latency_us"]["direct_write_bs"] > rep["latency_us"]["direct_write_users_max"] > 0
    assert sum(rep["rejected_transactions"].values()) == 0
    info = json.loads((bundle / "b" / "transceiver.json").read_text())
    assert info["refit_layers"] == 2 and info["snr_db"] == 12.0
    verified = json.loads((bundle / "b" / "manifest.json").read_text())["verified"]["model.onnx"]
    assert verified["relative_difference"] < 0.01 and verified["channels"] == 5
    with np.load(bundle / "b" / "datapath.npz") as d:
        assert d["ktab"][0] == 1 << info["formats"]["kernel"]["frac_bits"]  # e^0 in the kernel format
    # datapath.h and the .mem files hold datapath.npz's words, every ROM, read back by the parsers
    from hbf_edge.export._core.cfiles import parse_header, parse_mem

    text = (bundle / "b" / "datapath.h").read_text()
    header = parse_header(text)
    bits = {name: int(b) for b, name in re.findall(r"\((\d+) bits\)[^\n]*\*/\nstatic const \w+ (\w+)\[", text)}
    with np.load(bundle / "b" / "datapath.npz") as d:
        assert len(header) == len(bits) == 25
        for rom, values in header.items():
            key = {"mser_of": "of_", "mser_os": "os_", "mser_us": "us_"}.get(rom, rom[len("mser_"):])
            assert values == d[key].ravel().tolist(), rom
            assert parse_mem((bundle / "b" / f"{rom}.mem").read_text(), bits[rom]) == values, rom
    assert "#define HBF_MSER_REFIT 2" in text and "#define HBF_MSER_Q_UE 4" in text
    # model.int.onnx: verified at export, and it gives the bundle's codes and words from inputs.npz
    from hbf_edge.export.mser.onnx_int import run_mser_int_onnx

    check = json.loads((bundle / "b" / "manifest.json").read_text())["verified"]["model.int.onnx"]
    assert check["channels"] == 5 and check["values_differing_from_kernel"] == 0
    with np.load(bundle / "b" / "inputs.npz") as inputs, np.load(bundle / "b" / "beams.npz") as beams:
        out = run_mser_int_onnx(bundle / "b" / "model.int.onnx", dict(inputs))
        for name, key in (("F_codes", "codes_bs"), ("U_codes", "codes_ue"), ("V", "V"), ("W", "W")):
            np.testing.assert_array_equal(out[name], beams[key])


def test_the_integer_graph_of_a_second_process_is_this_ones(bundle, tmp_path, monkeypatch):
    """On two cores export has the integer graph traced by ``python -m hbf_edge.export._core.side``
    (``export._core.side``; the bundle writer's use of it is tested with UPGA's graphs): the same
    graph byte for byte as the fixture's, built in its process; nothing of the process left."""
    import tempfile

    from hbf_edge.export._core.side import graph_process

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = graph_process("the integer ONNX graph", "hbf_edge.export.mser.onnx_int:write_mser_int_graph", bundle / "q")
    try:
        assert (job.result() / "model.int.onnx").read_bytes() == (bundle / "b" / "model.int.onnx").read_bytes()
    finally:
        job.close()
    assert not list(tmp_path.glob("hbf-edge-side-*"))


def test_calibration_errors_change_the_applied_ser(bundle, tmp_path, capsys):
    assert main(["calibration", "--phase-bits", "4", "--phase-error-deg", "20", "--out", str(tmp_path / "c4")]) == 0
    table = str(tmp_path / "c4" / "calibration.json")
    # one table serves every front end: the bundle's BS has 3-bit codes and its users 4-bit ones
    assert main(["simulate", str(bundle / "b"), "--calibration", table, "--out", str(tmp_path / "s")]) == 2
    assert "one calibration table" in capsys.readouterr().err
    assert main(["quantize", str(bundle / "m"), "--out", str(tmp_path / "q4"), "--method", "ptq", "-Q", "4",
                 "--count", "4", "--snr", "10", "-q"]) == 0
    assert main(["export", str(tmp_path / "q4"), "--out", str(tmp_path / "b4"), "--count", "4", "--snr", "0"]) == 0
    assert main(["simulate", str(tmp_path / "b4"), "--calibration", table, "--out", str(tmp_path / "s4")]) == 0
    ser = json.loads((tmp_path / "s4" / "simulate.json").read_text())["ser"]
    assert ser["largest_difference"] > 1e-6 and ser["applied_mean"] != ser["kernel_mean"]


def test_the_simulators_ser_is_the_toolkits():
    """Two implementations of the exact QPSK SER (firmware_sim's erfc loop, the toolkit's)."""
    z = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    H = mser_channels(6, z, seed=4)
    d = dft_alignment(H, z)
    a = firmware_sim.symbol_error_rate(H, d.F, d.V, d.U, d.W, 0.3)
    np.testing.assert_allclose(a, ser_semi_analytic(H, *d, 0.3), rtol=1e-12)
    # 16-QAM, a random design (every stream's gain rotated), all 16^2 vectors and a sample of 16^4
    from hbf_edge.families.mser.gd import random_design
    from hbf_edge.families.mser.ser import eval_vectors

    for z16 in (MserSizes(n_tx=8, n_rf_tx=2, n_users=2, n_rx=2, n_rf_rx=1, n_streams=1, constellation="16qam"),
                MserSizes(**{**z.__dict__, "constellation": "16qam"})):
        H = mser_channels(5, z16, seed=5)
        d = random_design(H, z16, np.random.default_rng(6))
        S = eval_vectors(z16.n_total_streams, "16qam")
        b = firmware_sim.symbol_error_rate_16qam(H, d.F, d.V, d.U, d.W, 0.05, S)
        np.testing.assert_allclose(b, ser_semi_analytic(H, *d, 0.05, "16qam"), rtol=1e-12)
        assert np.all(b > 0)


def test_a_16qam_model_runs_the_datapath_exports_and_replays(tmp_path, capsys):
    """A 16-QAM network through quantize (QAT), export and simulate: the integer datapath's codes
    and words in the bundle, the integer graph verified code for code, the controller's applied
    beams scored by its own 16-QAM SER over the bundle's transmit vectors, equal to the kernel's."""
    root = tmp_path
    assert main(["train", "mser", "--out", str(root / "m"), "--constellation", "16qam", "-I", "2", "--samples", "8",
                 "--epochs", "1", "--train-size", "20", "--val-size", "10", "--batch-size", "10", "-q", *TINY]) == 0
    assert main(["quantize", str(root / "m"), "--out", str(root / "q"), "-Q", "4", "--epochs", "1", "--train-size",
                 "20", "--val-size", "10", "--refit-layers", "2", "--count", "6", "--snr", "20", "-q"]) == 0
    ret = json.loads((root / "q" / "retention.json").read_text())
    assert ret["epochs"] == 1 and all(0 < x < 1 for x in ret["ser"]["hardware"]), ret
    assert main(["export", str(root / "q"), "--out", str(root / "b"), "--count", "5", "--snr", "20"]) == 0
    check = json.loads((root / "b" / "manifest.json").read_text())["verified"]["model.int.onnx"]
    assert check["channels"] == 5 and check["values_differing_from_kernel"] == 0
    with np.load(root / "b" / "beams.npz") as beams:
        assert beams["ser_vectors"].shape == (2, 256)
        beams_vectors = beams["ser_vectors"]
    assert main(["simulate", str(root / "b")]) == 0
    rep = json.loads((root / "b" / "sim" / "simulate.json").read_text())
    assert rep["code_mismatches"] == {"bs": 0, "user0": 0, "user1": 0}
    assert rep["ser"]["largest_difference"] < 1e-12 and 0 < rep["ser"]["applied_mean"] < 1
    # transmit vectors that are not 16-QAM points, or none, are refused in one line (hashes recomputed)
    import shutil

    from helpers import rehash_bundle

    too_many = np.ones((2, (1 << 16) + 1), np.complex128)
    for change in ({"ser_vectors": beams_vectors * 0 + (5 + 1j)}, {}, {"ser_vectors": too_many}):
        bad = root / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(root / "b", bad)
        with np.load(bad / "beams.npz") as data:
            members = {k: data[k] for k in data.files if k != "ser_vectors"}
        np.savez(bad / "beams.npz", **members, **change)
        rehash_bundle(bad)
        capsys.readouterr()
        assert main(["simulate", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "ser_vectors must be 16-QAM vectors" in err, err


def test_tampering_and_misuse_are_refused(bundle, tmp_path, capsys):
    import shutil

    assert main(["simulate", str(bundle / "b"), "--channels", str(bundle / "b" / "beams.npz")]) == 2
    assert "does not apply to a transceiver bundle" in capsys.readouterr().err
    bad = tmp_path / "bad"
    shutil.copytree(bundle / "b", bad)
    with np.load(bad / "beams.npz") as data:
        beams = {k: data[k] for k in data.files}
    beams["codes_bs"] = beams["codes_bs"].copy()
    beams["codes_bs"][0, 0, 0] ^= 1
    np.savez(bad / "beams.npz", **beams)
    assert main(["simulate", str(bad)]) == 2
    assert "beams.npz has been altered" in capsys.readouterr().err
    assert main(["export", str(bundle / "m"), "--out", str(tmp_path / "x")]) == 2
    assert "float model" in capsys.readouterr().err and not (tmp_path / "x").exists()
