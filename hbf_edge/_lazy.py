"""Package attributes that import their module on first use (PEP 562), so that importing a
package for its registry does not import torch, Brevitas or Numba."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, public: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``public`` maps each name to the module
    (relative to the package) that defines it."""

    def __getattr__(name: str) -> Any:
        if name in public:
            value = getattr(importlib.import_module(f".{public[name]}", package), name)
            setattr(sys.modules[package], name, value)  # later lookups skip this hook (~3 us each)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
