"""``njit`` for the kernels: Numba's, with an on-disk cache that follows edits across files.

Why: Numba keys a cached function on its own source file only, yet a kernel inlines the
functions it calls from other files.  After an edit of ``kernels/upga/_float.py`` alone, the
cached loops of ``kernels/upga/_stages.py`` (the profiler's stage loops then) kept the old float
code (seen: the stage loop no longer equalled the forward until its own file was touched).  A
``git pull`` into an editable install that changes one kernel file does the same, silently.

What: ``njit(cache=True, ...)`` here is ``numba.njit`` whose cache index is stamped with the
file's own stamp, a digest of every kernel source (the contents of all ``*.py`` under this
package and of the toolkit modules they import) and the optimisation level ``NUMBA_OPT``, so an
edit of any kernel file recompiles every kernel once, and so does a change of level (Numba's
own cache does not record it: level-1 code the test suite once wrote into a shared cache was
loaded by later default runs, 30.9 against 23.5 us, ``tests/conftest.py``).  The cache's
location and file names are Numba's own.  The stamp is Numba's cache locator wrapped
(``numba.core.caching``, not a public API); if a Numba release changes it, the kernels fall
back to Numba's plain cache and :data:`STAMPED` is ``False`` (a test watches it).

A convention the kernels follow for the same reason, the first run's compilation: a compiled
caller that passes a constant (``0``, ``-1``, ``False``) where other callers pass a variable makes
Numba compile the callee once more, for that literal value, with everything it inlines.  Where
one compilation should serve, the kernels pass ``np.int64(0)`` or ``np.bool_(False)`` (UPGA's
forward, stage loops and hardware layers: 7 s of the 155 s the demo's kernels took to compile on
one thread, 2026-12-04).  Module-level index constants (counter sites, format rows) are
``np.int64`` for the same reason (:func:`kernels._core.fixed.int64_range`), and an array's
read-only flag and dtype are part of the type too: a callee's callers pass the same ones.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import numba
import numpy as np

import hbf_edge
# before any kernel compiles: Numba's IR inliner with one scope copy per inline (its module says why)
from hbf_edge.kernels._core.compile_lock import locked_compile
from hbf_edge.kernels._core.inline_copy import APPLIED as INLINE_COPY_SHARED
from hbf_edge.kernels._core.pool import start_pool

__all__ = ["njit", "closed", "first_class", "STAMPED", "INLINE_COPY_SHARED", "sources", "sources_digest"]

_ROOT = Path(__file__).resolve().parents[1]  # the kernels package (hbf_edge.kernels)
_TOOLKIT = Path(hbf_edge.__file__).resolve().parent  # hbf_edge (its own folder, not kernels/)
_IMPORT = re.compile(rb"^\s*from hbf_edge\.([\w.]+) import", re.MULTILINE)


def _module_file(dotted: str) -> Path | None:
    """The file of ``hbf_edge.<dotted>`` outside the kernels (found without importing it)."""
    base = _TOOLKIT.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def sources() -> list[Path]:
    """Every file a compiled kernel can depend on: the kernel sources, and the toolkit modules
    they import from, transitively (their constants -- formats, counter sites -- are frozen
    into the compiled code)."""
    found = set(_ROOT.rglob("*.py"))
    todo = list(found)
    while todo:
        for dotted in _IMPORT.findall(todo.pop().read_bytes()):
            dotted = dotted.decode()
            if dotted == "kernels" or dotted.startswith("kernels."):
                continue  # already in: the kernels package lives in its own folder
            path = _module_file(dotted)
            if path is not None and path not in found:
                found.add(path)
                todo.append(path)
    return sorted(found)


@functools.cache
def sources_digest() -> str:
    """The contents of :func:`sources`, hashed (once per process)."""
    h = hashlib.sha256()
    for path in sources():
        h.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _stamped_cache_class():
    """A ``FunctionCache`` whose locator stamps with :func:`sources_digest`, or ``None`` when
    this Numba's caching internals are not the ones expected."""
    try:
        from numba.core.caching import FunctionCache
        base_impl = FunctionCache._impl_class
        base_impl.locator  # the property Cache.__init__ reads
    except (ImportError, AttributeError):
        return None

    class _Locator:
        """Numba's locator for the function, with the kernels' digest in its source stamp."""

        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def get_source_stamp(self):
            return self._inner.get_source_stamp(), sources_digest(), str(numba.config.OPT)

    class _Impl(base_impl):
        def __init__(self, py_func):
            super().__init__(py_func)
            self._locator = _Locator(self._locator)

    class StampedCache(FunctionCache):
        _impl_class = _Impl

    return StampedCache


start_pool()  # here, once, before any kernel runs: see kernels._core.pool
_CACHE = _stamped_cache_class()
STAMPED = _CACHE is not None


def njit(*args, **options):
    """``numba.njit`` with the same options; with ``cache=True`` the cache is stamped by every
    kernel source (module notes), and a signature is compiled by one process at a time on the
    machine (:mod:`kernels._core.compile_lock`).  Used as ``@njit(cache=True, ...)``, like Numba's."""
    if args:  # bare @njit, or an explicit signature (compiled at once): Numba's own, not stamped
        return numba.njit(*args, **options)

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if options.get("cache") and _CACHE is not None:
            dispatcher._cache = _CACHE(dispatcher.py_func)
        if options.get("cache"):  # one process compiles a signature, the others load it (its module)
            locked_compile(dispatcher)
        return dispatcher

    return decorate


@functools.cache
def closed(func, signature: tuple, fastmath: frozenset = frozenset()):
    """``func`` compiled (or loaded from the stamped cache) for the argument types ``signature``
    only, then closed: a call with other types raises Numba's ``TypeError`` at once instead of
    compiling.  The real-time sessions call their kernel through one, so the dispatch itself
    checks every argument's dtype, dimensions, layout and read-only flag, and the session needs
    no Python checks on its fast path (at batch 1, 2026-12-06: the float session's Python share
    of a call 1.2 -> 0.2 us, the hardware session's 3.2 -> about 0.3 us); on a
    ``TypeError`` the session's slow path names the bad input.  One dispatcher per (function,
    signature, fast-math flags), kept for the process."""
    dispatcher = njit(cache=True, fastmath=set(fastmath))(func)
    dispatcher.compile(signature)
    dispatcher.disable_compile()
    return dispatcher


def first_class(dispatcher, *args):
    """``dispatcher`` compiled (or loaded from its cache) for the types of ``args``, as a Numba
    first-class function: a compiled caller that takes it as an argument calls it through its
    address instead of linking its code in.

    Why: a ``prange`` driver links its callee's whole tree into its own module, where LLVM
    inlines it into the parallel loop's body, optimises it again and generates its code again.
    The UPGA float forward's driver took 20-25 s to compile with its callee already compiled and
    cached (2-core Zen 3 EPYC, 2026-12-07), most of a cold first run's parallel forward.  Called
    through its address, the callee is the one compiled for the serial path, and the driver
    holds only its loop.  The call costs one indirect jump per chunk or channel.
    ``args`` are what the driver passes, with their exact types (an ``np.int64`` where the driver
    passes one): the driver's call is checked against this signature when it compiles."""
    key = _type_key(dispatcher, args)
    wap = _FIRST_CLASS.get(key) if key is not None else None
    if wap is None:
        from numba import typeof
        from numba.core.types.function_type import CompileResultWAP

        types = tuple(typeof(a) for a in args)
        dispatcher.compile(types)
        wap = CompileResultWAP(dispatcher.overloads[types])
        if key is not None:
            _FIRST_CLASS[key] = wap
    return wap


# first_class's results by what decides the arguments' Numba types; ``typeof`` of each argument
# cost about 1 ms per call of an 18-argument driver (700 calls of the UPGA layer driver in an
# evaluation: 0.7 s, 2026-12-07)
_FIRST_CLASS: dict[tuple, Any] = {}
_SCALARS = (float, bool, np.generic)  # a Python int is typed by its value (int64 or uint64): not keyed


def _type_key(dispatcher, args) -> tuple | None:
    """A key that determines ``typeof`` of every argument (an array's dtype, dimensions,
    contiguity, write flag and alignment -- Numba's array type --, a scalar's exact type), or
    ``None`` for an argument it cannot key."""
    key: list[Any] = [dispatcher]  # the object, not its id: a freed dispatcher's id can be reused
    for a in args:
        if type(a) is np.ndarray:
            f = a.flags
            key.append((a.dtype.str, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned))
        elif isinstance(a, _SCALARS):
            key.append(type(a))
        else:
            return None
    return tuple(key)
