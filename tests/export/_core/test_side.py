"""Second processes (``hbf_edge._process.SideProcess``; the bundle writer's graphs, the demo's
evaluation): a failure is one line naming the job, and whatever happens no process and no folder
are left behind."""

import sys
import tempfile

import pytest

from hbf_edge import _process
from hbf_edge._process import SideProcess, side_cores
from hbf_edge.export._core import side
from hbf_edge.export._core.bundle import BundleError
from hbf_edge.export.upga.bundle import quantized_graphs_aside


def test_a_failed_side_process_names_its_part_and_its_last_message(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = side.graph_process("the quantized ONNX graphs", "hbf_edge.no_such_module:write", "x")
    with pytest.raises(BundleError, match=r"^the quantized ONNX graphs: its process failed \(exit 1\): .*"
                                          r"No module named 'hbf_edge.no_such_module'"):
        job.result()
    assert [p.name[:14] for p in tmp_path.iterdir()] == ["hbf-edge-side-"]
    job.close()
    job.close()  # idempotent
    assert list(tmp_path.iterdir()) == []


def test_the_process_writes_its_new_folder_on_one_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = "import os, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(); (p / 't').write_text(os.environ['HBF_EDGE_THREADS'])"
    job = SideProcess("a writer", lambda out: ["-c", code, str(out)], RuntimeError)
    try:
        assert (job.result() / "t").read_text() == "1"
    finally:
        job.close()
    assert list(tmp_path.iterdir()) == []


def test_close_stops_a_running_process_and_removes_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = SideProcess("a sleeper", lambda out: ["-c", "import time; time.sleep(60)"], RuntimeError)
    process = job.process
    assert process.poll() is None and len(list(tmp_path.iterdir())) == 1
    job.close()
    assert process.returncode == -15 and list(tmp_path.iterdir()) == []  # SIGTERM, at once


@pytest.mark.parametrize("env,cores", [({"HBF_EDGE_THREADS": "1", "NUMBA_NUM_THREADS": "4"}, 1),
                                       ({"NUMBA_NUM_THREADS": "3"}, 3)])
def test_the_second_process_follows_the_thread_policy_and_the_imports(monkeypatch, env, cores):
    """Two cores and Brevitas not imported yet (a fresh ``hbf-edge export``): the quantized graphs
    go to a second process; one core, or Brevitas already here (the demo, a session): not.
    (``side_cores`` is imported at collection, before the suite's own fixture replaces it,
    ``tests/conftest.py``.)"""
    monkeypatch.setattr(_process, "side_cores", side_cores)
    for name in ("HBF_EDGE_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _process.side_cores() == cores
    monkeypatch.delitem(sys.modules, "brevitas", raising=False)
    assert quantized_graphs_aside() == (cores >= 2)
    monkeypatch.setitem(sys.modules, "brevitas", sys)
    assert not quantized_graphs_aside()
