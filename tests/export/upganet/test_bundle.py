"""UPGANet (JCAS) through quantize -> export -> controller replay, on a tiny model."""

import json

import numpy as np
import pytest
import torch

from hbf_edge.export import read_bundle
from hbf_edge.export._core.cfiles import parse_header, parse_mem
from hbf_edge.export.upga.onnx_float import run_onnx
from hbf_edge.cli import main
from hbf_edge.modeldir import load_model
from hbf_edge.families.upganet.sensing import beampattern_mse
from hbf_edge.kernels import load_upganet_hw, upganet_forward_hw
from hbf_edge.kernels.upganet.hardware import sensing_words

TINY = ["-N", "16", "-M", "5", "--layers", "3", "--inner", "2", "--train-size", "20",
        "--epochs", "1", "--batch-size", "10", "--targets", "-30", "20", "--delta", "8", "--quiet"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("jcas_bundle")
    assert main(["train", "upganet", "--out", str(root / "float"), *TINY]) == 0
    assert main(["quantize", str(root / "float"), "--out", str(root / "q4"), "--phase-bits", "4", "--precoder-bits", "12", "--method", "ptq",
                 "--count", "8", "--quiet"]) == 0
    assert main(["export", str(root / "q4"), "--out", str(root / "b"), "--count", "6", "--snr", "12"]) == 0
    return root


def test_quantize_reports_the_hardware_kernel(bundle):
    ret = json.loads((bundle / "q4" / "retention.json").read_text())
    hw = ret["hardware"]
    assert len(hw["sum_rate"]) == len(ret["snr_db"]) and all(np.isfinite(hw["sum_rate"]))
    assert all(0.5 < r < 1.5 for r in ret["retention"]["hardware"])


def test_tables_hold_the_sensing_datapath(bundle):
    b = read_bundle(bundle / "b")
    lut = b.lut()
    model, spec = load_upganet_hw(bundle / "q4")
    psi_r, psi_i, steer = sensing_words(model, spec)
    sen = lut["sensing"]
    assert sen["psi_n_re"] == psi_r.tolist() and sen["psi_n_im"] == psi_i.tolist()
    assert sen["steer_codes"] == steer.tolist() and np.array(sen["steer_codes"]).shape == (16, 1)
    assert sen["targets_deg"] == [-30.0, 20.0] and sen["eta"] == 1 / 16
    xi = 1 / np.log(2)
    assert lut["steps"]["mu"] == spec.step.quantize(model.mu * xi)[0].tolist()
    header = parse_header(b.text("lut.h"))
    assert header["hbf_psi_re"] == psi_r.ravel().tolist() and header["hbf_steer_codes"] == steer.ravel().tolist()
    assert parse_mem(b.text("lut_psi_im.mem"), spec.channel.word_bits) == psi_i.ravel().tolist()


def test_beams_are_the_hardware_kernels_and_onnx_is_checked(bundle):
    b = read_bundle(bundle / "b")
    beams = b.beams()
    model, spec = load_upganet_hw(bundle / "q4")
    H = beams["H"]
    res = upganet_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
                             model, spec)
    assert np.array_equal(res.codes, beams["codes"]) and np.array_equal(res.w_re, beams["w_re"])
    assert beams["sensing_benchmark"].shape == beams["sensing_angles_deg"].shape
    check = b.manifest["verified"]["model.onnx"]
    assert check["relative_difference"] <= 0.01
    # entry by entry on this small network (3 layers): float32 graph against the torch network
    net, _ = load_model(bundle / "q4")
    got = run_onnx(bundle / "b" / "model.onnx", H, beams["p_t"], beams["noise"])
    with torch.no_grad():
        want = net(*(torch.from_numpy(np.ascontiguousarray(x)) for x in (H.real, H.imag, beams["p_t"], beams["noise"])))
    assert max(float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want)) < 1e-3


def test_replay_scores_the_radiated_beampattern(bundle, tmp_path, capsys):
    from hbf_edge import firmware_sim

    report, _ = firmware_sim.simulate(bundle / "b")
    beams = read_bundle(bundle / "b").beams()
    model, _ = load_upganet_hw(bundle / "q4")
    F = np.exp(2j * np.pi * beams["codes"] / 16)
    W = (beams["w_re"] + 1j * beams["w_im"]) * 2.0 ** -10 * np.sqrt(beams["p_t"] / 16)[:, None, None]
    mse = beampattern_mse(F @ W, model.psi1 * beams["p_t"][:, None, None], beams["sensing_angles_deg"])
    assert report["sensing"]["mse_db_model"] == pytest.approx(10 * np.log10(mse.mean()), abs=1e-9)
    assert report["sensing"]["mse_change_db"] == 0.0 and report["code_mismatches"] == {"direct": 0, "ram": 0}
    cal = tmp_path / "cal.json"
    assert main(["calibration", "--out", str(cal), "--phase-bits", "4", "--phase-error-deg", "20"]) == 0
    assert main(["simulate", str(bundle / "b"), "--calibration", str(cal), "--out", str(tmp_path / "sim")]) == 0
    noisy = json.loads((tmp_path / "sim" / "simulate.json").read_text())
    assert noisy["sensing"]["mse_change_db"] != 0.0
    assert '"sensing"' in capsys.readouterr().out


def test_the_c_datapath_equals_the_kernel(bundle):
    """The UPGANet C (the UPGA datapath plus the sensing term; J=2, so the unit-circle projection
    runs too) is checked by the exporter and by `firmware` natively and with sanitizers."""
    from hbf_edge.export import firmware

    b = read_bundle(bundle / "b")
    assert b.manifest["verified"]["hbf_model.c"]["channels"] == 6
    assert "HBF_SITE_SENSE_W" in b.text("hbf_model.h")
    report = firmware(bundle / "b", ["host", "sanitizers"])
    assert all(report["targets"][t]["channels"] == 6 for t in ("host", "sanitizers"))


@pytest.mark.arm
def test_the_c_datapath_on_arm(bundle):
    from helpers import require_toolchain
    from hbf_edge.export import firmware
    from hbf_edge.export._core import ctool

    require_toolchain(ctool.ARM32)
    require_toolchain(ctool.CORTEX_M4)
    report = firmware(bundle / "b", ["arm32", "cortex-m4"])
    assert report["targets"]["arm32"]["channels"] == 6 and report["targets"]["cortex-m4"]["soft_float_calls"] == 0
