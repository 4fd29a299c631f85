"""`nsw-adapter show` (what happened to ship X?) and `nsw-adapter report` (the gate's figures).

Both read the store only (never create or migrate it) and print ids, codes, XPaths and counts:
no crew or passenger name, no document number, no payload.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from nsw_adapter.cli.common import CommandError, Exit, add_store, open_existing, settings
from nsw_adapter.envelope import VIETNAM
from nsw_adapter.store.history import DossierHistory
from nsw_adapter.store.reports import GateFigures

_REPORT_COLUMNS = (
    "gate", "entries", "exits", "crew", "passengers", "shore_passes", "cleared", "rejected",
    "rejected_locally", "rejected_by_code", "rejected_locally_by_code",
    "to_decision_median_s", "to_decision_p95_s", "to_result_median_s", "to_result_p95_s",
)  # fmt: skip


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `show` and `report`."""
    show = commands.add_parser(
        "show",
        help="a dossier's history: messages, state changes, portal calls, Results, requests, problems",
        description="What happened to a ship: each dossier of a reference, an IMO number or a vessel "
        "as a timeline (ids, codes and counts; never names or document numbers). Exit 1 when none is found.",
    )
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("reference", nargs="?", help="the NSW dossier number (both directions are shown)")
    which.add_argument("--imo", metavar="N", help="every dossier of the vessel with this IMO number")
    which.add_argument("--vessel", metavar="NAME", help="every dossier of a vessel whose name contains NAME")
    show.add_argument("--json", action="store_true", help="one JSON object per dossier, in a list")
    add_store(show)
    show.set_defaults(handler=_show)

    report = commands.add_parser(
        "report",
        help="per border gate: entries, exits, crew, passengers, shore passes, decisions, delays",
        description="The Border Guard's figures per border gate for the ships expected (ETA or ETD) "
        "between two dates, Vietnam local time, both days included.",
    )
    report.add_argument("--from", dest="start", required=True, type=_day, metavar="DATE", help="first day")
    report.add_argument("--to", dest="end", required=True, type=_day, metavar="DATE", help="last day")
    report.add_argument("--gate", metavar="CODE", help="one border gate station (e.g. CKCHPG)")
    formats = report.add_mutually_exclusive_group()
    formats.add_argument("--csv", action="store_true", help="CSV, one row per gate")
    formats.add_argument("--json", action="store_true", help="JSON, one object per gate")
    add_store(report)
    report.set_defaults(handler=_report)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _show(args: argparse.Namespace) -> int:
    store = open_existing(args, settings(args))
    try:
        found = store.history(reference=args.reference, imo=args.imo, vessel=args.vessel)
    finally:
        store.close()
    if args.json:
        print(json.dumps([dossier.as_dict() for dossier in found], ensure_ascii=False, indent=2))
    else:
        for dossier in found:
            print(_timeline(dossier))
    if not found:
        what = args.reference or (f"IMO {args.imo}" if args.imo else f"vessel {args.vessel!r}")
        print(f"no dossier found for {what}", file=sys.stderr)
        return Exit.PROBLEMS
    return Exit.OK


def _timeline(dossier: DossierHistory) -> str:
    facts = dossier.facts
    procedure = "entry" if dossier.document_type == "1" else "exit"
    lines = [
        f"{dossier.reference} ({procedure}) version {dossier.version}: {dossier.state}"
        + (f", receipt {dossier.receipt_number}" if dossier.receipt_number else ""),
        "  vessel: "
        + ", ".join(
            f"{label} {facts[key]}"
            for label, key in (("IMO", "imo"), ("name", "vessel_name"), ("call sign", "call_sign"))
            if facts.get(key)
        ),
        f"  gate {facts.get('gate') or '-'}, expected {_local(facts.get('expected_at'))}, "
        f"crew {_count(facts.get('crew'))}, passengers {_count(facts.get('passengers'))}",
    ]
    if dossier.unknown_portal_state:
        lines.append(
            f"  portal state {dossier.unknown_portal_state}: not known to this adapter; polled on "
            "(a newer portal? upgrade nsw-adapter)"
        )
    if facts.get("decision"):
        decided = {"22": "rejected", "23": "cleared", "24": "cancelled"}[facts["decision"]]
        by = " by the adapter" if facts.get("decided_locally") else ""
        lines.append(
            f"  decision: {decided}{by} at {_local(facts.get('decided_at'))}"
            + (f", clearance {facts['clearance_number']}" if facts.get("clearance_number") else "")
            + (f", {facts['shore_passes']} shore pass(es)" if facts.get("shore_passes") else "")
        )
    for event in dossier.events:
        lines.append(f"  {_local(event.at)}  {event.kind:8s} {_describe(event.kind, event.details)}")
    for problem in dossier.problems:
        where = f" at {problem.xpath}" if problem.xpath else ""
        document = f" (document {problem.document_type})" if problem.document_type else ""
        lines.append(f"  problem {problem.code}{where}{document} [{problem.source}]")
    return "\n".join(lines)


def _describe(kind: str, details: dict[str, Any]) -> str:
    if kind == "received":
        signed = f", signature {details['signature']}" if details.get("signature") else ""
        if details.get("signer"):
            signer = details["signer"]
            signed += f" by {signer['subject']} (serial {signer['serial']}, SHA-256 {signer['sha256']})"
        return (
            f"type {details['type']} function {details['function']} messageId {details['message_id']} "
            f"sent {details['send_date']}, answered {details['answer']}{signed}"
        )
    if kind == "state":
        return f"v{details['version']} {details['from'] or '-'} -> {details['to']} ({details['cause']})"
    if kind == "portal":
        return f"{details['call']} ClientMessageId {details['client_message_id']}"
    if kind == "request":
        ended = details["outcome"] + (
            f" {_local(details['outcome_at'])}" if details.get("outcome_at") else ""
        )
        return (
            f"supplement request {details['request_number']} on {details['receipt_number']}: "
            f"{', '.join(details['codes']) or '-'}, respond by {_local(details['respond_by'])} "
            f"(25 messageId {details['message_id']}; {ended})"
        )
    sent = f"sent {_local(details['sent_at'])}" if details.get("sent_at") else str(details.get("status"))
    return f"Result {details['function']} messageId {details['message_id']}: {sent}"


def _report(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise CommandError("--to is before --from", Exit.USAGE)
    start = datetime.combine(args.start, time(), VIETNAM).astimezone(UTC)
    end = datetime.combine(args.end + timedelta(days=1), time(), VIETNAM).astimezone(UTC)
    store = open_existing(args, settings(args))
    try:
        figures = store.report(start, end, args.gate)
    finally:
        store.close()
    if args.json:
        print(json.dumps([figure.as_dict() for figure in figures], indent=2))
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_REPORT_COLUMNS)
        writer.writerows(_row(figure) for figure in figures)
    else:
        print(f"ships expected {args.start} to {args.end} (Vietnam time)")
        for figure in figures:
            print(_summary(figure))
        if not figures:
            print("no dossier in that period")
    return Exit.OK


def _row(figure: GateFigures) -> list[Any]:
    plain = figure.as_dict()
    return [
        *(plain[key] for key in _REPORT_COLUMNS[:9]),
        _codes(figure.rejected_by_code),
        _codes(figure.rejected_locally_by_code),
        figure.to_decision.median,
        figure.to_decision.p95,
        figure.to_result.median,
        figure.to_result.p95,
    ]


def _summary(figure: GateFigures) -> str:
    return "\n".join(
        [
            f"{figure.gate}: {figure.entries} entries, {figure.exits} exits; crew {figure.crew}, "
            f"passengers {figure.passengers}, shore passes {figure.shore_passes}",
            f"  cleared {figure.cleared}, rejected by the portal {figure.rejected} "
            f"({_codes(figure.rejected_by_code) or '-'}), by the adapter {figure.rejected_locally} "
            f"({_codes(figure.rejected_locally_by_code) or '-'})",
            f"  complete -> decision: {_delay(figure.to_decision.median)} median, "
            f"{_delay(figure.to_decision.p95)} p95 ({figure.to_decision.count}); "
            f"-> Result at the NSW: {_delay(figure.to_result.median)} median, "
            f"{_delay(figure.to_result.p95)} p95 ({figure.to_result.count})",
        ]
    )


def _codes(counts: dict[str, int]) -> str:
    return " ".join(f"{code}={n}" for code, n in sorted(counts.items()))


def _delay(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _local(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S")
