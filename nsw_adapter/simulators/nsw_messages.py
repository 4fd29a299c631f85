"""The NSW simulator's envelopes: reading its own dossier documents, making amendments and cancellations,
answering the adapter's Results (Acknowledgement 99 / 22 with Reject items), and judging those Results.

A Result from the adapter is judged by the contract (envelope.xsd, README, NOTES), not by the
adapter's code: From BQP, To NSW, type 26, function 21/22/23/24 with a matching ApprovalStatus,
Content Result, a dossier this NSW pushed, documentType of that dossier, preReference naming
the dossier's General Declaration (its cancellation for 24), a ReceiptNumber with 21 and 23,
and a ClearanceNumber with 23.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from nsw_adapter.envelope import VIETNAM, collapse, format_send_date, parse_send_date, schema_message
from nsw_adapter.xml import UntrustedXmlError, parse_untrusted, schema

NSW_NAME = "Cổng thông tin một cửa quốc gia"
BQP_NAME = "Bộ Tư lệnh Bộ đội Biên phòng"
APPROVAL_FOR_FUNCTION = {"21": "2", "23": "1", "22": "0", "24": "3", "25": "4"}
_serial = itertools.count(1)
_serial_lock = threading.Lock()


def new_nsw_message_id(now: datetime | None = None) -> str:
    """A fresh NSW messageId: NSW, the local time to the second and a 5-digit serial (22 characters)."""
    moment = (now or datetime.now(VIETNAM)).astimezone(VIETNAM)
    with _serial_lock:
        serial = next(_serial) % 100000
    return f"NSW{moment.strftime('%Y%m%d%H%M%S')}{serial:05d}"


@dataclass(frozen=True, slots=True)
class Document:
    """One NSW message of a dossier, as the simulator pushes it."""

    name: str
    data: bytes
    message_id: str
    reference: str
    document_type: str
    type: str
    function: str
    send_date: datetime

    @classmethod
    def read(cls, name: str, data: bytes) -> Document:
        """Read the header of one envelope file (raises ValueError when it is not a usable NSW message)."""
        try:
            root = parse_untrusted(data)
        except UntrustedXmlError as exc:
            raise ValueError(f"{name}: {exc}") from None

        def field(path: str) -> str:
            value = collapse(root.findtext(f"Header/{path}"))
            if not value:
                raise ValueError(f"{name}: Header/{path} is missing")
            return value

        return cls(
            name=name,
            data=data,
            message_id=field("Reference/messageId"),
            reference=field("Subject/reference"),
            document_type=field("Subject/documentType"),
            type=field("Subject/type"),
            function=field("Subject/function"),
            send_date=parse_send_date(field("Subject/sendDate")),
        )


def _set_subject(root: etree._Element, name: str, value: str) -> None:
    """Set (or insert, in schema order) one Subject field."""
    order = ("documentType", "type", "function", "reference", "preReference", "documentYear", "sendDate")
    subject = root.find("Header/Subject")
    assert subject is not None
    element = subject.find(name)
    if element is None:
        element = etree.Element(name)
        position = order.index(name)
        later = [child for child in subject if child.tag in order[position + 1 :]]
        if later:
            later[0].addprevious(element)
        else:
            subject.append(element)
    element.text = value


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def make_amendment(replaced: Document, *, send_date: datetime) -> Document:
    """Function 02: the same document again, new messageId, later sendDate, preReference the replaced one."""
    root = parse_untrusted(replaced.data)
    message_id = new_nsw_message_id(send_date)
    reference = root.find("Header/Reference/messageId")
    assert reference is not None
    reference.text = message_id
    _set_subject(root, "function", "02")
    _set_subject(root, "preReference", replaced.message_id)
    _set_subject(root, "sendDate", format_send_date(send_date))
    name = replaced.name.rsplit(".", 1)[0] + f"-amendment-{message_id[-5:]}.xml"
    return Document.read(name, _serialise(root))


def make_cancellation(general_declaration: Document, *, send_date: datetime, reason: str) -> Document:
    """Type 50 function 03: Content Cancellation/Reason, preReference the General Declaration."""
    root = parse_untrusted(general_declaration.data)
    message_id = new_nsw_message_id(send_date)
    reference = root.find("Header/Reference/messageId")
    assert reference is not None
    reference.text = message_id
    _set_subject(root, "type", "50")
    _set_subject(root, "function", "03")
    _set_subject(root, "preReference", general_declaration.message_id)
    _set_subject(root, "sendDate", format_send_date(send_date))
    content = root.find("Body/Content")
    assert content is not None
    for child in list(content):
        content.remove(child)
    etree.SubElement(etree.SubElement(content, "Cancellation"), "Reason").text = reason
    return Document.read(f"50-cancellation-{message_id[-5:]}.xml", _serialise(root))


def rebrand(document: Document, *, reference: str, message_id: str, send_date: datetime) -> Document:
    """A copy of a document under another dossier number, messageId and sendDate (for cloned samples)."""
    root = parse_untrusted(document.data)
    element = root.find("Header/Reference/messageId")
    assert element is not None
    element.text = message_id
    _set_subject(root, "reference", reference)
    _set_subject(root, "sendDate", format_send_date(send_date))
    _set_subject(root, "documentYear", f"{send_date.astimezone(VIETNAM).year:04d}")
    return Document.read(document.name, _serialise(root))


# --- answers to the adapter -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultInfo:
    """What the gateway learnt from a Result it could read."""

    message_id: str
    reference: str | None
    function: str | None
    document_type: str | None
    receipt: str | None
    unit_code: str | None


def answer_envelope(
    *,
    function: str,
    answered: ResultInfo | None,
    rejects: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> bytes:
    """The NSW's synchronous answer (From NSW, To BQP): 99, or 22 with Reject items (Code, Reason)."""
    moment = (now or datetime.now(VIETNAM)).astimezone(VIETNAM)
    envelope = etree.Element("Envelope")
    header = etree.SubElement(envelope, "Header")
    reference = etree.SubElement(header, "Reference")
    etree.SubElement(reference, "version").text = "1.0"
    etree.SubElement(reference, "messageId").text = new_nsw_message_id(moment)
    sender = etree.SubElement(header, "From")
    etree.SubElement(sender, "name").text = NSW_NAME
    etree.SubElement(sender, "identity").text = "NSW"
    etree.SubElement(sender, "countryCode").text = "VN"
    receiver = etree.SubElement(header, "To")
    for tag, value in (
        ("name", BQP_NAME),
        ("identity", "BQP"),
        ("countryCode", "VN"),
        ("ministryCode", "BQP"),
        ("organizationCode", "BDBP"),
        ("unitCode", answered.unit_code if answered else None),
    ):
        if value:
            etree.SubElement(receiver, tag).text = value
    subject = etree.SubElement(header, "Subject")
    readable = answered is not None and answered.reference is not None
    for tag, value in (
        ("documentType", answered.document_type if readable and answered else None),
        ("type", "26" if readable else None),
        ("function", function),
        ("reference", answered.reference if answered else None),
        ("preReference", answered.message_id if answered else None),
        ("documentYear", f"{moment.year:04d}"),
        ("sendDate", format_send_date(moment)),
    ):
        if value:
            etree.SubElement(subject, tag).text = value
    acknowledgement = etree.SubElement(
        etree.SubElement(etree.SubElement(envelope, "Body"), "Content"), "Acknowledgement"
    )
    etree.SubElement(acknowledgement, "ReceivedDate").text = format_send_date(moment)
    for code, reason in rejects:
        item = etree.SubElement(acknowledgement, "Reject")
        etree.SubElement(item, "Code").text = code
        etree.SubElement(item, "Reason").text = reason[:1000]
    return _serialise(envelope)


def read_result(text: str) -> tuple[etree._Element | None, ResultInfo | None, list[tuple[str, str]]]:
    """Parse and schema-check a Result envelope: its tree, header facts and R-ENVELOPE / R-SCHEMA rejects."""
    try:
        root = parse_untrusted(text)
    except UntrustedXmlError as exc:
        return None, None, [("R-ENVELOPE", f"The message cannot be read: {exc}.")]
    if root.tag != "Envelope":
        return None, None, [("R-ENVELOPE", "The message is not an NSW Envelope.")]

    def value(path: str) -> str | None:
        return collapse(root.findtext(path))

    info = ResultInfo(
        message_id=value("Header/Reference/messageId") or "",
        reference=value("Header/Subject/reference"),
        function=value("Header/Subject/function"),
        document_type=value("Header/Subject/documentType"),
        receipt=value("Body/Content/Result/ReceiptNumber"),
        unit_code=value("Header/From/unitCode"),
    )
    validator = schema("envelope")
    if not validator.validate(root):
        errors = [
            f"{error.path}: {schema_message(error.message)}"
            for error in list(iter(validator.error_log))[:5]  # type: ignore[call-overload]
        ]
        return root, info if info.message_id else None, [("R-SCHEMA", "; ".join(errors))]
    return root, info, []


def judge_contract(
    root: etree._Element,
    info: ResultInfo,
    *,
    dossier_document_type: str | None,
    general_declarations: Set[str],
    cancellations: Set[str],
    others: Set[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Every contract rule a schema-valid Result breaks (dossier_document_type None: unknown dossier).

    preReference must name the dossier's General Declaration (its cancellation for 24); a 22 for
    a dossier without one may name any of its messages (`others`).
    """
    rejects: list[tuple[str, str]] = []

    def value(path: str) -> str | None:
        return collapse(root.findtext(path))

    if value("Header/From/identity") != "BQP" or value("Header/To/identity") != "NSW":
        rejects.append(("R-ADDRESS", "A Result must come From BQP and go To NSW."))
    if value("Header/Subject/type") != "26" or root.find("Body/Content/Result") is None:
        rejects.append(("R-TYPE", "A Result must have type 26 and Content Result."))
    function = info.function or ""
    if function not in APPROVAL_FOR_FUNCTION:
        rejects.append(("R-FUNCTION", f"Function {function} is not 21, 22, 23, 24 or 25."))
    elif value("Body/Content/Result/ApprovalStatus") != APPROVAL_FOR_FUNCTION[function]:
        rejects.append(
            ("R-STATUS", f"Function {function} needs ApprovalStatus {APPROVAL_FOR_FUNCTION[function]}.")
        )
    if dossier_document_type is None:
        rejects.append(("R-UNKNOWN-DOSSIER", f"Dossier {info.reference} was never sent to this agency."))
        return rejects
    if info.document_type != dossier_document_type:
        rejects.append(("R-MISMATCH", f"documentType must be the dossier's ({dossier_document_type})."))
    pre_reference = value("Header/Subject/preReference")
    wanted = cancellations if function == "24" else general_declarations
    if not wanted and function == "22":
        wanted = others  # e.g. E-UNKNOWN-DOSSIER: no General Declaration ever came to point at
    if pre_reference not in wanted:
        what = "its cancellation" if function == "24" else "its General Declaration"
        rejects.append(("R-PREREFERENCE", f"preReference must name the dossier's {what}."))
    if function in ("21", "23", "25") and not info.receipt:
        rejects.append(("R-CONTENT", f"A function {function} Result needs the portal's ReceiptNumber."))
    if function == "23" and not value("Body/Content/Result/ClearanceNumber"):
        rejects.append(("R-CONTENT", "A function 23 Result needs a ClearanceNumber."))
    has_request = bool(value("Body/Content/Result/RequestNumber") and value("Body/Content/Result/RespondBy"))
    if function == "25" and not has_request:
        rejects.append(("R-CONTENT", "A function 25 Result needs a RequestNumber and RespondBy."))
    if function != "25" and has_request:
        rejects.append(("R-CONTENT", "Only a function 25 Result carries RequestNumber and RespondBy."))
    return rejects


def later_than(moments: list[datetime], *, gap: timedelta = timedelta(seconds=60)) -> datetime:
    """A sendDate after all of `moments` and not before now (amendments and cancellations come later)."""
    now = datetime.now(VIETNAM).replace(microsecond=0)
    latest = max(moments, default=now) + gap
    return max(latest, now)
