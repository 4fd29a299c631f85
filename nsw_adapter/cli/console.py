"""`nsw-adapter console hash-password`: an argon2 hash for a `[console] users` entry.

The password is read from standard input (never an argument: it would show in the process
list and the shell's history); the hash goes to standard output.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `console hash-password`."""
    console = commands.add_parser("console", help="the operator console")
    actions = console.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    hashing = actions.add_parser(
        "hash-password", help="read a password from standard input, print its argon2 hash for [console] users"
    )
    hashing.set_defaults(handler=_hash_password)


def _hash_password(_args: argparse.Namespace) -> int:
    from nsw_adapter.console.auth import hash_password

    interactive = sys.stdin.isatty()  # a terminal: ask without echo; a pipe: its first line
    password = getpass.getpass("password: ") if interactive else sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("nsw-adapter: no password on standard input", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0
