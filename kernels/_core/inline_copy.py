"""Numba's IR inliner, made to copy a callee's scope once per inline instead of once per block.

Why: the kernels inline their per-channel code at Numba-IR level (``inline="always"``: the UPGA
float layers, the fixed-point primitives; :mod:`kernels.upga._float` says what it buys at run
time).  Numba's ``InlineWorker.inline_ir`` copies the callee's IR twice per inlined call, block
by block, each block with ``copy.deepcopy`` and a fresh memo; every ``ir.Var`` deep-copies its
``ir.Scope``, and the scope holds every variable of the callee, so one copy costs (blocks) x
(variables).  For a callee that has itself inlined others this grows with the square of its size:
the first call of the UPGA float forward (N = 64, M = K = 3, float64, ``NUMBA_OPT=1``, an empty
cache, one thread; 2026-12-06, the 2-core AMD EPYC host) took 80.9 s (76.7 s under ``cProfile``,
44 of them in these deep copies); with this module 33.3 s.

What: during one ``inline_ir`` call, a block's deep copy starts from a memo in which the block's
scope (and the variables it holds) is already copied, once per scope; the rest of the block is
copied as before, into a fresh memo per block.  The inliner reads the copied scope only to list
and rename the callee's variables, then points every inlined block at the caller's scope, so one
shared copy serves as the per-block copies did.  The compiled code is the same: on the UPGA float
forward and the sized session (M, K = 4, 4 and 3, 2) the results are the same bits, and the
assembly of the per-channel function differs only in the order of the reference-count increments
of the same arrays; ``tests/kernels/_core/test_inline_copy.py`` compiles nested inlined
functions both ways and compares their LLVM IR.

It patches a private Numba API, so it applies itself only where ``inline_ir`` still has the form
it was written against (the per-block ``copy.deepcopy``); elsewhere Numba's own inliner runs
(slower compilation, the same code) and :data:`APPLIED` is ``False`` (a test watches it).  It
changes how Numba copies, not what it compiles, for every inlining in the process.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import inspect

__all__ = ["APPLIED", "plain_inliner"]

_MEMOS: contextvars.ContextVar = contextvars.ContextVar("hbf_edge_inline_memos", default=None)


class _SharedScopeCopy:
    """Stands in for the ``copy`` module inside ``numba.core.inline_closurecall``: ``deepcopy``
    of an ``ir.Block`` during an ``inline_ir`` call starts from its scope's shared copy."""

    def __init__(self, block_type):
        self._block = block_type

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, x, memo=None):
        memos = _MEMOS.get()
        if memo is None and memos is not None and isinstance(x, self._block):
            base = memos.get(id(x.scope))
            if base is None:
                base = {}
                copy.deepcopy(x.scope, base)
                memos[id(x.scope)] = base
            memo = dict(base)
        return copy.deepcopy(x, memo)


def _with_memos(inline_ir):
    @functools.wraps(inline_ir)
    def wrapper(*args, **kwargs):
        token = _MEMOS.set({})
        try:
            return inline_ir(*args, **kwargs)
        finally:
            _MEMOS.reset(token)

    wrapper.__wrapped_by_hbf_edge__ = True
    return wrapper


def _apply() -> bool:
    """Install the shared-scope copy if Numba's inliner has the expected form; ``True`` if it
    is (now) installed."""
    try:
        from numba.core import inline_closurecall as icc, ir

        worker = icc.InlineWorker
        if getattr(worker.inline_ir, "__wrapped_by_hbf_edge__", False):
            return True
        source = inspect.getsource(worker.inline_ir)
    except (ImportError, AttributeError, OSError, TypeError):
        return False
    if icc.copy is not copy or "copy.deepcopy(the_ir.blocks[block_label])" not in source:
        return False
    worker.inline_ir = _with_memos(worker.inline_ir)
    icc.copy = _SharedScopeCopy(ir.Block)
    return True


@contextlib.contextmanager
def plain_inliner():
    """Numba's own inliner inside the block (for the equivalence test)."""
    from numba.core import inline_closurecall as icc

    saved_copy, saved_inline = icc.copy, icc.InlineWorker.inline_ir
    icc.copy, icc.InlineWorker.inline_ir = copy, getattr(saved_inline, "__wrapped__", saved_inline)
    try:
        yield
    finally:
        icc.copy, icc.InlineWorker.inline_ir = saved_copy, saved_inline


APPLIED = _apply()
