"""Numba's IR inliner with one scope copy per inline compiles the same code, with fewer copies
(kernels/_core/inline_copy.py)."""

from __future__ import annotations

import re

import numba
import numpy as np
from numba.core import ir

from hbf_edge.kernels._core import inline_copy, jit


def _build():
    """Fresh dispatchers (nothing cached): ``top`` inlines ``mid`` twice, which inlines ``leaf``
    twice, with loops and branches at every level."""

    @numba.njit(inline="always")
    def leaf(a, i):
        s = 0.0
        for j in range(a.shape[1]):
            if a[i, j] > 0:
                s += a[i, j]
            else:
                s -= 0.5 * a[i, j]
        return s

    @numba.njit(inline="always")
    def mid(a, out, w):
        for i in range(a.shape[0]):
            t = leaf(a, i)
            if t > w:
                out[i] += t * leaf(a, i)
            else:
                out[i] -= w

    @numba.njit
    def top(a, out):
        mid(a, out, 0.5)
        mid(a, out, 1.5)
        return out.sum()

    return top


def _compile(count):
    """``top`` compiled: its value and output, its LLVM IR with names and labels made neutral,
    and the ``ir.Var`` deep copies its compilation made."""
    top = _build()
    a, out = np.random.default_rng(3).standard_normal((5, 7)), np.zeros(5)
    before = count[0]
    value = top(a, out)
    llvm = top.inspect_llvm(top.signatures[0])
    # symbols, name strings and inlined variables' names hold the dispatchers' unique ids, block
    # labels a process-wide count
    llvm = re.sub(r"_ZN[\w$.]+|\"[^\"]*\"|@\w+|![\w.]+|\[\d+ x i8\]", "SYM", llvm)
    llvm = re.sub(r"\bB\d+", "B", re.sub(r"_v\d+", "_v", re.sub(r"\s*;.*", "", llvm)))
    return value, out, llvm, count[0] - before


def test_the_installed_numba_gets_the_shared_scope_copy():
    assert inline_copy.APPLIED and jit.INLINE_COPY_SHARED


def test_the_shared_scope_copy_compiles_the_same_code_with_fewer_copies(monkeypatch):
    count = [0]
    plain_var_copy = ir.Var.__deepcopy__

    def counting(self, memo):
        count[0] += 1
        return plain_var_copy(self, memo)

    monkeypatch.setattr(ir.Var, "__deepcopy__", counting)
    shared = _compile(count)
    with inline_copy.plain_inliner():
        plain = _compile(count)
    assert shared[0] == plain[0] and np.array_equal(shared[1], plain[1])
    assert shared[2] == plain[2]
    assert shared[3] < plain[3] / 2, (shared[3], plain[3])
