"""Artifacts written by the release before the family protocol (tests/refs/v1, format 1) load,
run and simulate unchanged: same designs bit for bit, upgraded to format 2 on write."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hbf_edge.cli import main
from hbf_edge.modelfiles import MODEL_FORMAT_VERSION, read_model_dir, write_model_dir

V1 = Path(__file__).resolve().parents[2] / "refs" / "v1"
DIRS = ["upga", "upga_q", "upganet", "upganet_q", "deepfp", "deepfp_q"]


@pytest.mark.parametrize("name", DIRS)
def test_v1_model_dirs_read_and_upgrade(name, tmp_path):
    raw = json.loads((V1 / name / "config.json").read_text())
    assert raw["format_version"] == 1
    config, arrays = read_model_dir(V1 / name)
    section = raw.get("sensing") or raw.get("deepfp")
    assert config.family == raw["family"] and config.family_config == section
    write_model_dir(tmp_path / "v2", config, arrays)  # written back in today's format
    again, arrays2 = read_model_dir(tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / "config.json").read_text())["format_version"] == MODEL_FORMAT_VERSION == 2
    assert again.to_dict() == config.to_dict() and all(np.array_equal(arrays[k], arrays2[k]) for k in arrays)


def test_v1_bundle_designs_bit_for_bit_and_simulate(tmp_path, capsys):
    from hbf_edge import firmware_sim
    from hbf_edge.export import read_bundle
    from hbf_edge.kernels.upga.stage import hardware_design

    bundle = read_bundle(V1 / "upga_bundle")
    assert bundle.manifest["schema_version"] == 1
    with np.load(V1 / "upga_bundle" / "beams.npz") as b:
        beams = {k: b[k] for k in b.files}
    res = hardware_design(V1 / "upga_q", beams["H"], beams["p_t"], beams["noise"])  # today's kernel
    assert np.array_equal(res.codes, beams["codes"]) and np.array_equal(res.w_re, beams["w_re"])
    assert np.array_equal(res.w_im, beams["w_im"])
    report, _ = firmware_sim.simulate(V1 / "upga_bundle")
    assert report["code_mismatches"] == {"direct": 0, "ram": 0}
    copy = tmp_path / "b"
    shutil.copytree(V1 / "upga_bundle", copy)
    assert main(["simulate", str(copy), "--out", str(tmp_path / "sim")]) == 0


def test_v1_dirs_through_todays_cli(tmp_path, capsys):
    for name in ("upga", "upganet_q"):
        shutil.copytree(V1 / name, tmp_path / name)
    assert main(["evaluate", str(tmp_path / "upga"), "--count", "4", "--snr", "10", "-q"]) == 0
    assert main(["export", str(tmp_path / "upganet_q"), "--out", str(tmp_path / "ub"), "--count", "2"]) == 0
    manifest = json.loads((tmp_path / "ub" / "manifest.json").read_text())
    assert manifest["schema_version"] == 2 and manifest["family"] == "upganet"
    assert manifest["scoring"] == "sum_rate+beampattern"
