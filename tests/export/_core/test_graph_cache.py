"""The ONNX graph cache: a second export of the same model takes its graphs from it, byte for
byte, and still checks them; anything a graph depends on changes the key; a damaged, unwritable
or switched-off cache never changes what a part writes.  The cache's rules are tested on a part
whose writer writes a small file (``WRITER``); one UPGA model goes through ``write_bundle``."""

import os
import shutil
import time
from pathlib import Path

import pytest

from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.export import BundleError, read_bundle, write_bundle
from hbf_edge.export._core import graph_cache, side
from hbf_edge.export._core.side import SidePart
from hbf_edge.export.upga.onnx_run import QUANT_WRITER as QUANT
from helpers import off_by_one_quant_onnx, quantized_model_dir

GRAPHS = ("model.onnx", "model.qcdq.onnx", "model.qonnx.onnx")
WRITER = f"{__name__}:write_part"
WRITTEN = []


def write_part(model_dir, out):
    """A part's writer: ``part.txt`` from the model's ``config.json`` (counted in ``WRITTEN``)."""
    WRITTEN.append(str(model_dir))
    (Path(out) / "part.txt").write_text("part of " + (Path(model_dir) / "config.json").read_text())


@pytest.fixture
def part_model(tmp_path, monkeypatch):
    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "cache"))
    WRITTEN.clear()
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    (model / "weights.safetensors").write_bytes(b"w1")
    return model


def _run(model, out, check=None):
    out.mkdir()
    return SidePart("the part", ["part.txt"], WRITER, model, check=check)(out)


def test_a_second_export_takes_the_graphs_from_the_cache_and_checks_them(tmp_path, monkeypatch):
    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "cache"))
    quantized_model_dir(tmp_path, 8, 2, {"default": {"phase_bits": 3}})
    q, H = tmp_path / "q", saleh_valenzuela_miso(5, 8, 4, seed=3)
    first = read_bundle(write_bundle(q, tmp_path / "b1", H, snr_db=10.0)).manifest
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the float and the quantized graphs' entries
    calls, started = [], []
    real = side._resolve
    monkeypatch.setattr(side, "_resolve", lambda writer: calls.append(writer) or real(writer))
    monkeypatch.setattr(side, "graph_process", lambda *args: started.append(args))
    from hbf_edge.export.upga import bundle

    monkeypatch.setattr(bundle, "quantized_graphs_aside", lambda: True)  # a miss would start a second process
    second = read_bundle(write_bundle(q, tmp_path / "b2", H[:3], snr_db=10.0)).manifest
    assert calls == [] and started == []  # nothing traced, no process started
    for name in GRAPHS:
        assert second["files"][name] == first["files"][name], name
    assert second["verified"]["model.qcdq.onnx"]["channels"] == 3  # checked on this export's beams
    # the profile times the shipped graph from the cache (its own export would fail here)
    import numpy as np

    from hbf_edge.export.upga import onnx_quant
    from hbf_edge.export.upga.profile import qcdq_whole

    monkeypatch.setattr(onnx_quant, "export_quant_onnx", lambda *args: pytest.fail("traced again"))
    assert qcdq_whole(q, H[:2], np.full(2, 10.0), np.ones(2), 1, 0.0)[1] > 0
    off_by_one_quant_onnx(monkeypatch)  # the check still runs on a cached graph
    with pytest.raises(BundleError, match="1 codes and 0 W words differ"):
        write_bundle(q, tmp_path / "b3", H, snr_db=10.0)
    assert not (tmp_path / "b3").exists()


def test_a_part_is_written_once_then_taken_from_the_cache(part_model, tmp_path):
    checked = []
    assert _run(part_model, tmp_path / "o1", lambda tmp: checked.append(tmp) or {"ok": 1}) == {"ok": 1}
    assert _run(part_model, tmp_path / "o2", lambda tmp: checked.append(tmp) or {"ok": 2}) == {"ok": 2}
    assert len(WRITTEN) == 1 and checked == [tmp_path / "o1", tmp_path / "o2"]
    assert (tmp_path / "o2" / "part.txt").read_text() == 'part of {"a": 1}'


def test_the_key_follows_the_models_content_and_the_writer(part_model, tmp_path):
    key = graph_cache.graph_key(WRITER, part_model)
    moved = shutil.copytree(part_model, tmp_path / "elsewhere")
    assert graph_cache.graph_key(WRITER, moved) == key  # content, not path
    assert graph_cache.graph_key(QUANT, part_model) != key
    (moved / "config.json").write_text('{"a": 2}')
    assert graph_cache.graph_key(WRITER, moved) != key
    (moved / "config.json").write_text('{"a": 1}')
    (moved / "weights.safetensors").write_bytes(b"w2")
    assert graph_cache.graph_key(WRITER, moved) != key
    (moved / "weights.safetensors").write_bytes(b"w1")
    assert graph_cache.graph_key(WRITER, moved) == key
    # reports other commands write beside the model (retention.json names the folder's path)
    (moved / "retention.json").write_text(f'{{"model_dir": "{moved}"}}')
    (moved / "profile").mkdir()
    (moved / "profile" / "profile.json").write_text("{}")
    assert graph_cache.graph_key(WRITER, moved) == key


def test_a_part_that_fails_its_check_is_not_kept(part_model, tmp_path):
    def refuse(tmp):
        raise BundleError("refused")

    with pytest.raises(BundleError, match="refused"):
        _run(part_model, tmp_path / "o1", refuse)
    assert not graph_cache.has(graph_cache.graph_key(WRITER, part_model), ["part.txt"])
    _run(part_model, tmp_path / "o2")
    assert len(WRITTEN) == 2


def test_a_damaged_entry_is_written_again_and_off_keeps_nothing(part_model, tmp_path, monkeypatch, caplog):
    _run(part_model, tmp_path / "o1")
    entry = tmp_path / "cache" / graph_cache.graph_key(WRITER, part_model)
    (entry / "part.txt").write_text("damaged")
    with caplog.at_level("WARNING", logger="hbf_edge"):
        _run(part_model, tmp_path / "o2")
    assert len(WRITTEN) == 2 and "is damaged" in caplog.text
    assert (tmp_path / "o2" / "part.txt").read_text() == 'part of {"a": 1}'
    (entry / "index.json").write_text("{")  # an index that does not parse: a miss
    _run(part_model, tmp_path / "o3")
    assert len(WRITTEN) == 3
    monkeypatch.setenv(graph_cache.ENV, "off")
    shutil.rmtree(tmp_path / "cache")
    _run(part_model, tmp_path / "o4")
    _run(part_model, tmp_path / "o5")
    assert len(WRITTEN) == 5 and not (tmp_path / "cache").exists()


def test_an_unwritable_cache_is_a_miss_and_the_part_is_written(part_model, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "file" / "cache"))
    _run(part_model, tmp_path / "o1")
    assert (tmp_path / "o1" / "part.txt").is_file() and len(WRITTEN) == 1


def test_a_model_that_cannot_be_hashed_is_a_miss(part_model, tmp_path, monkeypatch):
    def unreadable(path):
        raise PermissionError(f"cannot read {path}")

    from hbf_edge import modelfiles

    monkeypatch.setattr(modelfiles, "sha256_file", unreadable)
    assert graph_cache.graph_key(WRITER, part_model) is None
    _run(part_model, tmp_path / "o1")
    assert (tmp_path / "o1" / "part.txt").is_file() and not (tmp_path / "cache").exists()


def test_the_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(graph_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert graph_cache.cache_root() == tmp_path / "hbf-edge" / "graphs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert graph_cache.cache_root() == tmp_path / "home" / ".cache" / "hbf-edge" / "graphs"


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


def test_deepfps_graph_is_cached_per_model_and_problem_size(tmp_path, monkeypatch):
    """DeepFP's whole-network graph: a second export on other channels of the same sizes takes it
    from the cache (same bytes, checked on its own channels); other sizes trace again."""
    import torch

    from hbf_edge.export.deepfp import bundle as deepfp_bundle
    from hbf_edge.families.deepfp.model import DeepFP
    from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
    from hbf_edge.families.deepfp.train import deepfp_model_config
    from hbf_edge.modeldir import save_model

    monkeypatch.setenv(graph_cache.ENV, str(tmp_path / "cache"))
    net = NetworkConfig(n_cells=1, n_users=3, n_tx=8, n_rx=2, n_streams=1)
    model = DeepFP(2, 8, 1, 8, seed=1)
    save_model(model, deepfp_model_config(model, net, {}, []), tmp_path / "m")
    traces = []
    real = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: traces.append(1) or real(*a, **k))
    H = generate_channels(net, 9, seed=4)
    first = read_bundle(deepfp_bundle.write_deepfp_bundle(tmp_path / "m", tmp_path / "b1", H[:4]))
    second = read_bundle(deepfp_bundle.write_deepfp_bundle(tmp_path / "m", tmp_path / "b2", H[4:], seed=3))
    assert len(traces) == 1 and second.manifest["files"]["model.onnx"] == first.manifest["files"]["model.onnx"]
    assert second.manifest["verified"]["model.onnx"]["mean_wsr_onnx"] != first.manifest["verified"]["model.onnx"]["mean_wsr_onnx"]
    fewer = generate_channels(NetworkConfig(n_cells=1, n_users=2, n_tx=8, n_rx=2, n_streams=1), 3, seed=5)
    deepfp_bundle.write_deepfp_bundle(tmp_path / "m", tmp_path / "b3", fewer)
    assert len(traces) == 2
