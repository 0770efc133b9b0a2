"""The demo's evaluation in a second process beside its QAT (``hbf_edge.demo``): the same
results and files as the evaluation in the demo's own process, and a failure in one line with
nothing left behind."""

import dataclasses
import json
import tempfile

import pytest

from hbf_edge import _process, demo
from hbf_edge.errors import SecondProcessError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    plan = dataclasses.replace(demo._PLANS["tiny"], evaluate_beside=True)
    model, _ = demo._train(plan, out, False)
    return plan, out, model


def test_the_second_process_writes_what_the_demo_would(trained, tmp_path, monkeypatch):
    plan, out, _ = trained
    here = demo._evaluate(plan, out, demo.SNRS, False)
    files = {p.name: p.read_bytes() for p in (out / "eval").iterdir()}
    monkeypatch.setattr(_process, "side_cores", lambda: 2)  # the suite's fixture says 1 (tests/conftest.py)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    beside = demo._evaluation_beside(plan, out)
    try:
        there = demo._take_evaluation(beside, out)
    finally:
        beside.close()
    assert list(tmp_path.iterdir()) == []
    assert json.loads(json.dumps(here)) == {**there, "wall_seconds": here["wall_seconds"]}
    assert there["n_channels"] == plan.n_test and there["model_dir"] == str(out / "model")
    again = {p.name: p.read_bytes() for p in (out / "eval").iterdir()}
    assert set(again) == set(files) == {"results.json", "results.csv", "rate_vs_snr.png", "rate_vs_layers.png"}

    def rows(csv):  # the tables but the time
        return [line for line in csv.decode().splitlines() if "wall_seconds" not in line]

    assert rows(again["results.csv"]) == rows(files["results.csv"]) and len(rows(files["results.csv"])) > 20


def test_one_core_or_a_short_qat_evaluates_here(trained, monkeypatch):
    plan, out, _ = trained
    monkeypatch.setattr(_process, "side_cores", lambda: 1)
    assert demo._evaluation_beside(plan, out) is None
    monkeypatch.setattr(_process, "side_cores", lambda: 2)
    assert [name for name, p in demo._PLANS.items() if p.evaluate_beside] == ["full"]  # measured: README
    assert demo._evaluation_beside(demo._PLANS["quick"], out) is None


def test_a_failed_evaluation_is_one_line_and_leaves_nothing(trained, tmp_path, monkeypatch):
    plan, out, _ = trained
    monkeypatch.setattr(_process, "side_cores", lambda: 2)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    beside = demo._evaluation_beside(plan, tmp_path)  # no model there
    try:
        with pytest.raises(SecondProcessError, match=r"^the demo's evaluation: its process failed \(exit 2\): "
                                                      r"hbf-edge: error: .*model"):
            demo._take_evaluation(beside, tmp_path)
    finally:
        beside.close()
    assert list((tmp_path / "tmp").iterdir()) == [] and not (tmp_path / "eval").exists()
