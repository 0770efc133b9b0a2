"""The profiler's structure, op counts, target estimate and CLI (no timing assertions)."""

import json

import pytest

from hbf_edge import ConfigError
from hbf_edge.cli import main
from hbf_edge.complexity import OpCount, upga_ops
from hbf_edge.profiling import load_target, profile_model, target_estimate


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("prof") / "m"
    assert main(["train", "upga", "--out", str(out), "-N", "16", "--layers", "2", "--train-size", "10", "--epochs", "1",
                 "--quiet"]) == 0
    return out


def test_profile_structure_and_costs(model_dir):
    from hbf_edge.export.upga.profile import onnxruntime_stages

    r = profile_model(model_dir, batches=(1, 3), repeat=1, min_run_s=0.0, onnxruntime=onnxruntime_stages)
    assert r["stages"] == ["init", "layer 0", "layer 1"]
    ops = upga_ops(16, 4, 4, 2, 1)
    assert r["cost"]["init"]["flops"] == ops["init"].flops and r["cost"]["layer 1"]["flops"] == ops["layer"].flops
    assert r["cost"]["layer 0"]["param_bytes_float64"] == 16
    for batch in ("1", "3"):
        for backend, m in r["measured"][batch].items():
            assert set(m["us_per_channel"]) == set(r["stages"]) and m["whole_us_per_channel"] > 0
            assert all(v >= 0 for v in m["us_per_channel"].values()) and m["stage_sum_over_whole"] > 0
            assert 0 < m["fraction_of_peak"] and m["achieved_gflops"] > 0
    assert r["machine"]["matmul_gflops_1core_float64"] > 0
    assert set(r["measured"]["1"]) == {"numba_float64", "numba_float32", "numba_hardware", "torch_eager", "onnxruntime"}
    # onnxruntime's per-node profile maps nodes to every stage
    assert all(v > 0 for v in r["measured"]["3"]["onnxruntime"]["us_per_channel"].values())


def test_the_float_graph_is_traced_once_per_model(model_dir, monkeypatch, tmp_path):
    """onnxruntime's stages at every batch run on one trace of the model, and so does a second
    process (the graph cache); another model's steps (or config) trace again."""
    import numpy as np
    import torch

    from hbf_edge.export.upga import onnx_float, profile
    from hbf_edge.modeldir import load_model

    traced = []
    real = onnx_float.export_float_onnx
    monkeypatch.setattr(onnx_float, "export_float_onnx", lambda *a, **k: traced.append(1) or real(*a, **k))
    monkeypatch.setattr(profile, "_TRACED", {})
    monkeypatch.setenv("HBF_EDGE_GRAPH_CACHE", str(tmp_path / "graphs"))  # empty: other tests profiled this model
    model, config = load_model(model_dir)
    H = np.ones((2, 16, 4)) + 0.3j * np.arange(128).reshape(2, 16, 4) / 128
    for B in (1, 2):
        profile.onnxruntime_stages(model, config, H[:B], np.full(B, 10.0), np.ones(B), 1, 0.0)
    assert len(traced) == 1
    monkeypatch.setattr(profile, "_TRACED", {})  # another process: the graph cache has it
    profile.onnxruntime_stages(model, config, H, np.full(2, 10.0), np.ones(2), 1, 0.0)
    assert len(traced) == 1
    with torch.no_grad():
        model.mu.mul_(1.5)
    profile.onnxruntime_stages(model, config, H, np.full(2, 10.0), np.ones(2), 1, 0.0)
    assert len(traced) == 2
    monkeypatch.setenv("HBF_EDGE_GRAPH_CACHE", "off")  # no cache: traced again in a new process
    monkeypatch.setattr(profile, "_TRACED", {})
    profile.onnxruntime_stages(model, config, H, np.full(2, 10.0), np.ones(2), 1, 0.0)
    assert len(traced) == 3


def test_profile_reports_its_spread_and_what_it_ran(model_dir):
    """Quartiles per cell, warnings naming the untrustworthy cells, and the Q a float model's
    hardware backend ran at."""
    from hbf_edge.bench import Timing, time_per_channel
    from hbf_edge.profiling import _warnings

    r = profile_model(model_dir, batches=(2,), backends=("numba_float64", "numba_hardware"), repeat=5, min_run_s=0.0)
    cell = r["measured"]["2"]["numba_float64"]
    assert set(cell["iqr_us_per_channel"]) == set(r["stages"]) and cell["whole_iqr_us_per_channel"] >= 0
    assert isinstance(r["warnings"], list)
    assert r["numba_hardware"]["phase_bits"] == 4 and "float model" in r["numba_hardware"]["note"]
    t = time_per_channel(lambda: None, 4, 5, 0.0)
    assert isinstance(t, Timing) and t.q1 <= t <= t.q3
    steady, noisy = Timing(1.0, 0.95, 1.05), Timing(1.0, 0.5, 1.5)
    assert _warnings(1, "b", {"layer 0": steady}, steady) == []
    (spread,) = _warnings(1, "b", {"layer 0": noisy}, steady)
    assert "layer 0" in spread and "spread" in spread
    (adds,) = _warnings(1, "b", {"a": steady, "c": steady}, steady)
    assert "2.00x the whole" in adds


def test_target_estimate_by_hand(tmp_path):
    target = {"name": "t", "clock_hz": 1e6, "real_macs_per_cycle": 2.0, "cycles_per_div": 10.0,
              "cycles_per_sqrt": 20.0, "cycles_per_trig": 30.0, "bytes_per_word": 4, "assumptions": "x"}
    est = target_estimate(OpCount(flops=400, sqrt=1, div=2, trig=3), target)
    assert est == {"cycles": 400 / 2 / 2 + 2 * 10 + 20 + 3 * 30, "us": 230.0}
    (tmp_path / "bad.toml").write_text('name = "t"\nclock_hz = -1\n')
    with pytest.raises(ConfigError):
        load_target(tmp_path / "bad.toml")


def test_example_targets_load():
    import hbf_edge

    root = __import__("pathlib").Path(hbf_edge.__file__).parent / "targets"
    for name in ("dsp", "mcu"):
        t = load_target(root / f"{name}.toml")
        assert t["clock_hz"] > 0 and t["assumptions"]


def test_profile_command(model_dir, tmp_path, capsys):
    assert main(["profile", str(model_dir), "--batches", "2", "--repeat", "1", "--backends", "numba_float64",
                 "torch_eager", "--target", "mcu", "--out", str(tmp_path / "p"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["target"]["name"] == "microcontroller-class core" and printed["target"]["total_us"] > 0
    assert (tmp_path / "p" / "profile.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["profile", str(model_dir), "--target", "fpga", "--out", str(tmp_path / "q")]) == 2
    assert main(["profile", str(model_dir), "--backends", "gpu", "--out", str(tmp_path / "q")]) == 2


def test_profile_of_a_quantized_model_with_the_output_stage(tmp_path, capsys):
    from helpers import quantized_model_dir

    from hbf_edge.profiling import format_profile

    quantized_model_dir(tmp_path, 16, 2, {"default": {"phase_bits": 3}}, xi=1.0)
    r = profile_model(tmp_path / "q", batches=(2,), repeat=1, min_run_s=0.0, backends=("numba_hardware", "torch_eager"))
    assert r["stages"] == ["init", "layer 0", "layer 1", "output"]
    assert r["cost"]["output"]["flops"] == upga_ops(16, 4, 4, 2, 1)["output"].flops > 0
    assert r["measured"]["2"]["numba_hardware"]["us_per_channel"]["output"] > 0
    assert "output" not in r["measured"]["2"]["torch_eager"]["us_per_channel"]  # the float model has no output stage
    row = [line for line in format_profile(r, "2").splitlines() if line.strip().startswith("output")][0]
    assert row.rstrip().endswith("-")
    assert main(["profile", str(tmp_path / "q"), "--batches", "2", "--repeat", "1", "--backends", "numba_hardware",
                 "onnxruntime", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "profile.png").read_bytes()[:4] == b"\x89PNG"
    quantized_model_dir(tmp_path, 16, 2, {"default": {"phase_bits": 3}}, xi=1.0, search={"sweeps": 2, "span": 1},
                        name="s")
    r = profile_model(tmp_path / "s", batches=(2,), repeat=1, min_run_s=0.0, backends=("numba_hardware",))
    assert r["code_search"]["max_evaluations"] == 1 + 2 * 16 * 4 * 2
    assert r["measured"]["2"]["numba_hardware"]["us_per_channel"]["output"] > 0


def test_onnxruntime_qcdq_times_the_shipped_quantized_graph(tmp_path, capsys):
    """A quantized model's profile has the onnxruntime_qcdq column by default: model.qcdq.onnx
    timed whole (no stages, so no stage-sum warning); a float model refuses it in one line."""
    import json

    from helpers import quantized_model_dir

    quantized_model_dir(tmp_path, 16, 2, {"default": {"phase_bits": 3}}, xi=1.0)
    assert main(["profile", str(tmp_path / "q"), "--batches", "2", "--repeat", "1", "--out", str(tmp_path / "p"),
                 "-q"]) == 0
    r = json.loads((tmp_path / "p" / "profile.json").read_text())
    cell = r["measured"]["2"]["onnxruntime_qcdq"]
    assert cell["whole_us_per_channel"] > 0 and cell["us_per_channel"] == {} and cell["stage_sum_over_whole"] is None
    assert not any("onnxruntime_qcdq" in w and "add up" in w for w in r["warnings"])
    assert set(r["measured"]["2"]) >= {"onnxruntime", "onnxruntime_qcdq", "numba_hardware"}
    assert "onnxruntime_qcdq" in capsys.readouterr().out
    assert main(["profile", str(tmp_path / "float"), "--backends", "onnxruntime_qcdq", "--out",
                 str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "times a quantized model's model.qcdq.onnx" in err and len(err.strip().splitlines()) == 1


def test_integer_estimate_by_hand(tmp_path):
    from hbf_edge.profiling import integer_estimate

    target = {"clock_hz": 1e6, "cycles_per_div": 10.0, "cycles_per_sqrt": 20.0, "cycles_per_lookup": 3.0,
              "int_macs_per_cycle": {8: 8.0, 16: 4.0, 32: 2.0}}
    ops = OpCount(flops=800, sqrt=1, div=2, trig=3)
    assert integer_estimate(ops, 12, target) == {"cycles": 400 / 4 + 20 + 20 + 9, "us": 149.0, "operand_bits": 12,
                                                 "macs_per_cycle": 4.0}
    assert integer_estimate(ops, 8, target)["macs_per_cycle"] == 8.0
    assert integer_estimate(ops, 40, target)["macs_per_cycle"] == 2.0 / 4  # two 32-bit pieces each: 4 products
    assert integer_estimate(ops, 8, {"clock_hz": 1e6}) is None
    (tmp_path / "t.toml").write_text(
        'name = "t"\nclock_hz = 1.0\nreal_macs_per_cycle = 1.0\ncycles_per_div = 1.0\ncycles_per_sqrt = 1.0\n'
        'cycles_per_trig = 1.0\nbytes_per_word = 4\nassumptions = "x"\nint_macs_per_cycle = {"16" = 1.0}\n')
    with pytest.raises(ConfigError, match="come together"):
        load_target(tmp_path / "t.toml")


def test_a_quantized_model_is_estimated_in_integer_arithmetic(tmp_path):
    """The target estimate of a Q=3 model counts integer MACs at its operand widths and differs
    from its float model's; narrower words make it cheaper; the state is counted in its words."""
    from helpers import quantized_model_dir

    from hbf_edge.profiling import operand_bits, resolve_target

    mcu, dsp = resolve_target("mcu"), resolve_target("dsp")
    quantized_model_dir(tmp_path, 16, 2, {"default": {"phase_bits": 3}})
    quantized_model_dir(tmp_path, 16, 2, {"default": {"phase_bits": 3, "precoder": {"word_bits": 8, "frac_bits": 6},
                                                      "channel": {"word_bits": 8, "frac_bits": 5},
                                                      "lut": {"word_bits": 8, "frac_bits": 6},
                                                      "gradient": {"word_bits": 8, "frac_bits": 4},
                                                      "step": {"word_bits": 8, "frac_bits": 7},
                                                      "accumulator": {"word_bits": 16, "frac_bits": 8}}},
                        name="narrow")
    kw = dict(batches=(2,), repeat=1, min_run_s=0.0, backends=("numba_float64",))
    flt, q = (profile_model(tmp_path / d, target=mcu, **kw)["target"] for d in ("float", "q"))
    assert flt["arithmetic"] == "float" and flt["total_us"] == flt["float_total_us"] and "integer_stages" not in flt
    assert q["arithmetic"] == "integer" and q["total_us"] < flt["total_us"]  # 32-bit integer MACs at 1 per cycle
    assert q["float_total_us"] == flt["total_us"]  # the same op counts
    assert q["integer_stages"]["layer 0"]["macs_per_cycle"] == 1.0
    flt, q, narrow = (profile_model(tmp_path / d, target=dsp, **kw)["target"] for d in ("float", "q", "narrow"))
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.profiling import hardware_layers

    bits = operand_bits(hardware_layers(read_model_dir(tmp_path / "q")[0])[0])
    assert q["integer_stages"]["layer 0"]["operand_bits"] == bits
    assert narrow["integer_stages"]["layer 0"]["operand_bits"] == 16 and narrow["total_us"] < q["total_us"]
    assert flt["state_bytes"] == 2 * (16 * 4 + 16 * 4 + 4 * 4) * dsp["bytes_per_word"]
    assert narrow["state_bytes"] == 2 * 16 * 4 + 16 * 4 + 2 * 4 * 4  # 8-bit words, 3-bit codes in a byte
