"""Command line: a thin layer over the family registry.  ``hbf-edge --help`` lists the commands.

Library errors (:class:`hbf_edge.errors.HbfEdgeError`) become a one-line message on stderr and
exit code 2; argparse usage errors also exit with 2.  The library's own messages (the
``hbf_edge`` logger: warnings, status lines of long steps) go to stderr.  The parser is in ``_parser`` (options of a
family generated from its settings dataclasses by ``_options``), the commands in ``_commands``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from hbf_edge.cli._commands import all_families, run_command, run_family_command, stages_of
from hbf_edge.cli._parser import DIR_COMMANDS, build_parser, command_parser
from hbf_edge.cli._paths import resolve_paths
from hbf_edge.cli._signals import Terminated, first_signal_stops
from hbf_edge._io import deferred_signals
from hbf_edge._threads import apply_thread_policy
from hbf_edge.errors import HbfEdgeError

__all__ = ["main", "build_parser"]


def _directory_command(argv: list[str]) -> tuple[tuple[str, ...] | None, str | None]:
    """The directory command ``argv`` starts with and its model's family (read from the first
    argument that is a model directory; None if there is none yet)."""
    from hbf_edge.modelfiles import read_model_dir

    for command in DIR_COMMANDS:
        if tuple(argv[:len(command)]) == command:
            for token in argv[len(command):]:
                if not token.startswith("-") and (Path(token) / "config.json").is_file():
                    return command, read_model_dir(token)[0].family
            return command, None
    return None, None


class _Stderr(logging.StreamHandler):
    """The CLI's handler of the ``hbf_edge`` logger: the library's messages (warnings, status
    lines of long steps) on whatever ``sys.stderr`` is at the time of the record."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _route_library_messages() -> None:
    log = logging.getLogger("hbf_edge")
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _quiet_finalizers() -> None:
    """Silence the finalizers of objects the signal caught half-built: a SIGTERM inside
    ``zipfile.ZipFile.__init__`` (``np.savez``) left one whose ``__del__`` printed an
    ``AttributeError`` after the one line (1 of ~20 interrupted exports; the temporary folder is
    already gone when it runs, so there is nothing left for it to close)."""
    sys.unraisablehook = lambda unraisable: None  # main() puts the previous hook back


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush into the closed pipe does
    not print a second error."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real file behind stdout: nothing left to flush
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 2 on bad input, 130 on Ctrl-C, 143 on SIGTERM (one line
    on stderr, and no half-written output: the writers' temporary folders are removed), 141
    without a word when stdout's reader has gone.  The first signal decides: later ones do not
    interrupt the cleanup (:mod:`hbf_edge.cli._signals`)."""
    _route_library_messages()
    hook = sys.unraisablehook
    try:
        with first_signal_stops(program=argv is None):
            return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        _quiet_finalizers()
        print("hbf-edge: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    except Terminated:
        _quiet_finalizers()
        print("hbf-edge: terminated; nothing half-written was kept", file=sys.stderr)
        return 143
    except BrokenPipeError:  # the reader of stdout left (`hbf-edge evaluate M | head`): stop quietly, as a filter does
        _silence_stdout()
        return 141
    finally:  # the half-built objects died with the handled exception, before this runs
        sys.unraisablehook = hook


def _leading_threads(argv: list[str]) -> int | None:
    """``--threads N`` given before the command (it must act before torch and Numba load)."""
    if argv[:1] == ["--threads"] and len(argv) > 1 and argv[1].isdigit():
        return int(argv[1])
    if argv[:1] and argv[0].startswith("--threads=") and argv[0].partition("=")[2].isdigit():
        return int(argv[0].partition("=")[2])
    return None


def _main(argv: list[str]) -> int:
    try:
        apply_thread_policy(_leading_threads(argv))
        with deferred_signals():  # the stages' native imports (numba, torch): see hbf_edge._io
            families = all_families()
            command, family = _directory_command(argv)
            stages = stages_of(family) if family is not None else None
            parser = build_parser(families, command, family, stages)
        try:
            args, extras = parser.parse_known_args(argv)
            if extras:  # reported by the command's own parser, which names its --help
                command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extras)}")
        except SystemExit as exc:  # argparse has printed the usage error or the help
            return int(exc.code or 0)
        resolve_paths(args)  # --out is a folder; input options take the folder a command wrote
        if args.command in ("channels", "train"):
            return run_family_command((args.command,), args.family, stages_of(args.family, ()), args)
        if command is not None:
            if family is None:  # no model directory among the arguments
                from hbf_edge.modelfiles import read_model_dir

                read_model_dir(args.model_dir)  # says what is wrong with it, in one line
            return run_family_command(command, family, stages, args)
        return run_command(args)
    except HbfEdgeError as exc:
        print(f"hbf-edge: error: {exc}", file=sys.stderr)
        return 2
