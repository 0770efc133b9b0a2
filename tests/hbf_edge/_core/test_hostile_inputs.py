"""Hostile model directories and extreme numbers: one line, exit 2, nothing written."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hbf_edge.cli import main

V1 = Path(__file__).resolve().parents[2] / "refs" / "v1"


def _one_line(argv, capsys, needle):
    """Exit 2 and one error line, last; before it at most a warning about the same input (a
    channel file far from the training gain), never a traceback."""
    assert main(argv) == 2
    *before, last = capsys.readouterr().err.strip().splitlines()
    assert last.startswith("hbf-edge: error:") and needle in last, last
    assert len(before) <= 1 and all(line.startswith("hbf-edge: warning:") for line in before), before


@pytest.mark.parametrize("edit,needle", [
    (lambda c: c["network"].update(n_layers=2.7), "n_layers must be an integer"),
    (lambda c: c["network"].update(n_layers="2"), "n_layers must be an integer"),
    (lambda c: c["network"].update(n_layers=True), "n_layers must be an integer"),
    (lambda c: c["network"].update(n_layers=None), "n_layers must be an integer"),
    (lambda c: c["network"].update(n_inner=0), "n_inner must be an integer"),
    (lambda c: c.update(quantization=[1, 2]), "quantization must be a JSON object"),
    (lambda c: c.update(training="x"), "training must be a JSON object"),
    (lambda c: c.update(family="martian"), "unknown model family"),
])
def test_malformed_config_json_is_refused_in_one_line(tmp_path, capsys, edit, needle):
    model = tmp_path / "m"
    shutil.copytree(V1 / "upga", model)
    config = json.loads((model / "config.json").read_text())
    edit(config)
    (model / "config.json").write_text(json.dumps(config))
    _one_line(["evaluate", str(model), "--count", "2", "-q"], capsys, needle)


def test_non_strict_or_deep_config_json_is_refused(tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(V1 / "upga", model)
    text = (model / "config.json").read_text()
    (model / "config.json").write_text(text.replace('"lr_decay": 0.97', '"lr_decay": Infinity'))
    _one_line(["evaluate", str(model), "-q"], capsys, "not valid JSON")
    (model / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    _one_line(["evaluate", str(model), "-q"], capsys, "nested too deeply")


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_extreme_channels_give_an_error_not_nan(tmp_path, capsys, scale):
    from hbf_edge.channels import saleh_valenzuela_miso

    np.save(tmp_path / "extreme.npy", saleh_valenzuela_miso(3, 8, 2, 3, seed=1) * scale)
    out = tmp_path / "e"
    _one_line(["evaluate", str(V1 / "upga"), "--channels", str(tmp_path / "extreme.npy"), "--snr", "10", "-q",
               "--out", str(out)], capsys, "scale the channels")
    assert not (out / "results.json").exists()


def test_a_result_holding_nan_is_an_error_and_nothing_is_written(tmp_path):
    from hbf_edge._io import write_json
    from hbf_edge.errors import HbfEdgeError

    with pytest.raises(HbfEdgeError, match="NaN or inf"):
        write_json(tmp_path / "r.json", {"rate": [1.0, float("nan")]})
    assert not list(tmp_path.iterdir())


def test_an_output_never_replaces_the_commands_input(tmp_path, capsys):
    q = tmp_path / "q"
    shutil.copytree(V1 / "upga_q", q)
    before = {p.name: p.read_bytes() for p in q.iterdir()}
    _one_line(["export", str(q), "--out", str(q), "--overwrite"], capsys, "is or contains the input")
    _one_line(["export", str(q), "--out", str(tmp_path), "--overwrite"], capsys, "is or contains the input")
    _one_line(["quantize", str(q), "--out", str(q), "--overwrite"], capsys, "is or contains the input")
    np.save(tmp_path / "h.npy", np.ones((2, 8, 2), complex))
    _one_line(["train", "upga", "--out", str(tmp_path), "--channels", str(tmp_path / "h.npy"), "--overwrite"], capsys,
              "is or contains the input")
    assert {p.name: p.read_bytes() for p in q.iterdir()} == before


def test_rank_deficient_channels_are_refused_before_any_baseline(tmp_path, capsys):
    from hbf_edge.channels import saleh_valenzuela_miso

    H = saleh_valenzuela_miso(3, 8, 2, 3, seed=1)
    H[:, :, 1] = 2.0 * H[:, :, 0]  # two users on one direction: ZF and eq. (12)-(13) are undefined
    np.save(tmp_path / "parallel.npy", H)
    _one_line(["evaluate", str(V1 / "upga"), "--channels", str(tmp_path / "parallel.npy"), "-q"], capsys,
              "rank below K=2")


def test_channels_never_replace_a_file_without_overwrite(tmp_path, capsys):
    existing = tmp_path / "c" / "channels.npz"
    existing.parent.mkdir()
    existing.write_bytes(b"the user's file")
    _one_line(["channels", "upga", "--out", str(tmp_path / "c"), "--count", "2"], capsys, "already exists")
    assert existing.read_bytes() == b"the user's file"
    assert main(["channels", "upga", "--out", str(tmp_path / "c"), "--count", "2", "--overwrite"]) == 0


def test_sizes_beyond_the_memory_budget_are_refused_before_allocating(tmp_path, capsys, monkeypatch):
    _one_line(["channels", "upga", "--out", str(tmp_path / "c"), "--count", "1000000", "-N", "1024"], capsys, "GiB")
    monkeypatch.setenv("HBF_EDGE_MEMORY_GB", "0.001")
    _one_line(["channels", "deepfp", "--out", str(tmp_path / "d"), "--count", "100"], capsys, "HBF_EDGE_MEMORY_GB")
    monkeypatch.setenv("HBF_EDGE_MEMORY_GB", "lots")
    _one_line(["channels", "upga", "--out", str(tmp_path / "e"), "--count", "2"], capsys, "positive number")


def test_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep")
    _one_line(["demo", "--quick", "--out", str(tmp_path)], capsys, "not made by hbf-edge demo")
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("scale,needle", [(1e-9, "rounds to zero in the channel format")])
def test_export_blames_channels_the_datapath_cannot_represent(tmp_path, capsys, scale, needle):
    from hbf_edge.channels import saleh_valenzuela_miso

    np.save(tmp_path / "h.npy", saleh_valenzuela_miso(3, 8, 2, 3, seed=1) * scale)
    _one_line(["export", str(V1 / "upga_q"), "--out", str(tmp_path / "b"), "--channels", str(tmp_path / "h.npy")],
              capsys, needle)
    assert not (tmp_path / "b").exists()


def test_an_existing_output_names_the_overwrite_flag(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("the user's")
    _one_line(["export", str(V1 / "upga_q"), "--out", str(tmp_path / "b"), "--count", "2"], capsys, "--overwrite")
    assert (tmp_path / "b" / "mine.txt").read_text() == "the user's"


@pytest.mark.parametrize("argv", [["train", "upga", "--lr", "nan"], ["train", "upga", "--snr-max", "inf"],
                                  ["evaluate", str(V1 / "upga"), "--snr", "0", "inf"], ["train", "upga", "--lr=-inf"],
                                  ["train", "mser", "--tune-snr", "nan"], ["train", "jcehb", "--snr-db", "inf"]])
def test_a_float_option_must_be_finite(tmp_path, capsys, argv):
    """Every float option of every family refuses nan and +-inf in argparse's one line, before any
    work or output (they reached the computation before: `evaluate --snr nan` said "sigma must be
    > 0")."""
    out = tmp_path / "o"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a finite number" in err, err
    assert not out.exists()
