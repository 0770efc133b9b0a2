"""One rule for paths on the command line: ``--out`` is always a folder.

A command that writes one file writes it under a fixed name in the ``--out`` folder
(``channels.npz``, ``calibration.json``, ...).  The options that read such a file
(``--channels``, ``--calibration``, ``--precision``, ``--sign``, ...) take that folder as well as
the file.  An ``--out`` that ends in the file's suffix still names the file itself, as before
release 0.2, with a one-line deprecation warning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["resolve_paths", "OUT_FILES", "IN_FILES"]

# command (its words) -> the file it writes into its --out folder
OUT_FILES = {
    ("channels",): "channels.npz",
    ("calibration",): "calibration.json",
    ("keygen",): "bundle.key",
    ("precision", "template"): "precision.toml",
    ("bench", "kernels"): "bench.json",
    ("bench", "model"): "bench.json",
    ("bench", "agreement"): "bench.json",
    ("bench", "onnx"): "bench.json",
    ("bench", "threads"): "bench.json",
    ("report",): "report.html",
}
# option -> the file it reads from a folder
IN_FILES = {"channels": "channels.npz", "test_channels": "channels.npz", "calibration": "calibration.json",
            "precision": "precision.toml", "sign": "bundle.key", "verify_key": "bundle.key"}


def _words(args: argparse.Namespace) -> tuple[str, ...]:
    words = (args.command,)
    sub = getattr(args, f"{args.command}_command", None)
    return words + ((sub,) if sub else ())


def resolve_paths(args: argparse.Namespace) -> None:
    """Turn ``--out FOLDER`` into the file the command writes, and input folders into the files
    they hold (in place)."""
    name = OUT_FILES.get(_words(args))
    out = getattr(args, "out", None)
    if name is not None and isinstance(out, Path):
        if out.suffix == Path(name).suffix:
            print(f"hbf-edge: warning: --out {out} names the file, the form before release 0.2 that goes in the "
                  f"next one; pass a folder instead (the file is then FOLDER/{name})", file=sys.stderr)
        else:
            args.out = out / name
    for option, default in IN_FILES.items():
        value = getattr(args, option, None)
        if isinstance(value, Path) and value.is_dir():
            setattr(args, option, value / default)
