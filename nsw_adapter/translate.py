"""A dossier's NSW messages -> one validated portal submission, or every problem found. Pure, no I/O.

Stages, each stopping the ones after it when it finds anything (NOTES: "a schema error stops
the other rules"): envelopes (E-ENVELOPE) -> which dossier (E-UNKNOWN-DOSSIER) -> documents
in effect (per type the latest 01/02 by sendDate) -> envelope.xsd (E-SCHEMA) -> business
rules (all of them, every problem) -> mapping -> submission.xsd.

A cancellation (function 03) among the messages withdraws the dossier: the Translation then
has `cancelled` True, no submission and no problems. Nothing is submitted for it; cancelling
an earlier receipt is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree
from pydantic import ValidationError

from nsw_adapter.envelope import CANCELLATION, VIETNAM, NswMessage, read_message
from nsw_adapter.errors import EnvelopeError, Problem
from nsw_adapter.lifecycle import precedence, unknown_dossier_problem
from nsw_adapter.mapping.engine import submission_plan
from nsw_adapter.mapping.lineage import Lineage
from nsw_adapter.mapping.transforms import local_datetime
from nsw_adapter.model import DocumentInEffect, Dossier, read_document
from nsw_adapter.rules import check_dossier
from nsw_adapter.texts import problem
from nsw_adapter.xml import schema, thread_parser

CONTENT = "/Envelope/Body/Content"
SUBJECT = "/Envelope/Header/Subject"
_EFFECTIVE_FUNCTIONS = ("01", "02")
_CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
_RECEIPT_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9/\-]{0,39}")


@dataclass(frozen=True, slots=True)
class Translation:
    """The outcome of translating one dossier.

    submission: the portal Submission (UTF-8 XML, valid against submission.xsd), or None.
    problems: every problem found (empty when the dossier translated or was cancelled).
    lineage: portal field -> NSW field, for the submission (None without one).
    reference / document_type: the NSW dossier number and 1 (arrival) / 2 (departure), when known.
    cancelled: a function-03 cancellation is among the messages; there is nothing to submit.
    message_ids: the messageIds of the documents in effect, in NSW type order.
    """

    submission: bytes | None
    problems: list[Problem] = field(default_factory=list)
    lineage: Lineage | None = None
    reference: str | None = None
    document_type: str | None = None
    cancelled: bool = False
    message_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No problems: there is a submission, or the dossier was cancelled."""
        return not self.problems


def translate(
    documents: Sequence[bytes],
    *,
    client_message_id: str,
    supersedes: str | None = None,
    today: date | None = None,
) -> Translation:
    """Translate one dossier's NSW messages (envelope bytes, any order) into a portal submission.

    client_message_id: the portal's ClientMessageId for this attempt; supersedes: the receipt
    this submission replaces; today: the date E-DOB compares with (default: today in Vietnam).
    Same input, same output, byte for byte.
    """
    if not _CLIENT_MESSAGE_ID.fullmatch(client_message_id):
        raise ValueError("client_message_id must be 1-64 of A-Z a-z 0-9 _ . : - (starting alphanumeric)")
    if supersedes is not None and not _RECEIPT_NUMBER.fullmatch(supersedes):
        raise ValueError("supersedes must be a portal ReceiptNumber")

    messages: list[NswMessage] = []
    problems: list[Problem] = []
    for data in documents:
        try:
            messages.append(read_message(data))
        except EnvelopeError as exc:
            problems.extend(exc.problems)
    if problems:
        return Translation(None, problems)
    if not messages:
        return Translation(None, [problem("E-INCOMPLETE", "E-INCOMPLETE.empty", None, "50")])
    # The NSW issues a dossier's messages in sendDate order; ties as the store breaks them, so the
    # outcome never depends on the order the files were handed in.
    messages.sort(key=lambda m: precedence(m.header.send_date, m.header.function, m.header.message_id))

    reference = messages[0].header.reference
    problems = [
        problem("E-ENVELOPE", "E-ENVELOPE.other_dossier", f"{SUBJECT}/reference", m.header.type)
        for m in messages
        if m.header.reference != reference
    ]
    if problems:
        return Translation(None, problems, reference=reference)
    if not any(m.header.function == "01" for m in messages):
        problems = [unknown_dossier_problem(reference, m.header.type) for m in messages]
        return Translation(None, problems, reference=reference)

    cancellations = [m for m in messages if m.header.function == CANCELLATION]
    if cancellations:
        problems = [p for m in cancellations for p in m.problems]
        document_type = cancellations[-1].header.document_type
        return Translation(None, problems, reference=reference, document_type=document_type, cancelled=True)

    in_effect = _in_effect(messages)
    problems = [p for m in in_effect.values() for p in m.problems]
    if problems:
        return Translation(None, problems, reference=reference)
    dossier, problems = _dossier(reference or "", in_effect)
    if dossier is None:
        return Translation(None, problems, reference=reference)
    message_ids = tuple(in_effect[t].header.message_id for t in sorted(in_effect))

    problems = check_dossier(dossier, today=today or datetime.now(VIETNAM).date())
    if problems:
        return Translation(None, problems, reference=reference, document_type=dossier.document_type)

    plan = submission_plan()
    models: dict[str, object] = dict.fromkeys(plan.spec.documents)
    models.update((type(e.document).__name__, e.document) for e in dossier.documents.values())
    text, lineage = plan.render(
        models,
        {"reference": dossier.reference, "documentType": dossier.document_type},
        {"client_message_id": client_message_id, "supersedes": supersedes},
    )
    submission = text.encode("utf-8")
    problems = _check_submission(submission, lineage)
    return Translation(
        None if problems else submission,
        problems,
        lineage=lineage,
        reference=reference,
        document_type=dossier.document_type,
        message_ids=message_ids,
    )


def _in_effect(messages: Sequence[NswMessage]) -> dict[str, NswMessage]:
    """Per NSW type, the latest new or amended document (messages are in effect order)."""
    latest: dict[str, NswMessage] = {}
    for message in messages:
        if message.header.function in _EFFECTIVE_FUNCTIONS and message.header.type:
            latest[message.header.type] = message
    return latest


def _dossier(reference: str, in_effect: dict[str, NswMessage]) -> tuple[Dossier | None, list[Problem]]:
    """Models of the documents in effect, or the E-SCHEMA problems the schema could not see."""
    documents: dict[str, DocumentInEffect] = {}
    problems: list[Problem] = []
    for doc_type, message in sorted(in_effect.items()):
        try:
            model = read_document(message.content)
        except ValidationError as exc:
            problems.extend(_model_problems(exc, message))
            continue
        moment = getattr(model, "ArrivalOrDepartureTime", None)
        if moment is not None:
            try:
                local_datetime(moment)  # the pattern checks ranges, not the calendar (30 February)
            except (ValueError, OverflowError):  # ... nor year 1 at +14:00, which has no local time
                problems.append(
                    problem(
                        "E-SCHEMA",
                        "E-SCHEMA.calendar",
                        f"{CONTENT}/GeneralDeclaration/ArrivalOrDepartureTime",
                        doc_type,
                        field="ArrivalOrDepartureTime",
                        value=moment,
                    )
                )
        documents[doc_type] = DocumentInEffect(header=message.header, document=model)
    if problems:
        return None, problems
    general = in_effect.get("50")
    first = general if general is not None else in_effect[min(in_effect)]
    document_type = first.header.document_type or ""
    return Dossier(reference=reference, document_type=document_type, documents=documents), []


def _model_problems(exc: ValidationError, message: NswMessage) -> list[Problem]:
    # Only locations and pydantic's error type go into the text: input values may be personal data.
    problems = []
    base = f"{CONTENT}/{message.content.tag}"
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        steps: list[str] = []
        for part in error["loc"]:
            if isinstance(part, int) and steps:
                steps[-1] += f"[{part + 1}]"
            else:
                steps.append(str(part))
        path = "/".join((base, *steps))
        field = steps[-1] if steps else message.content.tag
        problems.append(
            problem("E-SCHEMA", "E-SCHEMA.model", path, message.header.type, field=field, error=error["type"])
        )
    return problems


def _named_path(tree: etree._Element, path: str) -> str | None:
    """libxml2's positional path (/*/*[12]/*[3]) in element names (/Submission/Persons/Person[12]/No)."""
    found = tree.getroottree().xpath(path)
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        return None
    element: etree._Element | None = found[0]
    steps: list[str] = []
    while element is not None:
        name = etree.QName(element).localname
        parent = element.getparent()
        if parent is not None:
            same = [child for child in parent if child.tag == element.tag]
            if len(same) > 1:
                name += f"[{same.index(element) + 1}]"
        steps.append(name)
        element = parent
    return "/" + "/".join(reversed(steps))


def _check_submission(submission: bytes, lineage: Lineage) -> list[Problem]:
    """submission.xsd's verdict, each error pointed back into the NSW document it came from."""
    validator = schema("submission")
    tree = etree.fromstring(submission, parser=thread_parser())
    if validator.validate(tree):
        return []
    problems = []
    for error in iter(validator.error_log):  # type: ignore[call-overload]
        path = _named_path(tree, error.path) if error.path else None
        located = lineage.locate(path) if path else None
        doc_type, xpath = located if located else (None, None)
        field = path.rsplit("/", 1)[-1] if path else "Submission"  # the portal's field, never its value
        problems.append(problem("E-SCHEMA", "E-SCHEMA.portal", xpath, doc_type, field=field))
    return problems
