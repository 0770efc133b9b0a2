"""The CLI end to end on tiny sizes, and its one-line errors with exit code 2."""

import json

import numpy as np
import pytest

from hbf_edge.channels import make_dataset
from hbf_edge.cli import main

TINY = ["-N", "16", "--layers", "2", "--train-size", "20", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert main(["train", "upga", "--out", str(out), *TINY]) == 0
    return out


def test_train_evaluate_dump(model_dir, tmp_path, capsys):
    ch = tmp_path / "test.npz"
    assert main(["channels", "upga", "--out", str(ch), "--count", "5", "-N", "16", "--seed", "3"]) == 0
    dump = tmp_path / "d.npz"
    rc = main(["evaluate", str(model_dir), "--channels", str(ch), "--snr", "-10", "20",
               "--out", str(tmp_path / "ev"), "--dump", str(dump), "--quiet"])
    assert rc == 0
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["n_channels"] == 5 and results["snr_db"] == [-10.0, 20.0]
    assert (tmp_path / "ev" / "rate_vs_snr.png").exists() and (tmp_path / "ev" / "rate_vs_layers.png").exists()
    assert np.load(dump)["H"].shape == (10, 16, 4)
    assert "upga" in capsys.readouterr().out


def _expect_error(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hbf-edge: error:") and match in err


def test_errors_are_one_line_exit_2(model_dir, tmp_path, capsys):
    ds = make_dataset(n_channels=3, n_antennas=16, n_users=4, seed=1)
    H = ds.H.copy()
    H[1, :, 2] = 0
    np.savez(tmp_path / "zero.npz", H=H, model=np.array(ds.model),
             params=np.array(json.dumps(ds.params)), format_version=np.array(1))
    _expect_error(["evaluate", str(model_dir), "--channels", str(tmp_path / "zero.npz"), "--quiet"],
                  capsys, "all zero")
    ds.save(tmp_path / "ok.npz")
    _expect_error(["evaluate", str(model_dir), "--channels", str(tmp_path / "ok.npz"), "--noise", "-1",
                   "--quiet", "--out", str(tmp_path / "e")], capsys, "noise")
    _expect_error(["evaluate", str(tmp_path / "nothing"), "--quiet"], capsys, "does not exist")
    _expect_error(["train", "upga", "--out", str(tmp_path / "m"), *TINY, "--layers", "0"], capsys, "--layers")
    _expect_error(["train", "upga", "--out", str(tmp_path / "m"), *TINY, "--inner", "0"], capsys, "--inner")
    _expect_error(["train", "upga", "--out", str(model_dir), *TINY], capsys, "exists")
    wrong = make_dataset(n_channels=3, n_antennas=8, n_users=4, seed=1).save(tmp_path / "n8.npz")
    _expect_error(["train", "upga", "--out", str(tmp_path / "m"), *TINY, "--channels", str(wrong)], capsys, "N=8")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    _expect_error(["train", "upga", "--out", str(tmp_path / "m"), *TINY, "--channels", str(tmp_path / "junk.npz")],
                  capsys, "cannot read")
    assert not (tmp_path / "m").exists()  # nothing half-written


def test_altered_model_dir(model_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    w = copy / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:-3] + b"xyz")
    _expect_error(["evaluate", str(copy), "--quiet", "--count", "2"], capsys, "altered")


def _help(argv, capsys):
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_help_shows_only_the_family_options(model_dir, capsys):
    """Options come from each family's settings: ``train FAMILY`` and a directory command on a
    model list that family's options and no other family's."""
    upga, deepfp = _help(["train", "upga"], capsys), _help(["train", "deepfp"], capsys)
    assert "--layer-loss" in upga and "--quiet" in upga and "--hidden" not in upga
    assert "--hidden" in deepfp and "--layer-loss" not in deepfp
    evaluate = _help(["evaluate", str(model_dir)], capsys)
    assert "--dump" in evaluate and "--fastfp-iterations" not in evaluate and "--compare" not in evaluate
    assert "MODEL_DIR --help" in " ".join(_help(["evaluate"], capsys).split())  # no directory: how to see the options
    for cmd in ("channels upga", "demo", "quantize " + str(model_dir), "export " + str(model_dir)):
        assert "--" in _help(cmd.split(), capsys)
    for cmd in (["export"], ["export", str(model_dir)]):  # where the graphs are kept, with or without a model
        assert "HBF_EDGE_GRAPH_CACHE=off" in " ".join(_help(cmd, capsys).split())


def test_usage_error_exits_2(capsys):
    assert main(["train"]) == 2
    assert "required: FAMILY" in capsys.readouterr().err


def test_demo_quick(tmp_path, capsys):
    """The main job end to end: every stage's outputs exist and agree with each other."""
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--quiet", "--no-precompile", "--out", str(out)]) == 0
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["sizes"]["N"] == 64 and results["n_channels"] == 200
    summary = json.loads((out / "summary.json").read_text())
    ret = json.loads((out / "qat" / "retention.json").read_text())
    assert ret == summary["retention"] and ret["phase_bits"] == 4 and ret["precoder"]["word_bits"] == 12
    sim = json.loads((out / "sim" / "simulate.json").read_text())
    assert sim["code_mismatches"] == {"direct": 0, "ram": 0}
    assert sim["sum_rate"]["applied_mean"] == sim["sum_rate"]["model_mean"]
    from hbf_edge.export import read_bundle

    assert read_bundle(out / "bundle").manifest["beams"]["n_channels"] == 50
    report = (out / "report.md").read_text()
    assert "equal the hardware kernel's on all 50 exported beams" in report
    assert "overflow counters equal the hardware kernel's on all 50 exported beams" in report  # the C check
    assert f"{ret['sum_rate']['quantized'][0]:.3f}" in report and "beam-RAM recall" in report
    prof = json.loads((out / "profile" / "profile.json").read_text())
    assert prof == summary["profile"] and prof["target"]["name"] == "dsp-class core"
    assert "| layer 9 |" in report
    for png in ("eval/rate_vs_snr.png", "eval/rate_vs_layers.png", "sim/beampattern.png", "profile/profile.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "reports:" in capsys.readouterr().out
    html = (out / "report.html").read_text()  # every figure embedded, every stage's result
    assert html.count("data:image/png;base64,") == 4 and all(
        f in html for f in ("eval/results.json", "qat/retention.json", "sim/simulate.json", "profile/profile.json"))


def test_evaluate_rejects_channels_of_other_sizes(model_dir, tmp_path, capsys):
    other = make_dataset(n_channels=3, n_antennas=32, n_users=4, seed=1).save(tmp_path / "n32.npz")
    _expect_error(["evaluate", str(model_dir), "--channels", str(other), "--quiet"], capsys, "N=32")


def test_bench_kernels_prints_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # torch_compile is left out here: its first call compiles for ~30 s (the README's run has it)
    backends = ["numba_float64", "numba_float32", "numba_hardware", "numba_float64_session", "numba_hardware_session",
                "torch_eager", "onnxruntime"]
    # one batch: each cell is a fresh process (7 here, 3-4 s each from a cold cache); the batch
    # paths themselves are the kernel tests'
    assert main(["bench", "kernels", "--sizes", "8", "--batches", "3", "--layers", "2", "--backends", *backends,
                 "--repeat", "2", "--quiet", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["machine"]["matmul_gflops_1core_float64"] > 0 and printed["skipped"] == {}
    rows = printed["results"]
    assert [(r["N"], r["batch"]) for r in rows] == [(8, 3)]
    for r in rows:
        assert set(r["us_per_channel"]) == set(backends) and not r["errors"]
        assert all(v > 0 for v in r["us_per_channel"].values())
        assert set(r["iqr_us_per_channel"]) == set(backends) and all(v >= 0 for v in r["iqr_us_per_channel"].values())
        assert all(v > 0 for v in r["first_call_s"].values())
        assert r["over_float64"]["torch_eager"] == pytest.approx(
            r["us_per_channel"]["torch_eager"] / r["us_per_channel"]["numba_float64"], abs=0.01)
    _expect_error(["bench", "kernels", "--sizes", "0", "--quiet"], capsys, "--sizes")


def test_usage_errors_are_one_line_naming_the_commands_help(model_dir, capsys):
    assert main(["evaluate", str(model_dir), "--snrr", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "unrecognized arguments: --snrr 3" in err and "`hbf-edge evaluate" in err
    assert main(["train", "upga", "--out", "x", "--layers", "many"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "`hbf-edge train upga --help`" in err


def test_old_spellings_still_work_with_a_deprecation_line(model_dir, tmp_path, capsys):
    """``--test-size`` / ``--test-seed`` became ``--count`` / ``--seed``: same numbers, one warning each."""
    argv = ["evaluate", str(model_dir), "--snr", "10", "-q"]
    assert main([*argv, "--count", "2", "--seed", "7", "--out", str(tmp_path / "new")]) == 0
    assert main([*argv, "--test-size", "2", "--test-seed", "7", "--out", str(tmp_path / "old")]) == 0
    err = capsys.readouterr().err
    assert "--test-size is now --count" in err and "--test-seed is now --seed" in err
    new, old = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("new", "old"))
    assert new["sum_rate"] == old["sum_rate"] and new["n_channels"] == old["n_channels"] == 2


def test_json_prints_the_result_alone(model_dir, tmp_path, capsys):
    assert main(["evaluate", str(model_dir), "--count", "2", "--snr", "10", "--json", "-q",
                 "--out", str(tmp_path / "e")]) == 0
    printed = json.loads(capsys.readouterr().out)  # the whole of stdout is one JSON document
    assert printed == json.loads((tmp_path / "e" / "results.json").read_text())


def test_out_is_a_folder_and_inputs_take_it(model_dir, tmp_path, capsys):
    """A one-file command writes its file into the --out folder; the readers take the folder;
    the former form (--out naming the file) still works with a warning."""
    assert main(["channels", "upga", "--out", str(tmp_path / "h"), "--count", "3", "-N", "16"]) == 0
    assert (tmp_path / "h" / "channels.npz").is_file()
    assert main(["evaluate", str(model_dir), "--channels", str(tmp_path / "h"), "--snr", "10", "-q",
                 "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "results.json").read_text())["n_channels"] == 3
    capsys.readouterr()
    assert main(["channels", "upga", "--out", str(tmp_path / "old.npz"), "--count", "3", "-N", "16"]) == 0
    assert (tmp_path / "old.npz").is_file() and "names the file" in capsys.readouterr().err
    assert main(["calibration", "--out", str(tmp_path / "c")]) == 0 and (tmp_path / "c" / "calibration.json").is_file()
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0 and (tmp_path / "k" / "bundle.key").is_file()
