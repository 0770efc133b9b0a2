"""Command line: a thin layer over the library.  ``hbf-edge --help`` lists the commands.

Library errors (:class:`hbf_edge.errors.HbfEdgeError`) become a one-line message on stderr and
exit code 2; argparse usage errors also exit with 2.  The parser is in ``_parser``, the commands
in ``_commands`` (quantize and study in ``_quant``).
"""

from __future__ import annotations

import sys
from typing import Sequence

from hbf_edge.errors import HbfEdgeError
from hbf_edge.cli._commands import COMMANDS
from hbf_edge.cli._parser import build_parser

__all__ = ["main", "build_parser"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HbfEdgeError as exc:
        print(f"hbf-edge: error: {exc}", file=sys.stderr)
        return 2
