"""The demo's background precompilation (``hbf_edge._precompile``): when it starts, how it stops,
and that its tiny run goes through every stage whose kernels it is there to compile."""

import subprocess
import sys

import pytest

from hbf_edge import _precompile


def test_a_stamp_for_these_sources_skips_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    stamp = _precompile.stamp_path("stages")
    assert stamp.parent == tmp_path and stamp.name.startswith("hbf_edge_precompiled_") and stamp.name.endswith("_stages")
    assert _precompile.stamp_path("stages") == stamp  # the same sources and settings, the same stamp
    assert _precompile.stamp_path("float32") != stamp  # each part its own
    stamp.touch()
    assert _precompile.start("hbf_edge.demo", "stages", 10) is None
    monkeypatch.setenv("NUMBA_OPT", "0")  # other compiled code: another stamp, so it would run
    assert _precompile.stamp_path("stages") != stamp


def _background(work, code):
    work.mkdir()
    (work / "partial.npz").write_bytes(b"x")
    with open(work / "stderr.txt", "wb") as errors:
        process = subprocess.Popen([sys.executable, "-c", code], stderr=errors)
    return _precompile.Background(process, work)


def test_stop_ends_the_process_and_removes_its_folder(tmp_path):
    background = _background(tmp_path / "work", "import time; time.sleep(60)")
    assert _precompile.stop(background) is None
    assert background.process.poll() is not None and not background.work.exists()
    assert _precompile.stop(background) is None  # stopping twice is harmless
    assert _precompile.stop(None) is None


def test_a_failed_run_is_reported_in_one_line(tmp_path):
    background = _background(tmp_path / "work", "raise SystemExit('numba: out of memory')")
    background.process.wait()
    note = _precompile.stop(background)
    assert note == "the background precompilation failed (exit 1): numba: out of memory"
    assert not background.work.exists()


@pytest.mark.slow  # about 2 minutes from a cold cache: it compiles the export's and profile's kernels
def test_the_background_run_completes_and_stamps(tmp_path):
    """``python -m hbf_edge.demo WORK STAMP PART NICE`` as the demo starts each part: the first
    part's tiny run writes the model, its evaluation, the quantized model and the bundle (its
    profile writes nothing), the second's a float model, then each its stamp."""
    from hbf_edge import demo

    for part, paths in (("stages", ("model/config.json", "eval/results.json", "qat/config.json",
                                    "bundle/manifest.json")),
                        ("float32", ("model/config.json",))):
        work, stamp = tmp_path / part, tmp_path / "cache" / part
        work.mkdir()
        nice = str(demo._PRECOMPILE[part][1])
        done = subprocess.run([sys.executable, "-m", "hbf_edge.demo", str(work), str(stamp), part, nice],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert stamp.exists()
        for path in paths:
            assert (work / path).exists(), path


def test_the_demo_starts_it_and_stops_it_even_on_failure(tmp_path, monkeypatch):
    """``run_demo`` says that it started the process and ends it when the demo ends, also when a
    stage fails (the stages are replaced by one that fails at once)."""
    from hbf_edge import demo

    started = []

    def fake_start(module, part, nice):
        assert module == "hbf_edge.demo" and nice == (10 if part == "stages" else 19)
        started.append(_background(tmp_path / f"work{len(started)}", "import time; time.sleep(60)"))
        return started[-1]

    def failing_stages(*args):
        raise RuntimeError("a stage failed")

    monkeypatch.setattr(_precompile, "start", fake_start)
    monkeypatch.setattr(demo, "_run", failing_stages)
    lines = []
    with pytest.raises(RuntimeError, match="a stage failed"):
        demo.run_demo(tmp_path / "out", log=lines.append)
    assert len(started) == 2 and all(b.process.poll() is not None and not b.work.exists() for b in started)
    assert any("2 background processes" in line for line in lines)
    with pytest.raises(RuntimeError):
        demo.run_demo(tmp_path / "out", log=lines.append, precompile=False)
    assert len(started) == 2  # --no-precompile starts nothing


def test_a_failed_process_is_reported_after_a_demo_that_completed_only(tmp_path, monkeypatch):
    """The note says the precompilation failed when the demo itself completed; after a failed or
    interrupted demo its own error is the one to read, and no note is added."""
    from hbf_edge import demo

    def failed_start(module, part, nice):
        background = _background(tmp_path / f"work{len(list(tmp_path.iterdir()))}", "raise SystemExit('boom')")
        background.process.wait()
        return background

    monkeypatch.setattr(_precompile, "start", failed_start)
    lines = []
    monkeypatch.setattr(demo, "_run", lambda *args: {"done": True})
    assert demo.run_demo(tmp_path / "ok", log=lines.append) == {"done": True}
    assert lines[-1] == "[demo] the background precompilation failed (exit 1): boom"

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_run", interrupted)
    lines.clear()
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path / "stopped", log=lines.append)
    assert not any("failed" in line for line in lines)


def test_it_compiles_in_the_demos_order_and_the_profile_from_its_other_end(tmp_path, monkeypatch):
    """The demo's stages in its order, the export before the profile; the profile's Numba backends
    and batches reversed against the demo's, so that a demo reaching its profile early starts
    from the other end."""
    from hbf_edge import demo, profiling

    calls = []
    monkeypatch.setattr(demo, "_train", lambda plan, work, progress: calls.append("train") or (None, None))
    monkeypatch.setattr(demo, "_evaluate", lambda *args: calls.append("evaluate"))
    monkeypatch.setattr(demo, "_qat", lambda *args: calls.append("qat"))
    monkeypatch.setattr(demo, "_export", lambda *args: calls.append("export"))
    monkeypatch.setattr(profiling, "profile_model",
                        lambda model_dir, batches, backends, **kw: calls.append(("profile", batches, backends)))
    demo.precompile_stages(tmp_path)
    numba_backends = ("numba_float64", "numba_hardware")  # float32 is the second part's
    assert [b for b in profiling.BACKENDS if b.startswith("numba_")] == ["numba_float64", "numba_float32",
                                                                          "numba_hardware"]
    assert calls == ["train", "evaluate", "qat", "export", ("profile", demo._PLANS["tiny"].batches[::-1], numba_backends[::-1])]
    assert demo._PLANS["tiny"].batches[0] < demo._PLANS["tiny"].batches[1]
    calls.clear()
    demo.precompile_float32(tmp_path)
    assert calls == ["train", ("profile", demo._PLANS["tiny"].batches[::-1], ("numba_float32",))]
    assert set(demo._PRECOMPILE) == {"stages", "float32"}
