"""SIGINT and SIGTERM in the CLI: the first one stops the command, later ones cannot interrupt
its cleanup.

A signal becomes an exception in the main thread (``KeyboardInterrupt`` for SIGINT,
:class:`Terminated` for SIGTERM) so that every writer's ``finally`` removes its temporary
folder.  A second signal used to be a second exception, raised wherever the first one's
cleanup happened to be: in the middle of removing a temporary folder (which then stayed
behind), in the CLI's own ``except`` clause (a traceback after the one line), or, once the
interpreter had put the default handlers back on its way out, as a death by SIGINT (exit -2
instead of 130: seen twice in ``.ci/run``'s export signal test, 2026-12-05).  Now the first
signal alone decides: the ones after it are absorbed until the command has cleaned up, and when
the command is the process (``argv`` not given), SIGINT and SIGTERM stay ignored for the few
moments until it exits, so its exit code is the first signal's.

One more way a handled Ctrl-C ended as a death by SIGINT (the training signal test, 1 run in
about 10 on this project's 2-core host, one signal sent): CPython records a KeyboardInterrupt
that leaves code run from a *string* (``exec``/``eval`` of text, as ``dataclasses`` and
``collections.namedtuple`` do while torch imports) as unhandled, even when a caller catches it,
and ``python -m`` then kills itself with SIGINT after exiting with the caller's code.  Every
string ``exec`` clears that record when it starts, so the program runs an empty one once the
signal's exception has been handled (``run_eval_code_obj`` in CPython's ``pythonrun.c``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Terminated", "first_signal_stops"]

_STOPPING = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every writer's cleanup (``finally``) runs."""


@contextlib.contextmanager
def first_signal_stops(program: bool) -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises ``KeyboardInterrupt`` or
    :class:`Terminated`; later ones are absorbed.  Afterwards the previous handlers are back,
    except for a ``program`` stopped by a signal, which ignores both until it exits.  Outside
    the main thread (where Python cannot set handlers) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[int] = []
    closed = False

    def on_signal(signum: int, frame: object) -> None:
        if first or closed:  # already stopping (or done): nothing may interrupt the cleanup
            return
        first.append(signum)
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()

    previous = {s: signal.signal(s, on_signal) for s in _STOPPING}
    try:
        yield
    finally:
        # ``signal.signal`` runs the handler of a signal still pending before it replaces it:
        # closed first, so that such a signal is absorbed instead of raised in this clause
        closed = True
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_IGN if first and program else handler)
        if first and program:
            exec("pass", {})  # clears CPython's record of an interrupted string exec (module docstring)
