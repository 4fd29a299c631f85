"""The Border Guard's answers as NSW Result envelopes (type 26).

21 accepted (ApprovalStatus 2), 23 cleared (1, ClearanceNumber, ShorePass), 22 rejected
(0, Error items pointing into the agent's NSW documents), 24 cancellation confirmed (3) and 25
supplement requested (4, RequestNumber, RespondBy, the officer's items as Error items).
Each Result gets its own messageId here, once: the outbox keeps it, so a resend after a crash
is the same message and the NSW answers it as a duplicate.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from lxml import etree

from nsw_adapter.clients.portal import PortalState, Reason, Receipt, Status
from nsw_adapter.envelope import VIETNAM, build_envelope, collapse, new_message_id
from nsw_adapter.errors import Problem, listed
from nsw_adapter.resources import mapping_path
from nsw_adapter.store import OutgoingMessage, RejectionFactory
from nsw_adapter.texts import DEFAULT_LANGUAGE, Language, render

RESULT_TYPE = "26"
ACCEPTED, REJECTED, COMPLETED, CANCELLED, SUPPLEMENT = "21", "22", "23", "24", "25"
_APPROVAL = {ACCEPTED: "2", REJECTED: "0", COMPLETED: "1", CANCELLED: "3", SUPPLEMENT: "4"}
#: The portal's own rejection of a supplement request not answered by RespondBy.
SUPPLEMENT_EXPIRED = "BG-SUPP-EXPIRED"
_LOCAL_TIME = "%Y-%m-%d %H:%M:%S"
_STATION = re.compile(r"^(CKC[A-Z]{3})-")
_MAX_TEXT = 1000
CANCELLED_COMMENT = "Withdrawn at the agent's request."

#: Portal XPath (prefix bgp) -> (NSW `type`, XPath in that NSW document), or None when unknown.
Locate = Callable[[str], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class ResultContext:
    """Which dossier a Result answers: its Subject fields and the border gate station."""

    reference: str
    document_type: str
    pre_reference: str | None  # the General Declaration's messageId (the cancellation's for 24)
    station: str | None = None  # Division / unitCode: the border gate station code


def local_time(moment: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Vietnam local time."""
    return moment.astimezone(VIETNAM).strftime(_LOCAL_TIME)


def station_of_receipt(receipt_number: str) -> str | None:
    """The station code a portal number starts with (`CKCHPG-2026-004517` -> CKCHPG)."""
    found = _STATION.match(receipt_number)
    return found.group(1) if found else None


@cache
def _stations() -> dict[str, str]:
    with mapping_path("codelists", "border-gates.csv").open(encoding="utf-8", newline="") as handle:
        return {row["locode"]: row["station_code"] for row in csv.DictReader(handle)}


def station_of_port(locode: str | None) -> str | None:
    """The station code of a border gate port (UN/LOCODE), or None when it is not one."""
    return None if locode is None else _stations().get(locode.strip().upper())


def station_of_documents(documents: Sequence[bytes]) -> str | None:
    """The station of a dossier, read from its General Declaration's PortOfCallCode (best effort)."""
    from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

    for raw in documents:
        if b"<GeneralDeclaration" not in raw:
            continue
        try:
            root = parse_untrusted(raw)
        except UntrustedXmlError:
            return None
        return station_of_port(collapse(root.findtext("Body/Content/GeneralDeclaration/PortOfCallCode")))
    return None


def _text(value: str) -> str:
    collapsed = " ".join(value.split())
    return collapsed[:_MAX_TEXT] if collapsed else "-"


def _result(
    context: ResultContext,
    function: str,
    *,
    approval_date: datetime,
    receipt_number: str | None,
    fill: Callable[[etree._Element], None] | None = None,
    now: datetime | None = None,
) -> OutgoingMessage:
    station = context.station or (station_of_receipt(receipt_number) if receipt_number else None)
    result = etree.Element("Result")
    if receipt_number:
        etree.SubElement(result, "ReceiptNumber").text = receipt_number
    etree.SubElement(result, "ApprovalStatus").text = _APPROVAL[function]
    etree.SubElement(result, "ApprovalDate").text = local_time(approval_date)
    etree.SubElement(result, "Organization").text = "BDBP"
    if station:
        etree.SubElement(result, "Division").text = station
    if fill is not None:
        fill(result)
    message_id = new_message_id()
    payload = build_envelope(
        message_id=message_id,
        function=function,
        content=result,
        send_date=now or datetime.now(UTC),
        document_type=context.document_type,
        type=RESULT_TYPE,
        reference=context.reference,
        pre_reference=context.pre_reference,
        unit_code=station,
    )
    return OutgoingMessage(message_id=message_id, function=function, payload=payload)


def _errors(result: etree._Element, problems: Sequence[Problem], language: Language) -> None:
    for problem in listed(problems):
        error = etree.SubElement(result, "Error")
        etree.SubElement(error, "Code").text = problem.code
        etree.SubElement(error, "Description").text = _text(render(problem, language))
        if problem.xpath:
            etree.SubElement(error, "Field").text = problem.xpath
        if problem.document_type:
            etree.SubElement(error, "DocumentType").text = problem.document_type


def accepted(context: ResultContext, receipt: Receipt, *, now: datetime | None = None) -> OutgoingMessage:
    """21: the portal issued a receipt (ApprovalDate = when the portal recorded it)."""
    return _result(
        context, ACCEPTED, approval_date=receipt.received_at, receipt_number=receipt.number, now=now
    )


def cancelled(
    context: ResultContext, receipt_number: str | None, at: datetime, *, now: datetime | None = None
) -> OutgoingMessage:
    """24: the cancellation took effect at the portal."""

    def fill(result: etree._Element) -> None:
        etree.SubElement(result, "Comment").text = CANCELLED_COMMENT

    return _result(context, CANCELLED, approval_date=at, receipt_number=receipt_number, fill=fill, now=now)


def rejected_locally(
    context: ResultContext,
    problems: Sequence[Problem],
    *,
    language: Language = DEFAULT_LANGUAGE,
    now: datetime | None = None,
) -> OutgoingMessage:
    """22 from the adapter itself: every problem, pointing into the agent's documents, its text in
    `language` (the agents'); no receipt."""
    moment = now or datetime.now(UTC)
    return _result(
        context,
        REJECTED,
        approval_date=moment,
        receipt_number=None,
        fill=lambda result: _errors(result, problems, language),
        now=moment,
    )


def portal_problems(status: Status, locate: Locate | None) -> list[Problem]:
    """The portal's reasons as Problems whose Field points into the NSW documents (or nowhere)."""
    return _located(status.reasons, locate)


def _located(reasons: Sequence[Reason], locate: Locate | None) -> list[Problem]:
    """Reasons (or a request's items) as Problems: code and officer's text unchanged, the
    submission XPath mapped to the NSW document through the lineage; none when it has none."""
    problems: list[Problem] = []
    for reason in reasons:
        where = locate(reason.field) if (locate is not None and reason.field) else None
        xpath, document_type = (where[1], where[0]) if where else (None, None)
        problems.append(Problem(reason.code, reason.text, xpath, document_type))
    return problems


def decided(
    context: ResultContext,
    status: Status,
    locate: Locate | None = None,
    *,
    language: Language = DEFAULT_LANGUAGE,
    now: datetime | None = None,
) -> OutgoingMessage | None:
    """23 / 22 / 24 for a final portal state; None for PENDING and SUPERSEDED (nothing to tell)."""
    at = status.decided_at or now or datetime.now(UTC)
    if status.state is PortalState.CLEARED:

        def fill(result: etree._Element) -> None:
            if status.officer:
                etree.SubElement(result, "Name").text = _text(status.officer)[:100]
            if status.clearance_number:
                etree.SubElement(result, "ClearanceNumber").text = status.clearance_number
            for item in status.shore_passes:
                # The NSW keys passes by CrewCode or PassengerCode only; a stowaway gets none.
                key = {"TV": "CrewCode", "HK": "PassengerCode"}.get(item.category)
                if key is None:
                    continue
                element = etree.SubElement(result, "ShorePass")
                etree.SubElement(element, key).text = str(item.person_no)
                etree.SubElement(element, "PassNumber").text = item.pass_number
                etree.SubElement(element, "ValidFrom").text = local_time(item.valid_from)
                etree.SubElement(element, "ValidTo").text = local_time(item.valid_to)

        return _result(
            context, COMPLETED, approval_date=at, receipt_number=status.receipt_number, fill=fill, now=now
        )
    if status.state is PortalState.REJECTED:
        problems = portal_problems(status, locate)

        def fill_rejection(result: etree._Element) -> None:
            if status.officer:
                etree.SubElement(result, "Name").text = _text(status.officer)[:100]
            _errors(result, problems, language)  # the officers' words as they are; a count in `language`

        return _result(
            context,
            REJECTED,
            approval_date=at,
            receipt_number=status.receipt_number,
            fill=fill_rejection,
            now=now,
        )
    if status.state is PortalState.CANCELLED:
        return cancelled(context, status.receipt_number, at, now=now)
    return None


def supplement_requested(
    context: ResultContext,
    status: Status,
    locate: Locate | None = None,
    *,
    language: Language = DEFAULT_LANGUAGE,
    now: datetime | None = None,
) -> OutgoingMessage:
    """25 for a SUPPLEMENT_REQUESTED status: ApprovalDate the request's RequestedAt, Name the
    officer, RequestNumber and RespondBy, the items as Error items as a rejection's reasons."""
    request = status.supplement
    if status.state is not PortalState.SUPPLEMENT_REQUESTED or request is None:
        raise ValueError("a 25 needs a SUPPLEMENT_REQUESTED status with its SupplementRequest")
    problems = _located(request.items, locate)

    def fill(result: etree._Element) -> None:
        if request.officer:
            etree.SubElement(result, "Name").text = _text(request.officer)[:100]
        etree.SubElement(result, "RequestNumber").text = request.request_number
        etree.SubElement(result, "RespondBy").text = local_time(request.respond_by)
        _errors(result, problems, language)

    return _result(
        context,
        SUPPLEMENT,
        approval_date=request.requested_at,
        receipt_number=status.receipt_number,
        fill=fill,
        now=now,
    )


def is_supplement_expiry(status: Status) -> bool:
    """A REJECTED status that is the portal's own BG-SUPP-EXPIRED (a request gone unanswered)."""
    return status.state is PortalState.REJECTED and any(r.code == SUPPLEMENT_EXPIRED for r in status.reasons)


def rejection_factory(
    reference: str,
    document_type: str,
    pre_reference: str | None,
    problems: Sequence[Problem],
) -> OutgoingMessage:
    """The store's RejectionFactory: a 22 for a dossier rejected at its deadline (E-INCOMPLETE)."""
    return rejected_locally(ResultContext(reference, document_type, pre_reference), problems)


def rejection_factory_in(language: Language) -> RejectionFactory:
    """The store's RejectionFactory writing its texts in `language`."""

    def reject(
        reference: str, document_type: str, pre_reference: str | None, problems: Sequence[Problem]
    ) -> OutgoingMessage:
        context = ResultContext(reference, document_type, pre_reference)
        return rejected_locally(context, problems, language=language)

    return reject
