"""The ONNX graph cache: a second export of the same model takes its graphs from it, byte for
byte, and still checks them; anything a graph depends on changes the key; a damaged, foreign,
unwritable or switched-off cache never changes what an export writes."""

import json
import os
import shutil
import time

import pytest

from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.export import BundleError, read_bundle, write_bundle
from hbf_edge.export._core import graph_cache, side
from helpers import off_by_one_quant_onnx, quantized_model_dir

QUANT = "hbf_edge.export.upga.onnx_quant:write_quant_graphs"
GRAPHS = ("model.onnx", "model.qcdq.onnx", "model.qonnx.onnx")


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "cache"))
    quantized_model_dir(tmp_path, 8, 2, {"default": {"phase_bits": 3}})
    return tmp_path / "q", saleh_valenzuela_miso(5, 8, 4, seed=3)


def _traces(monkeypatch):
    """Count the graph writers the bundle runs (here or in a second process)."""
    calls = []
    real = side._resolve
    monkeypatch.setattr(side, "_resolve", lambda writer: calls.append(writer) or real(writer))
    started = []
    real_process = side.SideProcess
    monkeypatch.setattr(side, "SideProcess", lambda *args: started.append(args[2]) or real_process(*args))
    return calls, started


def test_a_second_export_takes_the_graphs_from_the_cache_and_checks_them(model, tmp_path, monkeypatch):
    q, H = model
    calls, started = _traces(monkeypatch)
    first = read_bundle(write_bundle(q, tmp_path / "b1", H, snr_db=10.0)).manifest
    assert sorted(calls) == sorted([QUANT, "hbf_edge.export.upga.onnx_float:write_float_graph"])
    assert len(list((tmp_path / "cache").iterdir())) == 2  # one entry per writer
    calls.clear()
    from hbf_edge.export.upga import bundle

    monkeypatch.setattr(bundle, "quantized_graphs_aside", lambda: True)  # a miss would start a second process
    second = read_bundle(write_bundle(q, tmp_path / "b2", H[:3], snr_db=10.0)).manifest
    assert calls == [] and started == []  # nothing traced, no process started
    for name in GRAPHS:
        assert second["files"][name] == first["files"][name], name
    assert second["verified"]["model.qcdq.onnx"]["channels"] == 3  # checked on this export's beams
    # the check still runs on a cached graph: a graph that disagrees with the kernel is refused
    off_by_one_quant_onnx(monkeypatch)
    with pytest.raises(BundleError, match="1 codes and 0 W words differ"):
        write_bundle(q, tmp_path / "b3", H, snr_db=10.0)
    assert not (tmp_path / "b3").exists()


def test_the_key_follows_the_models_content_and_the_writer(model, tmp_path):
    q, _ = model
    key = graph_cache.graph_key(QUANT, q)
    moved = shutil.copytree(q, tmp_path / "elsewhere")
    assert graph_cache.graph_key(QUANT, moved) == key  # content, not path
    assert graph_cache.graph_key("hbf_edge.export.upga.onnx_float:write_float_graph", q) != key
    config = json.loads((moved / "config.json").read_text())
    config["quantization"]["code_search"] = {"sweeps": 1, "span": 1}
    (moved / "config.json").write_text(json.dumps(config))
    assert graph_cache.graph_key(QUANT, moved) != key


def test_a_graph_that_fails_its_check_is_not_kept(model, tmp_path, monkeypatch):
    q, H = model
    from hbf_edge.export.upga import onnx_run

    monkeypatch.setattr(onnx_run, "run_quant_onnx", lambda *args: (_ for _ in ()).throw(BundleError("refused")))
    with pytest.raises(BundleError, match="refused"):
        write_bundle(q, tmp_path / "b", H, snr_db=10.0)
    key = graph_cache.graph_key(QUANT, q)
    assert not graph_cache.has(key, ["model.qcdq.onnx", "model.qonnx.onnx"])


def test_a_damaged_entry_is_traced_again_and_off_keeps_nothing(model, tmp_path, monkeypatch, caplog):
    q, H = model
    write_bundle(q, tmp_path / "b1", H, snr_db=10.0)
    entry = tmp_path / "cache" / graph_cache.graph_key(QUANT, q)
    good = (entry / "model.qcdq.onnx").read_bytes()
    (entry / "model.qcdq.onnx").write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    calls, _ = _traces(monkeypatch)
    with caplog.at_level("WARNING", logger="hbf_edge"):
        path = write_bundle(q, tmp_path / "b2", H, snr_db=10.0)
    assert QUANT in calls and "is damaged" in caplog.text
    assert (path / "model.qcdq.onnx").read_bytes() == good
    monkeypatch.setenv(graph_cache.ENV, "off")
    shutil.rmtree(tmp_path / "cache")
    calls.clear()
    write_bundle(q, tmp_path / "b3", H, snr_db=10.0)
    assert len(calls) == 2 and not (tmp_path / "cache").exists()


def test_an_unwritable_cache_is_a_miss_and_the_export_goes_on(model, tmp_path, monkeypatch):
    q, H = model
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "file" / "cache"))
    path = write_bundle(q, tmp_path / "b", H, snr_db=10.0)
    assert all((path / name).is_file() for name in GRAPHS)


def test_the_least_recently_used_entries_go_first(tmp_path):
    for i, name in enumerate(["old", "mid", "new"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "g.onnx").write_bytes(b"x" * 100)
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    stale = tmp_path / ".entry-killed"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200,) * 2)
    graph_cache._trim(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid", "new"]
