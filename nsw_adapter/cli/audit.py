"""`nsw-adapter audit verify`: walk the audit trail's hash chain and report the first broken link.

Exit 0 when every link holds (the head's position and hash are printed: kept elsewhere, they
later prove nothing before them was rewritten), 1 at the first broken link, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nsw_adapter.cli.common import add_store, open_existing, settings


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `audit verify`."""
    audit = commands.add_parser(
        "audit", help="the tamper-evident audit trail", description="The tamper-evident audit trail."
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="check every audit row's hash link; exit 1 at the first broken one",
        description="Walk the audit trail's hash chain. Exit 0 when every link holds (the head hash "
        "printed, kept elsewhere, later proves nothing before it was rewritten), 1 at the first broken link.",
    )
    add_store(verify)
    verify.add_argument("--json", action="store_true", help="the report as one JSON object")
    verify.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    store = open_existing(args, settings(args))
    try:
        report = store.verify_audit_chain()
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "intact": report.intact,
                    "links": report.links,
                    "head_seq": report.head_seq,
                    "head_hash": report.head_hash,
                    "broken_at": report.broken_at,
                    "row_id": report.row_id,
                    "problem": report.problem,
                }
            )
        )
    elif report.intact:
        print(f"audit trail intact: {report.links} links, head {report.head_hash}")
    else:
        print(f"audit trail broken at link {report.broken_at}: {report.problem}")
        print(f"links before it hold: {report.links}")
    return 0 if report.intact else 1
