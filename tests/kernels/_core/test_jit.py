"""The kernels' Numba cache follows edits across files (kernels/_core/jit.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numba

from hbf_edge.kernels._core import jit

# one small kernel, compiled or loaded in a fresh process; prints its cache hits and misses
_CHILD = """
import json, sys
import numpy as np
from hbf_edge.kernels._core import jit
if sys.argv[1] != "-":
    jit.sources_digest = lambda: sys.argv[1]  # as if a kernel source had changed
from hbf_edge.kernels._core.linalg import inv_real_inplace
out = np.zeros((2, 2))
inv_real_inplace(np.eye(2) * 4.0, out)
stats = inv_real_inplace.stats
print(json.dumps([sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), out[0, 0]]))
"""


def _run(tmp_path, digest: str, opt: str = "3") -> list:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_OPT=opt)
    out = subprocess.run([sys.executable, "-c", _CHILD, digest], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_installed_numba_gets_the_stamped_cache():
    from hbf_edge.kernels._core.linalg import inv_real_inplace

    assert jit.STAMPED
    assert isinstance(inv_real_inplace._cache, jit._CACHE)
    assert inv_real_inplace._cache._cache_file._source_stamp[1:] == (jit.sources_digest(), str(numba.config.OPT))


def test_a_changed_source_digest_recompiles_and_an_unchanged_one_loads(tmp_path):
    assert _run(tmp_path, "-") == [0, 1, 0.25]  # empty cache: compiled
    assert _run(tmp_path, "-") == [1, 0, 0.25]  # same sources: loaded
    assert _run(tmp_path, "edited") == [0, 1, 0.25]  # another kernel file changed: compiled again
    assert _run(tmp_path, "edited") == [1, 0, 0.25]
    assert _run(tmp_path, "edited", opt="1") == [0, 1, 0.25]  # another optimisation level: compiled again
    assert _run(tmp_path, "edited", opt="1") == [1, 0, 0.25]


def test_sources_follow_the_toolkit_modules_the_kernels_import(tmp_path, monkeypatch):
    kernels, toolkit = tmp_path / "kernels", tmp_path / "hbf_edge"
    (kernels / "fam").mkdir(parents=True)
    (toolkit / "families" / "fam").mkdir(parents=True)
    (kernels / "fam" / "_float.py").write_text("from hbf_edge.families.fam.config import X\n"
                                               "from hbf_edge.kernels._core.fixed import Y\n")
    (toolkit / "families" / "fam" / "config.py").write_text("from hbf_edge.hw.spec import Z\nX = 1\n")
    (toolkit / "hw").mkdir()
    (toolkit / "hw" / "__init__.py").write_text("")
    (toolkit / "hw" / "spec.py").write_text("Z = 2\n")
    (toolkit / "unrelated.py").write_text("W = 3\n")
    monkeypatch.setattr(jit, "_ROOT", kernels)
    monkeypatch.setattr(jit, "_TOOLKIT", toolkit)
    jit.sources_digest.cache_clear()
    try:
        assert [p.relative_to(tmp_path).as_posix() for p in jit.sources()] == [
            "hbf_edge/families/fam/config.py", "hbf_edge/hw/spec.py", "kernels/fam/_float.py"]
        before = jit.sources_digest()
        (toolkit / "unrelated.py").write_text("W = 4\n")
        jit.sources_digest.cache_clear()
        assert jit.sources_digest() == before
        (toolkit / "hw" / "spec.py").write_text("Z = 5\n")  # a constant frozen into the kernels
        jit.sources_digest.cache_clear()
        assert jit.sources_digest() != before
    finally:
        jit.sources_digest.cache_clear()
