"""Registries: family name -> implementation, one per stage (numpy only).

A registry maps a family name to an implementation, given as the object itself or as a lazy
``"module:attribute"`` reference, imported on first use (so listing the families imports no
torch).  Families come from three places, searched in this order:

1. the built-in lines of each stage's registry (one line per family);
2. :func:`register_family` at run time (a test, a notebook);
3. the entry-point group ``hbf_edge.families`` of installed distributions: each entry point
   names an object (a module or a namespace) with the attributes ``SPEC``, ``CORE`` and, where
   the family has them, ``KERNELS``, ``QUANT`` and ``EXPORT`` (objects or lazy references).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from typing import Any

from hbf_edge.errors import ConfigError

__all__ = ["Registry", "register_family", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "hbf_edge.families"
_ATTRIBUTE = {"spec": "SPEC", "core": "CORE", "kernels": "KERNELS", "quant": "QUANT", "export": "EXPORT"}
_RUNTIME: dict[str, Any] = {}  # name -> family object registered by register_family
_lock = threading.Lock()
_entry_points_read = False


def _resolve(ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attribute) if attribute else obj


def _read_entry_points() -> None:
    global _entry_points_read
    with _lock:
        if _entry_points_read:
            return
        _entry_points_read = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            family = ep.load()
            name = _resolve(getattr(family, "SPEC")).name
        except Exception as exc:  # a broken plug-in must not break the toolkit: say which one
            raise ConfigError(f"the family plug-in {ep.name!r} ({ep.value}) cannot be loaded: {exc}") from exc
        _RUNTIME.setdefault(name, family)


def register_family(family: Any) -> str:
    """Register a family object (a module or namespace with ``SPEC``, ``CORE`` and optionally
    ``KERNELS``, ``QUANT``, ``EXPORT``) for every stage; returns its name.

    Raises
    ------
    ConfigError
        The object has no ``SPEC``/``CORE``, or a different family already has this name.
    """
    for attr in ("SPEC", "CORE"):
        if not hasattr(family, attr):
            raise ConfigError(f"a family needs {attr}; {family!r} has none")
    name = _resolve(family.SPEC).name
    with _lock:
        if name in _RUNTIME and _RUNTIME[name] is not family:
            raise ConfigError(f"a family named {name!r} is already registered")
        _RUNTIME[name] = family
    return name


class Registry:
    """The implementations of one stage, by family name.

    Parameters
    ----------
    stage : {"spec", "core", "kernels", "quant", "export"}
    builtin : dict of str -> object or "module:attribute"
        The built-in families, one line each.
    """

    def __init__(self, stage: str, builtin: dict[str, Any]) -> None:
        if stage not in _ATTRIBUTE:
            raise ValueError(f"unknown stage {stage!r}")
        self.stage = stage
        self._builtin = dict(builtin)
        self._cache: dict[str, Any] = {}

    def names(self) -> list[str]:
        """Every family this stage knows: built-in first, then registered ones."""
        _read_entry_points()
        extra = [n for n, fam in _RUNTIME.items() if n not in self._builtin and hasattr(fam, _ATTRIBUTE[self.stage])]
        return list(self._builtin) + sorted(extra)

    def builtin_names(self) -> list[str]:
        """The families that ship with the toolkit (no plug-in, nothing registered at run time)."""
        return list(self._builtin)

    def has(self, name: str) -> bool:
        """Whether family ``name`` has an implementation of this stage."""
        return name in self.names()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has(name)

    def get(self, name: str) -> Any:
        """The stage's implementation for family ``name``.

        Raises
        ------
        ConfigError
            No such family, or the family has no implementation for this stage.
        """
        if name in self._cache:
            return self._cache[name]
        if name in self._builtin:
            ref = self._builtin[name]
        else:
            _read_entry_points()
            family = _RUNTIME.get(name)
            if family is None:
                raise ConfigError(f"unknown family {name!r}; known: {', '.join(self.names())}")
            ref = getattr(family, _ATTRIBUTE[self.stage], None)
            if ref is None:
                raise ConfigError(f"the {name} family has no {self.stage} stage")
        impl = _resolve(ref)
        self._cache[name] = impl
        return impl
