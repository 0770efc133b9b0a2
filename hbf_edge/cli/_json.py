"""JSON output of the benchmark commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit_json(result: Any, out: Path | None) -> int:
    """Print ``result`` as indented JSON and, with ``out``, also write it there (atomically)."""
    from hbf_edge._io import atomic_file

    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        with atomic_file(out) as tmp:
            tmp.write_text(text + "\n")
    return 0
