"""Replaying an exported bundle: applied beams equal the hardware kernel's."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hbf_edge import firmware_sim
from hbf_edge import kernels
from hbf_edge.export import write_bundle
from hbf_edge.channels import saleh_valenzuela_miso
from helpers import quantized_model_dir


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A UPGA bundle at the issue's size: N=64, M=K=4, 4-bit phases, I=4."""
    root = tmp_path_factory.mktemp("sim")
    precision, q = quantized_model_dir(root, 64, 4, {"default": {"phase_bits": 4}}, mu0=0.1)
    H = saleh_valenzuela_miso(150, 64, 4, seed=11)
    return root, write_bundle(root / "q", root / "b", H, snr_db=10.0), precision, q


def test_ideal_replay_matches_the_hardware_kernel(bundle):
    _, path, precision, q = bundle
    report, patterns = firmware_sim.simulate(path)
    assert report["code_mismatches"] == {"direct": 0, "ram": 0}
    assert sum(report["rejected_transactions"].values()) == 0
    beams = firmware_sim.load_bundle(path).beams
    H = beams["H"]
    specs = precision.layer_specs()
    hw = kernels.upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"],
                                 beams["noise"], q.mu.detach().numpy(), q.lam.detach().numpy(), specs[0], specs)
    r_kernel = firmware_sim.physics.sum_rate(H, hw.analog(), hw.digital(), beams["noise"]).mean()
    assert abs(report["sum_rate"]["applied_mean"] / r_kernel - 1) < 1e-6
    assert report["array"]["chips"] == 64 and report["array"]["buses"] == 16
    assert report["latency_us"]["direct_switch"] == pytest.approx(36 * 24 / 25.0)  # 36 frames/bus at 25 MHz
    assert report["latency_us"]["ram_recall_switch"] == pytest.approx(4 * 24 / 25.0)
    assert patterns["intended"].shape == (4, 721) and np.allclose(patterns["intended"], patterns["applied"])


def test_calibration_errors_cost_rate(bundle, tmp_path):
    _, path, _, _ = bundle
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(firmware_sim.make_calibration(4, phase_error_deg=3.0, seed=1)))
    report, _ = firmware_sim.simulate(path, cal)
    assert report["code_mismatches"] == {"direct": 0, "ram": 0}  # registers are right, the physics is not
    assert 0 < report["sum_rate"]["loss_percent"] < 5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"phase_error_deg": [1.0, 2.0]}))
    with pytest.raises(firmware_sim.SimulatorError, match="entries"):
        firmware_sim.simulate(path, bad)


def test_simulate_command(bundle, tmp_path, capsys):
    from hbf_edge.cli import main

    _, path, _, _ = bundle
    assert main(["calibration", "--out", str(tmp_path / "cal.json"), "--phase-error-deg", "3"]) == 0
    assert main(["simulate", str(path), "--calibration", str(tmp_path / "cal.json"), "--out", str(tmp_path / "s"),
                 "--spi-mhz", "50"]) == 0
    report = json.loads((tmp_path / "s" / "simulate.json").read_text())
    assert report["latency_us"]["direct_switch"] == pytest.approx(36 * 24 / 50.0)
    assert (tmp_path / "s" / "beampattern.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["simulate", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a bundle" in capsys.readouterr().err


def test_import_without_torch_numba_or_the_toolkit():
    code = ("import sys\n"
            "for m in ('torch', 'numba', 'brevitas', 'onnx', 'hbf_edge', 'kernels', 'quant', 'export'):\n"
            "    sys.modules[m] = None\n"
            "import firmware_sim\n"
            "print(firmware_sim.simulate.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "simulate"


def test_simulate_on_other_channels(bundle, tmp_path, capsys):
    from hbf_edge.channels import make_dataset
    from hbf_edge.cli import main

    _, path, _, _ = bundle
    same = make_dataset(n_channels=150, n_antennas=64, n_users=4, seed=99).save(tmp_path / "same.npz")
    assert main(["simulate", str(path), "--channels", str(same), "--out", str(tmp_path / "s")]) == 0
    report = json.loads((tmp_path / "s" / "simulate.json").read_text())
    own, _ = firmware_sim.simulate(path)
    assert report["code_mismatches"] == {"direct": 0, "ram": 0}
    assert report["sum_rate"]["applied_mean"] != own["sum_rate"]["applied_mean"]  # rated on other channels
    fewer = make_dataset(n_channels=3, n_antennas=64, n_users=4, seed=99).save(tmp_path / "fewer.npz")
    capsys.readouterr()
    assert main(["simulate", str(path), "--channels", str(fewer), "--out", str(tmp_path / "x")]) == 2
    assert "channels must be" in capsys.readouterr().err
