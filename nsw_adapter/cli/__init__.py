"""`nsw-adapter`: one entry point; each area registers its own subcommands.

Exit codes (cli/common.py, Exit): 0 success, 1 the input has problems (or the command failed),
2 usage or settings errors, 3 no store there or its schema is not this version's, 4 a
dependency unreachable, 5 cannot listen on a port, 141 the output's reader went away. Every
expected failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence

from nsw_adapter.build import describe
from nsw_adapter.cli import (
    audit,
    config_check,
    console,
    daemon,
    events,
    history,
    simulate,
    storage,
    subscriber,
    translation,
)
from nsw_adapter.cli.common import CommandError, Exit
from nsw_adapter.errors import CannotListen, ConfigurationError, StoreNotReady, StoreUnreachable

_AREAS = (translation, simulate, subscriber, storage, history, events, audit, config_check, console, daemon)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nsw-adapter",
        description="Connector between Vietnam's National Single Window and the Border Guard portal.",
        epilog="Exit codes: 0 success, 1 problems found, 2 usage or settings error, 3 no store (or its "
        "schema is not this version's), 4 a dependency unreachable, 5 cannot listen on a port.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in _AREAS:
        area.register(commands)
    described = describe()
    for every in parsers(parser):
        every.add_argument("--version", action="version", version=described, help="print the version, exit")
    return parser


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand's parser, depth first; a subcommand with no description of
    its own gets its one-line help as one (argparse shows none under `COMMAND --help` otherwise)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for listed in action._choices_actions:
                child = action.choices[listed.dest]
                if child.description is None and listed.help:
                    child.description = listed.help[0].upper() + listed.help[1:] + "."
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                yield from parsers(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code: int = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handling below, not at exit
    except BrokenPipeError:
        # `status | head`: the reader has what it wanted. Nothing to say, and Python must not
        # complain at exit while flushing what is left: stdout goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    except ConfigurationError as exc:
        return _fail(parser, exc, Exit.USAGE)
    except StoreNotReady as exc:
        return _fail(parser, exc, Exit.NO_STORE)
    except StoreUnreachable as exc:
        return _fail(parser, exc, Exit.UNREACHABLE)
    except CannotListen as exc:
        return _fail(parser, exc, Exit.CANNOT_LISTEN)
    except CommandError as exc:
        return _fail(parser, exc, exc.code)
    return code


def _fail(parser: argparse.ArgumentParser, exc: Exception, code: Exit) -> int:
    print(f"{parser.prog}: {' '.join(str(exc).split())}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
