"""The daemon's work around the calls, the former way against the current one, in one run (issue 19).

Three pieces, each timed as this thread's CPU (time.thread_time) over N repetitions, rounds
alternating between the two ways so the shared VM's drift hits both alike; medians printed:
1. An idle claim check (Database.nothing_due, SQLite): Core's read transaction and execution,
   as it was, against one prepared SELECT on a pooled driver connection.
2. An empty write transaction (BEGIN IMMEDIATE, the audit chain's seal check, COMMIT): the seal
   through Core, as it was, against its prepared statements.
3. Making a SubmitDeclaration request for a 30-person dossier: parse the submission into the
   wrapper, token, serialize the whole envelope, as it was, against the submission's own bytes
   in the envelope written as bytes (clients/transport.py: soap_request, wrapped).
3b. The envelope and token around any request (three or four calls per dossier): zeep's
   UsernameToken applied to an envelope tree, serialized and split at its empty Body, as it was
   until 2026-12-06, against `soap_request` (our own token header, the envelope as bytes).
4. Ten JSON log lines: the standard library looking up each line's caller, thread and process,
   as it did, against not (nsw_adapter/logging.py).
5. Reading a pushed message's envelope header (twice per push: intake, then translate()): ten
   path lookups and strptime, as it was, against one walk of the Header and the date's digits
   read directly (envelope.py).

    .venv/bin/python benchmarks/overhead.py [--rounds 5] [--repeat 400]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from sqlalchemy import Connection

from nsw_adapter import envelope
from nsw_adapter.clients.transport import UsernameToken, soap_request, wrapped
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.logging import configure_logging, get_logger
from nsw_adapter.namespaces import PORTAL_NS
from nsw_adapter.soap import SOAP_ENV
from nsw_adapter.store import audit_chain, claims, open_store, outbox
from nsw_adapter.store.database import Database
from nsw_adapter.translate import translate
from nsw_adapter.xml import thread_parser


def cpu_per_call(step: Callable[[], Any], repeat: int) -> float:
    started = time.thread_time()
    for _ in range(repeat):
        step()
    return (time.thread_time() - started) / repeat


def core_seal(c: Connection) -> None:
    """The seal's check as it ran before: through Core (no rows to seal here)."""
    if c.execute(audit_chain._UNSEALED).first() is not None:
        raise AssertionError("the benchmark's store has unsealed rows")


@contextmanager
def core_tx(db: Database) -> Iterator[Connection]:
    assert db.writers is not None
    with db.writers, db.engine.begin() as connection:
        yield connection
        core_seal(connection)


def store_cases(db: Database) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    now = datetime.now(UTC)
    checks = [outbox._DUE_IDS, claims._READY.ids, claims._POLLS.ids, claims._CANCELLATIONS.ids]

    def idle_core() -> None:
        for ids in checks:
            with db.read() as c:
                db.execute(c, ids, {"now": now, "lim": 1}).first()

    def idle_now() -> None:
        for ids in checks:
            db.nothing_due(ids, now)

    def tx_core() -> None:
        with core_tx(db):
            pass

    def tx_now() -> None:
        with db.tx():
            pass

    return {"idle claim checks (4)": (idle_core, idle_now), "empty write transaction": (tx_core, tx_now)}


def soap_envelope_tree() -> tuple[etree._Element, etree._Element]:
    """An empty SOAP Envelope (Header and Body) as zeep's token was applied to: (root, Body)."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Header")
    return root, etree.SubElement(root, f"{{{SOAP_ENV}}}Body")


def request_case() -> tuple[Callable[[], Any], Callable[[], Any]]:
    files = generate_dossier(crew=20, passengers=10, seed=1, native_scripts=False)
    submission = translate([data for _, data in files], client_message_id="overhead").submission
    assert submission is not None

    def former() -> bytes:
        root, body = soap_envelope_tree()
        request = etree.SubElement(body, f"{{{PORTAL_NS}}}SubmitDeclaration")
        request.append(etree.fromstring(submission, parser=thread_parser()))
        root, _ = UsernameToken("demo", "demo", use_digest=True).apply(root, {})
        return etree.tostring(root, xml_declaration=True, encoding="utf-8")

    def current() -> bytes:
        return soap_request("demo", "demo", wrapped(f"{{{PORTAL_NS}}}SubmitDeclaration", submission))

    return former, current


def token_case() -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The envelope and token around any request: the payload is spliced in as it is either way,
    so its size does not matter (a wrapped General Declaration here)."""
    files = generate_dossier(crew=20, passengers=10, seed=1, native_scripts=False)
    payload = wrapped(f"{{{PORTAL_NS}}}SubmitDeclaration", files[0][1])

    def former() -> bytes:
        root, _body = soap_envelope_tree()
        root, _ = UsernameToken("demo", "demo", use_digest=True).apply(root, {})
        head, _empty, tail = etree.tostring(root, xml_declaration=True, encoding="utf-8").partition(
            b"<soap-env:Body/>"
        )
        return b"".join((head, b"<soap-env:Body>", payload, b"</soap-env:Body>", tail))

    def current() -> bytes:
        return soap_request("demo", "demo", payload)

    return former, current


def log_case() -> tuple[Callable[[], Any], Callable[[], Any]]:
    """One JSON log line (to /dev/null) with the standard library's caller, thread and process
    lookups, as it was, and without them, as configure_logging sets it now."""
    configure_logging("INFO", "json", open(os.devnull, "w"))  # noqa: SIM115 (the benchmark's lifetime)
    log = get_logger("nsw_adapter.outbox")
    source = logging.__file__

    def lookups(on: bool) -> None:
        logging._srcfile = source if on else None
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = on

    def line(on: bool) -> None:
        lookups(on)
        for _ in range(10):
            log.info("outbox.sent", outbox_id=1, dossier_id=2, message_id="m", function="21")

    return (lambda: line(True)), (lambda: line(False))


def header_case() -> tuple[Callable[[], Any], Callable[[], Any]]:
    """A General Declaration's header, read the former way and by envelope._read_header."""
    root = etree.fromstring(generate_dossier(crew=20, seed=7)[0][1])
    paths = ("Reference/messageId", "From/identity", "To/identity", "Subject/documentType",
             "Subject/type", "Subject/function", "Subject/reference", "Subject/preReference",
             "Subject/documentYear")  # fmt: skip

    def former() -> object:
        sent = envelope.collapse(root.findtext("Header/Subject/sendDate")) or ""
        moment = datetime.strptime(sent, envelope.SEND_DATE_FORMAT).replace(tzinfo=envelope.VIETNAM)
        return moment, [envelope.collapse(root.findtext(f"Header/{path}")) for path in paths]

    return former, lambda: envelope._read_header(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=400)
    args = parser.parse_args()
    store = open_store(f"sqlite:///{tempfile.mkdtemp(prefix='nswa-overhead-')}/adapter.db", migrate=True)
    cases = {
        **store_cases(store.database),
        "SubmitDeclaration request, 30 people": request_case(),
        "the envelope and token around a request": token_case(),
        "ten JSON log lines": log_case(),
        "a pushed message's envelope header": header_case(),
    }
    print(f"{args.rounds} rounds of {args.repeat}; µs of CPU per call, medians")
    for name, (former, current) in cases.items():
        former(), current()  # warm: statements compiled, schemas loaded
        before, after = [], []
        for _ in range(args.rounds):
            before.append(cpu_per_call(former, args.repeat))
            after.append(cpu_per_call(current, args.repeat))
        b, a = statistics.median(before), statistics.median(after)
        print(f"{name}: former {b * 1e6:.0f} µs, current {a * 1e6:.0f} µs ({a / b:.2f}x)")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
