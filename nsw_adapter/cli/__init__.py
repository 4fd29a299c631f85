"""`nsw-adapter`: one entry point; each area registers its own subcommands.

Exit codes: 0 success, 1 the input has problems (or the command failed), 2 usage errors
(including a missing or invalid settings file, reported in one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from nsw_adapter.cli import audit, console, daemon, simulate, storage, translation
from nsw_adapter.errors import ConfigurationError

_AREAS = (translation, simulate, storage, audit, console, daemon)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nsw-adapter",
        description="Connector between Vietnam's National Single Window and the Border Guard portal.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in _AREAS:
        area.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code: int = handler(args)
    except ConfigurationError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
