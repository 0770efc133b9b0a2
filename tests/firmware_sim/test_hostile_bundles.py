"""Hostile bundles, keys, controller calls and simulator options: every one is refused in one
line by both verifiers (the simulator's and ``export.read_bundle``), nothing outside the bundle
is opened, and a re-hashed (forged) bundle is refused when a key is given."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hbf_edge import firmware_sim
from hbf_edge.cli import main
from hbf_edge.export import BundleError, read_bundle, sign_bundle
from helpers import rehash_bundle

V1_BUNDLE = Path(__file__).resolve().parents[1] / "refs" / "v1" / "upga_bundle"
KEY = bytes(range(32))


_rehash = rehash_bundle  # what a forger without the key can do (tests/conftest.py)


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "b"
    shutil.copytree(V1_BUNDLE, path)
    return path


def _both_refuse(path, match, key=None):
    with pytest.raises(firmware_sim.SimulatorError, match=match):
        firmware_sim.load_bundle(path, key)
    with pytest.raises(BundleError, match=match):
        read_bundle(path, key)


def test_member_names_cannot_leave_the_bundle(bundle, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    for name in ("../secret.txt", str(secret), "sub/lut.json", ".."):
        copy = tmp_path / f"c{abs(hash(name))}"
        shutil.copytree(bundle, copy)
        _rehash(copy, lambda m, n=name: m["files"].update({n: {"sha256": "0" * 64, "bytes": 0}}))
        _both_refuse(copy, "plain file names")
    (bundle / "lut.json").unlink()
    (bundle / "lut.json").symlink_to(V1_BUNDLE / "lut.json")  # the same bytes, through a link
    _both_refuse(bundle, "link")


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(files={}), "non-empty object"),
    (lambda m: m.update(files=["lut.json"]), "non-empty object"),
    (lambda m: m["files"]["lut.json"].pop("bytes"), "needs 'sha256'"),
    (lambda m: m["files"]["lut.json"].update(sha256="xyz"), "needs 'sha256'"),
    (lambda m: m["files"].pop("lut.json"), "does not list lut.json"),
])
def test_malformed_but_hash_valid_manifests_are_refused(bundle, edit, match):
    _rehash(bundle, edit)
    _both_refuse(bundle, match)


def test_deep_or_non_strict_json_is_refused(bundle):
    (bundle / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    _both_refuse(bundle, "nested too deeply")
    (bundle / "manifest.json").write_text('{"schema_version": NaN}')
    _both_refuse(bundle, "corrupted|not valid JSON")


def test_a_forged_bundle_is_refused_with_the_key(bundle):
    sign_bundle(bundle, KEY)
    firmware_sim.load_bundle(bundle, KEY)
    read_bundle(bundle, KEY)
    lut = json.loads((bundle / "lut.json").read_text())
    lut["output"]["vector_modulator"]["i"][0] ^= 1  # a different register value, re-hashed
    (bundle / "lut.json").write_text(json.dumps(lut))
    _rehash(bundle)
    firmware_sim.load_bundle(bundle)  # the hashes match: without a key a forgery cannot be told
    _both_refuse(bundle, "not signed with this key", key=KEY)
    _both_refuse(bundle, "not signed with this key", key=bytes(32))


def test_an_unsigned_bundle_is_refused_when_a_key_is_given(bundle):
    _both_refuse(bundle, "not signed", key=KEY)


def _edit_beams(path, **changes):
    with np.load(path / "beams.npz") as data:
        beams = {k: data[k] for k in data.files}
    beams.update(changes)
    with open(path / "beams.npz", "wb") as fh:
        np.savez(fh, **beams)
    _rehash(path)


@pytest.mark.parametrize("change,match", [
    (lambda b: {"codes": b["codes"] + 8}, "codes must be 0..7"),
    (lambda b: {"codes": -b["codes"] - 1}, "codes must be 0..7"),
    (lambda b: {"codes": b["codes"][0]}, "codes must be"),
    (lambda b: {"codes": b["codes"].astype(np.float64)}, "codes must be"),
    (lambda b: {"H": np.full_like(b["H"], np.nan)}, "finite|NaN"),
    (lambda b: {"H": np.zeros_like(b["H"])}, "all-zero user channel"),
    (lambda b: {"noise": np.zeros_like(b["noise"])}, "noise must be (finite and )?> 0"),
    (lambda b: {"p_t": -b["p_t"]}, "p_t must be (finite and )?> 0"),
    (lambda b: {"w_frac_bits": np.array(5000)}, "not a format"),
    (lambda b: {"w_re": b["w_re"] + (1 << 20)}, "outside"),
    (lambda b: {"phase_bits": np.array(99)}, "phase_bits|codes must be"),
])
def test_content_is_checked_after_the_hashes(bundle, change, match):
    """Both the simulator and ``read_bundle`` refuse it (each with its own code)."""
    with np.load(bundle / "beams.npz") as data:
        beams = {k: data[k] for k in data.files}
    _edit_beams(bundle, **change(beams))
    with pytest.raises(BundleError, match=match):
        read_bundle(bundle)
    if "phase_bits" not in change(beams):  # the simulator takes Q from lut.json, not beams.npz
        with pytest.raises(firmware_sim.SimulatorError, match=match):
            firmware_sim.simulate(bundle)


def test_read_bundle_refuses_object_arrays_and_non_strict_json(bundle):
    with np.load(bundle / "beams.npz") as data:
        beams = {k: data[k] for k in data.files}
    _edit_beams(bundle, extra=np.array(["text"]))
    with pytest.raises(BundleError, match="only numbers"):
        read_bundle(bundle)
    _edit_beams(bundle, **{**beams, "extra": np.zeros(1)})
    read_bundle(bundle)
    (bundle / "lut.json").write_text('{"sizes": NaN}')
    _rehash(bundle)
    with pytest.raises(BundleError, match="lut.json"):
        read_bundle(bundle)


@pytest.mark.parametrize("bits", [0, 99])
def test_phase_bits_out_of_range_are_refused(bundle, bits):
    lut = json.loads((bundle / "lut.json").read_text())
    lut["output"]["phase_bits"] = bits
    (bundle / "lut.json").write_text(json.dumps(lut))
    _rehash(bundle)
    with pytest.raises(firmware_sim.SimulatorError, match="phase_bits must be an integer in 1..16"):
        firmware_sim.simulate(bundle)


def test_signed_export_and_verified_replay_through_the_cli(tmp_path, capsys):
    key = tmp_path / "key"
    assert main(["keygen", "--out", str(key)]) == 0
    keyfile = key / "bundle.key"  # --out is a folder; --sign and --verify-key take it
    assert keyfile.stat().st_mode & 0o077 == 0 and len(keyfile.read_text().strip()) == 64
    assert main(["keygen", "--out", str(key)]) == 2  # a key is never overwritten
    shutil.copytree(V1_BUNDLE.parent / "upga_q", tmp_path / "q")
    assert main(["export", str(tmp_path / "q"), "--out", str(tmp_path / "b"), "--count", "2", "--sign", str(key)]) == 0
    assert "manifest_hmac" in json.loads((tmp_path / "b" / "manifest.json").read_text())
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "b"), "--verify-key", str(key), "--out", str(tmp_path / "s")]) == 0
    report = json.loads((tmp_path / "s" / "simulate.json").read_text())
    assert report["authenticity"].startswith("HMAC checked")
    other = tmp_path / "other"
    assert main(["keygen", "--out", str(other)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "b"), "--verify-key", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not signed with this key" in err


@pytest.mark.parametrize("option", [["--chips-per-bus", "0"], ["--chips-per-bus", "5"], ["--beam-states", "0"],
                                    ["--beam-states", "100000"], ["--channels-per-chip", "0"],
                                    ["--channels-per-chip", "25"], ["--channels-per-chip", "-4"],
                                    ["--spi-mhz", "nan"], ["--spi-mhz", "inf"], ["--spi-mhz", "0"]])
def test_simulator_options_out_of_range_give_one_line(bundle, tmp_path, capsys, option):
    assert main(["simulate", str(bundle), "--out", str(tmp_path / "s"), *option]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hbf-edge: error:"), err


@pytest.mark.parametrize("table", [{"phase_error_deg": ["a"] * 8}, {"phase_error_deg": [[1.0]] * 8},
                                   {"phase_error_deg": [0.0] * 8, "gain_error_db": [1e308] * 8},
                                   {"phase_error_deg": [1e999] * 8}])
def test_bad_calibration_files_give_one_line(bundle, tmp_path, capsys, table):
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(table).replace("Infinity", "1e999"))
    assert main(["simulate", str(bundle), "--calibration", str(cal), "--out", str(tmp_path / "s")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["calibration", "--out", str(tmp_path / "c.json"), "--phase-error-deg", "nan"]) == 2


def test_controller_api_rejects_fields_out_of_range():
    chip = firmware_sim.Chip(4, 8)
    recall = firmware_sim.REG["RECALL"]
    for read, address, data in [(False, recall, -1), (False, 0x010, 256), (False, 0x010, 1.5), (False, 0x010, "x"),
                                (False, -1, 0), (False, 1 << 13, 0), ("yes", 0x010, 0), (False, 0x010, True)]:
        assert chip.transact(read, address, data) is False
    assert chip.rejected["malformed"] == 8 and chip.accepted == 0
    with pytest.raises(firmware_sim.SimulatorError):
        firmware_sim.frame(False, 0, 0x010, -1)
