"""Private: a kernel signature is compiled by one process at a time on the machine; the others
wait and load it from the on-disk cache.

Why: Numba's cache is shared between processes, but nothing stops several processes that find
it empty from compiling the same kernel at once, each for itself: a sweep's workers started
together, a test suite's workers and the command-line processes its tests start, a second
toolkit command beside a first.  Each compilation takes a core for seconds to tens of seconds
(the UPGA float channel loop: 20-30 s at ``NUMBA_OPT=1``), so on a 2-core machine a third
process compiling what another is compiling slows everything else down.  The suite's cold run
compiled 53 s of kernels twice (2026-12-07, ``--numba-compile-log``), and its command-line tests'
processes more, unrecorded.

What: around a cached dispatcher's ``compile(signature)``, an exclusive ``flock`` on a file
named after the function and the signature, in the function's cache folder; the process that
gets it looks in the cache (Numba's ``compile`` does, first thing) and compiles only on a miss,
so a process that waited loads what the first one saved.  Re-entrant per thread (a function
compiled again inside its own compilation); a signature already compiled in this process takes
no lock.  Never a failure: a cache folder that cannot hold the lock file compiles without it,
and a wait longer than ``WAIT_S`` (a process stuck while holding the lock) compiles anyway.
Locks follow the call graph (a caller's compilation holds its lock while its callees take
theirs), which has no cycles, so two processes cannot wait for each other; within a process a
file lock is taken only under Numba's own compiler lock, so two threads cannot either.  The
lock files stay in the cache folder (empty files, one per compiled signature).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator

__all__ = ["WAIT_S", "compiling", "locked_compile"]

WAIT_S = 900.0  # then compile anyway: longer than any kernel's compilation on a slow machine
_POLL_S = 0.05
_held = threading.local()


def _lock_path(folder: str, qualname: str, signature: str) -> str:
    digest = hashlib.sha256(f"{qualname}\0{signature}".encode()).hexdigest()[:20]
    return os.path.join(folder, f"{qualname}-{digest}.compile-lock")


@contextlib.contextmanager
def compiling(folder: str, qualname: str, signature: str) -> Iterator[bool]:
    """Hold the machine-wide lock of ``qualname`` compiled for ``signature`` (a file in
    ``folder``); yields whether the lock is held (``False``: compiling without it)."""
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = {}  # lock file -> whether this thread holds its lock
    path = _lock_path(folder, qualname, signature)
    if path in held:  # this thread is in this compilation already, further up its stack
        yield held[path]
        return
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    locked = False
                    break
                time.sleep(_POLL_S)
            except OSError:  # a file system without flock
                locked = False
                break
        held[path] = locked
        try:
            yield locked
        finally:
            del held[path]
    finally:
        os.close(fd)  # releases the lock


def locked_compile(dispatcher) -> None:
    """Make ``dispatcher`` (Numba's, ``cache=True``) compile each signature under
    :func:`compiling`; its calls are unchanged (the lock is taken only on the way to a
    compilation or a cache load, not on a call of a compiled signature)."""
    from numba.core import sigutils
    from numba.core.compiler_lock import global_compiler_lock

    compile_ = dispatcher.compile
    qualname = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"

    def compile(sig):
        args, _ = sigutils.normalize_signature(sig)
        folder = getattr(dispatcher._cache, "_cache_path", None)  # None: Numba could not cache it
        if folder is None or tuple(args) in dispatcher.overloads:
            return compile_(sig)
        # Numba's in-process compiler lock first (re-entrant; ``compile_`` takes it too): a
        # thread holds a file lock only while no other thread of its process can be compiling,
        # so a thread compiling a caller never waits for a lock that another thread holds
        with global_compiler_lock, compiling(folder, qualname, str(tuple(args))):
            return compile_(sig)

    dispatcher.compile = compile
