"""`nsw-adapter validate | convert | mapping check | fixtures`: the translation area's commands.

Exit codes: 0 success (every file valid, a submission written, the mapping sound); 1 the input
has problems; 2 usage errors (bad options, a file that does not exist). Problems are printed
one a line (`FILE: CODE XPATH: text`) or, with --json, as one JSON array of
{file, code, text, xpath, document_type}, the texts in English or, with --lang vi, in Vietnamese
as agents read them. Problem texts carry no personal data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nsw_adapter.envelope import CANCELLATION, VIETNAM, NswMessage, read_message
from nsw_adapter.errors import EnvelopeError, Problem
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.mapping.spec import submission_spec
from nsw_adapter.model import DocumentInEffect, Dossier, read_document
from nsw_adapter.rules import RULES, RuleContext, check_complete
from nsw_adapter.texts import LANGUAGES, Language, render
from nsw_adapter.translate import translate

_NAMESPACE = uuid.UUID("6f1d3c52-9a43-4d0e-8f36-1f3b1c1a2e57")  # for default ClientMessageIds


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add validate, convert, mapping and fixtures."""
    validate = commands.add_parser(
        "validate",
        help="check NSW envelopes one by one (XSD and single-document rules)",
        description="Check each NSW envelope on its own: envelope.xsd, then the business rules that "
        "need no other document. Exit 0 all valid, 1 problems, 2 usage errors.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="NSW envelope files")
    _output_options(validate)
    validate.set_defaults(handler=run_validate)

    convert = commands.add_parser(
        "convert",
        help="translate one dossier's NSW envelopes into a portal submission",
        description="Translate the files (one dossier) into a portal Submission, written to stdout "
        "or -o. Problems: printed, exit 1.",
    )
    convert.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="the envelope files of one dossier"
    )
    convert.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the submission here")
    convert.add_argument(
        "--client-message-id", metavar="ID", help="the ClientMessageId (default: derived from the files)"
    )
    convert.add_argument("--supersedes", metavar="RECEIPT", help="the receipt this submission replaces")
    _output_options(convert)
    convert.set_defaults(handler=run_convert)

    mapping = commands.add_parser("mapping", help="the NSW -> portal mapping")
    which = mapping.add_subparsers(dest="mapping_command", metavar="ACTION", required=True)
    check = which.add_parser(
        "check",
        help="prove mappings/submission.yaml against submission.xsd and envelope.xsd",
        description="Exit 0 when every required portal element is written, every target exists and "
        "every NSW field is mapped or listed as unmapped; 1 otherwise.",
    )
    check.set_defaults(handler=run_mapping_check)

    fixtures = commands.add_parser(
        "fixtures",
        help="write a generated valid dossier, one envelope file per document",
        description="Generate one valid NSW dossier (invented data) into DIR.",
    )
    fixtures.add_argument("--crew", type=int, required=True, metavar="N", help="crew members")
    fixtures.add_argument("--passengers", type=int, default=0, metavar="M", help="passengers (default 0)")
    fixtures.add_argument("--arms", type=int, default=0, metavar="K", help="declared arms (default 0)")
    fixtures.add_argument("--stowaways", type=int, default=0, metavar="S", help="stowaways (default 0)")
    fixtures.add_argument(
        "--seed", type=int, default=0, metavar="X", help="random seed (same seed, same dossier)"
    )
    fixtures.add_argument("--reference", metavar="DOSSIER", help="the NSW dossier number")
    fixtures.add_argument("--departure", action="store_true", help="an exit (documentType 2)")
    fixtures.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder for the envelope files"
    )
    fixtures.set_defaults(handler=run_fixtures)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print problems as a JSON array")
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default="en",
        help="the language of the problem texts: en (default) or vi, as the agents read them",
    )
    parser.add_argument(
        "--today", type=date.fromisoformat, metavar="YYYY-MM-DD", help="the date E-DOB compares with"
    )


def _read_files(files: Sequence[Path]) -> list[tuple[str, bytes]] | None:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"nsw-adapter: no such file: {', '.join(missing)}", file=sys.stderr)
        return None
    return [(str(f), f.read_bytes()) for f in files]


def _report(found: Sequence[tuple[str | None, Problem]], as_json: bool, language: Language) -> None:
    if as_json:
        rows = [
            {"file": name, **problem.as_dict(), "text": render(problem, language)} for name, problem in found
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for name, p in found:
        where = f" {p.xpath}" if p.xpath else ""
        print(f"{name or '(dossier)'}: {p.code}{where}: {render(p, language)}")


# --- validate -------------------------------------------------------------------------------

_SINGLE_DOCUMENT_RULES = tuple(rule for rule in RULES if rule is not check_complete)


def validate_message(data: bytes, *, today: date | None = None) -> list[Problem]:
    """One envelope on its own: E-ENVELOPE / E-SCHEMA, then every rule that needs no other document."""
    try:
        message = read_message(data)
    except EnvelopeError as exc:
        return list(exc.problems)
    if message.problems or message.header.function == CANCELLATION:
        return list(message.problems)
    document = read_document(message.content)
    doc_type = message.header.type or ""
    dossier = Dossier(
        reference=message.header.reference or "",
        document_type=message.header.document_type or "",
        documents={doc_type: DocumentInEffect(header=message.header, document=document)},
    )
    ctx = RuleContext(today=today or _today())
    return [p for rule in _SINGLE_DOCUMENT_RULES for p in rule(dossier, ctx)]


def _today() -> date:
    return datetime.now(VIETNAM).date()


def run_validate(args: argparse.Namespace) -> int:
    files = _read_files(args.files)
    if files is None:
        return 2
    found: list[tuple[str | None, Problem]] = []
    for name, data in files:
        problems = validate_message(data, today=args.today)
        found.extend((name, p) for p in problems)
        if not problems and not args.json:
            print(f"{name}: ok")
    _report(found, args.json, args.lang)
    return 1 if found else 0


# --- convert --------------------------------------------------------------------------------


def _default_client_message_id(files: Sequence[tuple[str, bytes]]) -> str:
    # Deterministic: the same files give the same id (the portal then answers a repeat as a duplicate).
    digest = hashlib.sha256()
    for data in sorted(hashlib.sha256(data).digest() for _, data in files):
        digest.update(data)
    return str(uuid.uuid5(_NAMESPACE, digest.hexdigest()))


def _attribute(files: Sequence[tuple[str, bytes]]) -> tuple[list[tuple[str | None, Problem]], dict[str, str]]:
    """E-ENVELOPE problems by file, and the file of each NSW type's document in effect."""
    refused: list[tuple[str | None, Problem]] = []
    usable: list[tuple[str, NswMessage]] = []
    for name, data in files:
        try:
            usable.append((name, read_message(data)))
        except EnvelopeError as exc:
            refused.extend((name, p) for p in exc.problems)
    by_type: dict[str, str] = {}
    ordered = sorted(usable, key=lambda pair: (pair[1].header.send_date, pair[1].header.function))
    for name, message in ordered:
        if message.header.type:
            by_type[message.header.type] = name
    return refused, by_type


def run_convert(args: argparse.Namespace) -> int:
    files = _read_files(args.files)
    if files is None:
        return 2
    client_message_id = args.client_message_id or _default_client_message_id(files)
    try:
        result = translate(
            [data for _, data in files],
            client_message_id=client_message_id,
            supersedes=args.supersedes,
            today=args.today,
        )
    except ValueError as exc:
        print(f"nsw-adapter: {exc}", file=sys.stderr)
        return 2
    if result.problems:
        refused, by_type = _attribute(files)
        found = refused or [(by_type.get(p.document_type or ""), p) for p in result.problems]
        _report(found, args.json, args.lang)
        return 1
    if result.cancelled or result.submission is None:
        print(f"dossier {result.reference} is cancelled: nothing to submit", file=sys.stderr)
        if args.json:
            print("[]")
        return 0
    if args.output:
        args.output.write_bytes(result.submission)
    else:
        sys.stdout.buffer.write(result.submission)
        sys.stdout.flush()
    return 0


# --- mapping check, fixtures ----------------------------------------------------------------


def run_mapping_check(args: argparse.Namespace) -> int:
    # Imported here: xmlschema takes a third of a second or more, and every command (the daemon's
    # restart among them) would pay it (issue 15).
    from nsw_adapter.mapping.check import check_mapping

    report = check_mapping(submission_spec())
    print(f"mapped NSW fields: {len(report.mapped)}")
    print(f"not mapped, on purpose ({len(report.unmapped_declared)}):")
    for name in report.unmapped_declared:
        print(f"  {name}")
    if report.unmapped_undeclared:
        print(f"not mapped and not listed as unmapped ({len(report.unmapped_undeclared)}):")
        for name in report.unmapped_undeclared:
            print(f"  {name}")
    for error in report.errors:
        print(f"error: {error}")
    print("mapping is sound" if report.sound else f"mapping is NOT sound ({len(report.errors)} errors)")
    return 0 if report.sound else 1


def run_fixtures(args: argparse.Namespace) -> int:
    if args.crew < 1 or min(args.passengers, args.arms, args.stowaways) < 0:
        print("nsw-adapter: --crew must be at least 1, the other counts at least 0", file=sys.stderr)
        return 2
    try:
        documents = generate_dossier(
            crew=args.crew,
            passengers=args.passengers,
            arms=args.arms,
            stowaways=args.stowaways,
            seed=args.seed,
            reference=args.reference,
            document_type="2" if args.departure else "1",
        )
    except ValueError as exc:
        print(f"nsw-adapter: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in documents:
        path = args.out / name
        path.write_bytes(data)
        print(path)
    return 0
