"""A cache of the ONNX graphs a bundle writer traces from a model directory.

Why: a graph is a deterministic function of the model directory, of the toolkit's code and of
the versions of torch, onnx and Brevitas (two processes write the same bytes: the bundle tests
check it), and tracing it is most of an export: the quick demo's model exported in 12.9-14.7 s
from an empty cache and 3.6-4.5 s with its graphs cached (README, "The graph cache").
Exporting the same model again -- another ``--count`` of beam channels, a calibration table, a
second target -- traced the same graphs again.

Key: sha256 of the writer (``module:function``), the model's files (``config.json`` and the
weights, :func:`hbf_edge.modelfiles.model_digest`), the sources of the toolkit's packages and
those library versions.  Anything that changes a graph changes the key; nothing is ever
invalidated by hand.  What other commands write beside the model does not: until 2026-12-07
every file of the directory counted, so the report ``retention.json`` (which names the
directory's path) made the same model exported from two demo folders a miss, and an ``evaluate``
or ``profile`` writing into the directory made the next export one.

An entry is a folder holding the graph files and ``index.json`` (each file's sha256): it is
written into a temporary folder and renamed into place, so it is complete or absent, and a
file whose bytes no longer match is a miss.  Entries are stored only after the bundle's check
of the graph passed (:class:`export._core.side.SidePart`; a part without one, UPGA's float graph:
after its writer's own onnx check), and a graph taken from the cache is checked like a new one.
The cache never fails an export: an unreadable or unwritable cache, or a model file that cannot
be hashed, is a miss.  Beyond ``MAX_BYTES`` the least recently used entries are removed.

Where: ``HBF_EDGE_GRAPH_CACHE`` (a folder; ``off`` turns the cache off), else
``$XDG_CACHE_HOME/hbf-edge/graphs``, else ``~/.cache/hbf-edge/graphs``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from hbf_edge._io import sha256_file
from hbf_edge.modelfiles import model_digest

__all__ = ["ENV", "MAX_BYTES", "cache_root", "content_key", "graph_key", "has", "fetch", "store"]

ENV = "HBF_EDGE_GRAPH_CACHE"
MAX_BYTES = 1 << 30  # the quick demo's three UPGA graphs take 2.2 MB
_INDEX = "index.json"
_PACKAGES = ("hbf_edge", "hbf_edge.kernels", "hbf_edge.quant", "hbf_edge.export")  # what a graph's code lives in
_LIBRARIES = ("torch", "onnx", "brevitas", "numpy")
_log = logging.getLogger("hbf_edge")


def cache_root() -> Path | None:
    """The cache folder, or ``None`` when ``HBF_EDGE_GRAPH_CACHE=off`` (module notes)."""
    chosen = os.environ.get(ENV, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hbf-edge" / "graphs"


@functools.cache
def _code_digest() -> str:
    """The toolkit's Python sources and the library versions, hashed (once per process)."""
    h = hashlib.sha256()
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in spec.submodule_search_locations or ():
            for path in sorted(Path(folder).rglob("*.py")):
                h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    h.update(json.dumps({"python": list(sys.version_info[:2]), **versions}, sort_keys=True).encode())
    return h.hexdigest()


def graph_key(writer: str, model_dir: str | os.PathLike) -> str | None:
    """The key of the graphs ``writer`` traces from ``model_dir`` (module notes); ``None`` when the
    cache is off or a file cannot be read."""
    if cache_root() is None:
        return None
    try:
        return _key(writer, Path(model_dir))
    except OSError:
        return None


def content_key(writer: str, digest: str) -> str | None:
    """The key of a graph ``writer`` traces from a model given in memory, ``digest`` being the
    writer's hash of everything the graph depends on besides the code (the profile's float graph:
    the model's class, tensors and config); ``None`` when the cache is off."""
    if cache_root() is None:
        return None
    return hashlib.sha256(f"{writer}\0{_code_digest()}\0content:{digest}".encode()).hexdigest()


def _key(writer: str, root: Path) -> str:
    return hashlib.sha256(f"{writer}\0{_code_digest()}\0{model_digest(root)}".encode()).hexdigest()


def _index(key: str, files: list[str]) -> dict | None:
    """The index (file -> sha256) of the entry ``key`` if it lists exactly ``files``, else ``None``
    (the cache off, no such entry, or an index that does not parse)."""
    root = cache_root()
    try:
        index = json.loads((root / key / _INDEX).read_text()) if root is not None else None
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) and sorted(index) == sorted(files) else None


def has(key: str, files: list[str]) -> bool:
    """Whether the cache holds an entry ``key`` of exactly ``files`` (their bytes are checked by
    :func:`fetch`)."""
    return _index(key, files) is not None


def fetch(key: str, files: list[str], dest: Path) -> bool:
    """Copy the entry ``key``'s ``files`` into ``dest``; ``False`` (nothing usable copied) when the
    cache is off, the entry is absent or incomplete, or a file's bytes differ from its index."""
    index = _index(key, files)
    if index is None:
        return False
    entry = cache_root() / key
    try:
        for name in files:
            shutil.copyfile(entry / name, dest / name)
            if sha256_file(dest / name) != index[name]:
                _log.warning(f"hbf-edge: the graph cache's {entry / name} is damaged: traced again")
                return False
        os.utime(entry)  # most recently used
    except OSError:
        return False
    return True


def store(key: str, files: list[str], src: Path) -> None:
    """Keep ``src``'s ``files`` as the entry ``key`` (complete or absent), then trim the cache to
    ``MAX_BYTES``.  Any failure leaves the cache as it was and the export goes on."""
    root = cache_root()
    if root is None:
        return
    tmp = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".entry-", dir=root))
        for name in files:
            shutil.copyfile(src / name, tmp / name)
        (tmp / _INDEX).write_text(json.dumps({name: sha256_file(tmp / name) for name in files}, sort_keys=True))
        os.rename(tmp, root / key)  # fails if another process stored the same entry first: its bytes are these
        tmp = None
        _trim(root, MAX_BYTES)
    except OSError as exc:
        _log.debug(f"hbf-edge: graph cache not written ({exc})")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _trim(root: Path, max_bytes: int) -> None:
    """Remove the least recently used entries until the cache holds at most ``max_bytes``."""
    entries, now = [], time.time()
    for entry in root.iterdir():
        if entry.name.startswith(".entry-") and now - entry.stat().st_mtime > 3600:
            shutil.rmtree(entry, ignore_errors=True)  # left by a process killed while it stored
        elif entry.is_dir() and not entry.name.startswith("."):
            size = sum(p.stat().st_size for p in entry.iterdir())
            entries.append((entry.stat().st_mtime, size, entry))
    total = sum(size for _, size, _ in entries)
    for _, size, entry in sorted(entries):
        if total <= max_bytes:
            break
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
