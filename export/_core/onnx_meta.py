"""The last step of every ONNX writer: metadata properties, the onnx checker, save."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx

__all__ = ["save_with_metadata"]


def save_with_metadata(proto: onnx.ModelProto, path: str | os.PathLike, meta: dict[str, Any],
                       full_check: bool = True) -> Path:
    """Replace ``proto``'s metadata properties by ``meta`` (values as strings), check it with
    onnx (``full_check``: with shape inference; QONNX graphs, whose custom ops have no ONNX
    schema, pass False) and save it to ``path``."""
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto, full_check=full_check)
    onnx.save(proto, str(path))
    return Path(path)
