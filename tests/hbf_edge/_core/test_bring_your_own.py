"""A user's own channels (plain .npy / .npz / .mat arrays) and hardware (every format from a
precision file) through the toolkit."""

import json

import numpy as np
import pytest

from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.cli import main

TINY = ["-N", "8", "-K", "2", "-M", "2", "--paths", "3", "-I", "2", "--train-size", "8", "--epochs", "1",
        "--batch-size", "4", "-q"]


@pytest.fixture(scope="module")
def float_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("byo")
    assert main(["train", "upga", "--out", str(root / "m"), *TINY]) == 0
    return root


def _one_line_error(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hbf-edge: error:"), err
    for needle in needles:
        assert needle in err, err


def test_plain_arrays_through_evaluate_quantize_export_simulate(float_dir, tmp_path, capsys):
    import scipy.io

    H = saleh_valenzuela_miso(10, 8, 2, 3, seed=9)
    np.save(tmp_path / "h.npy", H)
    np.savez(tmp_path / "h.npz", H=H)
    scipy.io.savemat(tmp_path / "h.mat", {"H": H})
    m = float_dir / "m"
    for name in ("h.npy", "h.npz", "h.mat"):
        assert main(["evaluate", str(m), "--channels", str(tmp_path / name), "--snr", "10", "-q",
                     "--out", str(tmp_path / f"e_{name}")]) == 0
    rates = [json.loads((tmp_path / f"e_{n}" / "results.json").read_text())["sum_rate"]["upga"] for n in
             ("h.npy", "h.npz", "h.mat")]
    assert rates[0] == rates[1] == rates[2]  # the same channels, whatever the file
    q = tmp_path / "q"
    assert main(["quantize", str(m), "--out", str(q), "--channels", str(tmp_path / "h.npy"), "--epochs", "1",
                 "--test-channels", str(tmp_path / "h.npz"), "-Q", "3", "-q"]) == 0
    ret = json.loads((q / "retention.json").read_text())
    assert ret["n_channels"] == 10  # the retention table is on the user's held-out channels
    assert json.loads((q / "config.json").read_text())["quantization"]["train"]["train_size"] == 10
    assert main(["export", str(q), "--out", str(tmp_path / "b"), "--channels", str(tmp_path / "h.npy")]) == 0
    with np.load(tmp_path / "b" / "beams.npz") as beams:
        assert np.array_equal(beams["H"], H)
    assert main(["simulate", str(tmp_path / "b"), "--channels", str(tmp_path / "h.npz"),
                 "--out", str(tmp_path / "s")]) == 0
    sim = json.loads((tmp_path / "s" / "simulate.json").read_text())
    assert sim["code_mismatches"] == {"direct": 0, "ram": 0}


def test_sizes_that_do_not_fit_are_refused_in_one_line(float_dir, tmp_path, capsys):
    m = str(float_dir / "m")
    np.save(tmp_path / "n16.npy", saleh_valenzuela_miso(3, 16, 2, 3, seed=1))
    np.save(tmp_path / "k3.npy", saleh_valenzuela_miso(3, 8, 3, 3, seed=1))
    np.savez(tmp_path / "two.npz", A=np.ones((2, 8, 2)), B=np.ones((2, 8, 2)))
    _one_line_error(["evaluate", m, "--channels", str(tmp_path / "n16.npy")], capsys, "N=16", "N=8")
    _one_line_error(["quantize", m, "--out", str(tmp_path / "q"), "--channels", str(tmp_path / "k3.npy")], capsys,
                    "K=3", "K=2")
    _one_line_error(["export", m, "--out", str(tmp_path / "b"), "--channels", str(tmp_path / "n16.npy")], capsys,
                    "N=16")
    _one_line_error(["evaluate", m, "--channels", str(tmp_path / "two.npz")], capsys, "name the channel array 'H'")
    (tmp_path / "h.txt").write_text("1 2 3")
    _one_line_error(["evaluate", m, "--channels", str(tmp_path / "h.txt")], capsys, ".npy, .npz or .mat")
    _one_line_error(["quantize", m, "--out", str(tmp_path / "q"), "--method", "ptq", "--channels",
                     str(tmp_path / "k3.npy")], capsys, "--method ptq trains nothing")
    _one_line_error(["quantize", m, "--out", str(tmp_path / "q"), "--method", "ptq", "--lr", "0.1", "--epochs", "3"],
                    capsys, "--epochs, --lr only apply to QAT")
    _one_line_error(["quantize", m, "--out", str(tmp_path / "q"), "--method", "ptq", "--epochs", "5"], capsys,
                    "--epochs only applies to QAT")  # typed at its default value: still given, still refused
    assert not (tmp_path / "q").exists() and not (tmp_path / "b").exists()


def test_every_format_from_a_precision_file_reaches_kernel_and_qat(float_dir, tmp_path, capsys):
    """The accumulator word set in the TOML changes the kernel's overflow counters, and the QAT
    network follows it bit for bit (codes and W words), overflows included."""
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.quant import REGISTRY as QUANT

    m = float_dir / "m"
    assert main(["precision", "template", str(m), "--out", str(tmp_path / "pt"), "-Q", "3"]) == 0
    text = (tmp_path / "pt" / "precision.toml").read_text()
    assert all(f"{name} = {{" in text for name in ("channel", "lut", "accumulator", "gradient", "step", "precoder"))
    narrow = text.replace("accumulator = { word_bits = 32", "accumulator = { word_bits = 20")
    assert narrow != text
    (tmp_path / "narrow.toml").write_text(narrow)
    files = {"p": tmp_path / "pt", "narrow": tmp_path / "narrow.toml"}  # --precision takes the folder or the file
    for name in ("p", "narrow"):
        assert main(["quantize", str(m), "--out", str(tmp_path / name), "--precision", str(files[name]),
                     "--method", "ptq", "--count", "4", "-q"]) == 0
    cfg = json.loads((tmp_path / "narrow" / "config.json").read_text())
    assert cfg["precision"]["default"]["accumulator"]["word_bits"] == 20
    # a quantized directory's template is its own file; a -Q for it is refused, not ignored
    capsys.readouterr()
    assert main(["precision", "template", str(tmp_path / "narrow")]) == 0
    assert "accumulator = { word_bits = 20" in capsys.readouterr().out
    assert main(["precision", "template", str(tmp_path / "narrow"), "-Q", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "is quantized" in err and "-Q" in err
    H = saleh_valenzuela_miso(60, 8, 2, 3, seed=4)
    over = {}
    for name in ("p", "narrow"):
        hw = KERNELS.get("upga").forward_hw(tmp_path / name, H, snr_db=10.0)
        qat = QUANT.get("upga").torch_forward_hw(tmp_path / name, H, snr_db=10.0)
        assert np.array_equal(hw["codes"], qat["codes"])
        assert np.max(np.abs(hw["W"] - qat["W"])) <= 1e-12 * np.max(np.abs(qat["W"]))
        over[name] = sum(int(v.sum()) for k, v in hw["counters"].items() if k != "input")
    assert over["narrow"] > over["p"]
    bad = text.replace("[default]", '[layers."0"]\naccumulator = { word_bits = 24, frac_bits = 16 }\n\n[default]')
    (tmp_path / "bad.toml").write_text(bad)
    _one_line_error(["quantize", str(m), "--out", str(tmp_path / "x"), "--precision", str(tmp_path / "bad.toml")],
                    capsys, "model-wide")
