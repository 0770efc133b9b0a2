"""Progress, one rule for the whole toolkit.

- On a terminal: a transient tqdm bar.
- Into a log file or a pipe: no redraws (each would be a line there), but a one-line status
  through the ``hbf_edge`` logger when the step starts and then at most every
  :data:`STATUS_SECONDS`, so that a long step in a CI log still says what it is doing.
- ``progress=False`` (``--quiet``): nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Iterable

from tqdm.auto import tqdm

__all__ = ["progress_bar", "STATUS_SECONDS"]

STATUS_SECONDS = 30.0
_log = logging.getLogger("hbf_edge")


class _StatusLines:
    """A file for tqdm that turns its carriage-return redraws into log records: the first, then
    at most one per :data:`STATUS_SECONDS` (a postfix update redraws at once, whatever tqdm's
    ``mininterval``); the blank line of a closing bar is dropped."""

    def __init__(self) -> None:
        self.last = -float("inf")

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        now = time.monotonic()
        if line and now - self.last >= STATUS_SECONDS:
            self.last = now
            _log.info(f"hbf-edge: {line}")

    def flush(self) -> None:
        pass


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable[Any] | None = None, *, progress: bool, **kwargs: Any) -> tqdm:
    """A tqdm bar for ``iterable`` or ``total=`` (``kwargs`` as tqdm's), following the rule above."""
    if not progress:
        return tqdm(iterable, disable=True, **kwargs)
    if _terminal():
        return tqdm(iterable, leave=False, **kwargs)
    # mininterval 0: tqdm's iterator writes its count into the bar only when it redraws, so with
    # a long mininterval a postfix update (a redraw at once) showed a stale count: the demo's
    # training logged "0/20 [00:31<?, ..., loss=-12.0456]" 31 s into its 20 epochs (2026-12-07).
    # Now every step redraws into _StatusLines, which keeps one line per STATUS_SECONDS.
    return tqdm(iterable, file=_StatusLines(), mininterval=0, maxinterval=STATUS_SECONDS, ncols=70,
                ascii=True, leave=False, **kwargs)
