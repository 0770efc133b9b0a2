"""One process compiles a kernel signature, the others load it (``kernels._core.compile_lock``)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import time

from hbf_edge.kernels._core import compile_lock

_KERNEL = '''
from hbf_edge.kernels._core.jit import njit

@njit(cache=True)
def twice_plus_one(x):
    return x * 2 + 1
'''


def test_two_processes_that_start_together_compile_once(tmp_path):
    """Both find the cache empty and start at the same moment; each compilation takes at least
    2 s (a sleep in front of Numba's compiler), so without the lock both compile (checked when
    this test was written); with it, one compiles and the other loads its result."""
    (tmp_path / "kmod.py").write_text(_KERNEL)
    code = textwrap.dedent(f'''
        import pathlib, sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        import kmod
        real = kmod.twice_plus_one._compiler.compile
        def slow(*a, **k):
            time.sleep(2.0)
            return real(*a, **k)
        kmod.twice_plus_one._compiler.compile = slow
        go = pathlib.Path({str(tmp_path)!r}) / "go"
        while not go.exists():
            time.sleep(0.01)
        assert kmod.twice_plus_one(3) == 7
        stats = kmod.twice_plus_one.stats
        print(sum(stats.cache_misses.values()), sum(stats.cache_hits.values()))
    ''')
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    time.sleep(2.0)  # both imported and waiting
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert sorted(out.split() for out, _ in outs) == [["0", "1"], ["1", "0"]]  # (misses, hits)
    assert list((tmp_path / "cache").rglob("*.compile-lock"))


def test_a_lock_held_too_long_or_impossible_still_compiles(tmp_path, monkeypatch):
    """A lock another holder keeps past ``WAIT_S``: the caller goes on without it; a folder where
    no lock file can be made: likewise, at once; the same thread asking again: re-entrant."""
    monkeypatch.setattr(compile_lock, "WAIT_S", 0.3)
    path = compile_lock._lock_path(str(tmp_path), "mod.f", "(int64,)")
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        start = time.monotonic()
        with compile_lock.compiling(str(tmp_path), "mod.f", "(int64,)") as locked:
            assert not locked and time.monotonic() - start >= 0.3
            with compile_lock.compiling(str(tmp_path), "mod.f", "(int64,)") as again:
                assert not again  # re-entered: still not held, and no second wait
    finally:
        os.close(holder)
    with compile_lock.compiling(str(tmp_path), "mod.f", "(int64,)") as locked:
        assert locked
        with compile_lock.compiling(str(tmp_path), "mod.f", "(int64,)") as again:
            assert again  # no wait on itself
    (tmp_path / "file").write_text("")
    with compile_lock.compiling(str(tmp_path / "file" / "sub"), "mod.f", "(int64,)") as locked:
        assert not locked
