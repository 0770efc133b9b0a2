"""A part of a bundle built by a second process while this one builds the rest.

Why: a UPGA bundle's parts are independent until the checks, and its ONNX graphs are
single-threaded torch traces (the quantized ones about 7 of the 11.5-14.5 s ``hbf-edge export``
of the quick demo's model, Intel Xeon, 2026-12-05).  On two cores such a part can be built by a
second process from the start, and the bundle writer takes its files when it gets to them;
when is the family's choice (:func:`hbf_edge.export.upga.bundle.quantized_graphs_aside`; README,
"Export: a four-operation ``Quant`` function, and the quantized graphs in a second process").

The process (:class:`hbf_edge._process.SideProcess`) runs ``python -m hbf_edge.export._core.side
OUT module:function MODEL_DIR`` on one thread, writes only into its own temporary folder, and is
stopped (and the folder removed) by :meth:`SidePart.close`, which the bundle writer calls however
it ends: a failure, Ctrl-C or SIGTERM leaves nothing behind.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from hbf_edge._process import SideProcess
from hbf_edge.export._core import graph_cache
from hbf_edge.export._core.bundle import BundleError

__all__ = ["SidePart", "graph_process", "side_main"]

_log = logging.getLogger("hbf_edge")


def graph_process(what: str, writer: str, model_dir: str | os.PathLike) -> SideProcess:
    """``writer(model_dir, OUT)`` started in a second process (:func:`side_main`); its failure
    is a ``BundleError`` naming ``what``."""
    return SideProcess(what, lambda out: ["-m", __name__, str(out), writer, str(model_dir)], BundleError)


class SidePart:
    """A bundle writer whose ``files`` are written by ``writer`` (``"module:function"``, called as
    ``function(model_dir, folder)``): taken from the graph cache when it holds them
    (:mod:`export._core.graph_cache`), else in a second process started at construction when
    ``aside`` (``python -m hbf_edge.export._core.side OUT module:function MODEL_DIR``), else here
    when it is called; then ``check(tmp)`` (settable later) returns what it verified, and files
    that were built and passed it are stored in the cache.  :meth:`close` stops the process (the
    bundle writer calls it however it ends)."""

    def __init__(self, what: str, files: list[str], writer: str, model_dir: str | os.PathLike, aside: bool = False,
                 check: Callable[[Path], dict[str, Any]] | None = None) -> None:
        self.what, self.files, self.writer, self.model_dir = what, files, writer, model_dir
        self.check = check
        self.key = graph_cache.graph_key(writer, model_dir)
        self.cached = self.key is not None and graph_cache.has(self.key, files)
        self.side = graph_process(what, writer, model_dir) if aside and not self.cached else None

    def __call__(self, tmp: Path) -> dict[str, Any]:
        built = not (self.cached and graph_cache.fetch(self.key, self.files, tmp))
        if not built:
            _log.info(f"hbf-edge: export: {self.what}: taken from the graph cache")
        elif self.side is None:
            _resolve(self.writer)(self.model_dir, tmp)
        else:
            out = self.side.result()
            for name in self.files:
                shutil.move(out / name, tmp / name)
            self.close()
        verified = self.check(tmp) if self.check is not None else {}
        if built and self.key is not None:
            graph_cache.store(self.key, self.files, tmp)
        return verified

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def _resolve(writer: str) -> Callable[[str | os.PathLike, Path], Any]:
    module, function = writer.split(":")
    return getattr(importlib.import_module(module), function)


def side_main(argv: list[str]) -> int:
    """The second process's body, ``python -m hbf_edge.export._core.side OUT module:function
    MODEL_DIR``: the thread policy (one thread, from the environment :class:`SideProcess` sets),
    then ``function(MODEL_DIR, OUT)`` into the new folder OUT."""
    from hbf_edge._threads import apply_thread_policy

    apply_thread_policy()
    out = Path(argv[0])
    out.mkdir()
    _resolve(argv[1])(argv[2], out)
    return 0


if __name__ == "__main__":
    sys.exit(side_main(sys.argv[1:]))
