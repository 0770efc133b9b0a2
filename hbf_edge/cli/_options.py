"""Command-line options generated from settings dataclasses, and parsed back into them.

Each field becomes ``--name-with-dashes`` (or a positional argument), typed from its annotation:
``bool`` a switch, ``list[X]`` one or more X, ``X | None`` an optional X.  The help text, short
flag, choices, ``nargs`` and ``metavar`` come from the field's metadata
(:func:`hbf_edge.families._protocol.field`).  Defaults stay in the dataclass: argparse sees
``None`` for every unset option, so the dataclass's default (the paper's) applies and
``--help`` shows it from the help text.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

__all__ = ["add_settings", "settings_from"]


class _Renamed(argparse.Action):
    """A former spelling of an option (hidden from ``--help``): it sets the same value and
    says, once, on stderr, what the option is called now."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        import sys

        print(f"hbf-edge: warning: {option_string} is now {self.new}; the old spelling goes in the next release",
              file=sys.stderr)
        setattr(ns, self.dest, values)


def _finite_float(text: str) -> float:
    """A float option's value: a finite number (``nan`` and ``inf`` are refused by argparse, in
    its one-line form, before any work starts)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _kind(annotation: Any) -> tuple[type, bool]:
    """(element type, is a list) of a resolved annotation such as ``list[float] | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def add_settings(parser: argparse.ArgumentParser, cls: type, title: str | None = None,
                 skip: tuple[str, ...] = ()) -> None:
    """Add one option per field of the settings dataclass ``cls`` (inherited fields first)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        meta = dict(f.metadata)
        kind, many = _kind(hints[f.name])
        text = meta.get("help", "")
        if meta.get("qat_only") and "QAT" not in text:  # refused with --method ptq (QuantCommon)
            text = f"QAT only: {text}"
        kwargs: dict[str, Any] = {"help": text.replace("%", "%%"), "default": None}
        parse = _finite_float if kind is float else kind
        if meta.get("positional"):
            group.add_argument(f.name, type=parse, help=kwargs["help"], metavar=f.name.upper())
            continue
        names = [f"--{f.name.replace('_', '-')}"] + ([meta["flag"]] if "flag" in meta else [])
        if kind is bool:
            kwargs["action"] = "store_true" if f.default is False else argparse.BooleanOptionalAction
        else:
            kwargs["type"] = parse
            if many:
                kwargs["nargs"] = meta.get("nargs", "+")
            for key in ("choices", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
        if meta.get("required"):
            kwargs["required"] = True
        group.add_argument(*names, dest=f.name, **kwargs)
        if "old" in meta:
            group.add_argument(meta["old"], dest=f.name, action=_Renamed, new=names[0], help=argparse.SUPPRESS,
                               **{k: v for k, v in kwargs.items() if k not in ("help", "action")})


def settings_from(cls: type, ns: argparse.Namespace) -> Any:
    """The dataclass ``cls`` from parsed options: unset options keep the dataclass's default; then
    its ``check_given`` (:class:`~hbf_edge.families._settings.Settings`) with the options named."""
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(ns, f.name, None)
        if value is not None and not (value is False and f.default is False):
            values[f.name] = value
    settings = cls(**values)
    check = getattr(settings, "check_given", None)  # Settings: checks on the options named
    if check is not None:
        check(frozenset(values))
    return settings
