"""The bundle writer's second process: its failure is one line naming the part, and whatever
happens it leaves no process and no folder behind."""

import sys
import tempfile

import pytest

from hbf_edge.export._core import side
from hbf_edge.export._core.bundle import BundleError
from hbf_edge.export._core.side import SideProcess, side_cores
from hbf_edge.export.upga.bundle import quantized_graphs_aside


def test_a_failed_side_process_names_its_part_and_its_last_message(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = SideProcess("the quantized ONNX graphs", "hbf_edge.no_such_module", "x")
    with pytest.raises(BundleError, match=r"^the quantized ONNX graphs: its process failed \(exit 1\): .*"
                                          r"No module named hbf_edge.no_such_module"):
        job.result()
    assert [p.name[:14] for p in tmp_path.iterdir()] == ["hbf-edge-side-"]
    job.close()
    job.close()  # idempotent
    assert list(tmp_path.iterdir()) == []


def test_close_stops_a_running_process_and_removes_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = SideProcess("a sleeper", "timeit", "-n", "1", "import time; time.sleep(60)")
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
    monkeypatch.setattr(side, "side_cores", side_cores)
    for name in ("HBF_EDGE_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert side.side_cores() == cores
    monkeypatch.delitem(sys.modules, "brevitas", raising=False)
    assert quantized_graphs_aside() == (cores >= 2)
    monkeypatch.setitem(sys.modules, "brevitas", sys)
    assert not quantized_graphs_aside()
