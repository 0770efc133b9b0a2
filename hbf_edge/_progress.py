"""Progress bars, one rule for the whole toolkit: shown on a terminal, never written into a log
file or a pipe (tqdm's ``disable=None``: each redraw would be a line there), off when the
caller says ``progress=False`` (``--quiet``)."""

from __future__ import annotations

from typing import Any, Iterable

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable[Any] | None = None, *, progress: bool, **kwargs: Any) -> tqdm:
    """A transient tqdm bar (``leave=False``) for ``iterable`` or ``total=``; ``kwargs`` as tqdm's."""
    return tqdm(iterable, disable=None if progress else True, leave=False, **kwargs)
