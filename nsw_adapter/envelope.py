"""NSW envelopes: reading one from the NSW (with the E-ENVELOPE / E-SCHEMA split) and building ours.

`read_message` is what intake and translation call on every pushed message: it parses with
the hardened parser, validates against envelope.xsd, and checks what the schema cannot
(addressee, type/function pairs, the Content element). An unusable envelope raises
`EnvelopeError` (E-ENVELOPE problems); schema errors inside Body/Content leave the message
usable for storage and come back as E-SCHEMA problems.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lxml import etree

from nsw_adapter import string_part
from nsw_adapter.errors import EnvelopeError, Problem
from nsw_adapter.texts import problem, word
from nsw_adapter.texts.schema import schema_problem
from nsw_adapter.xml import MAX_BYTES, UntrustedXmlError, parse_untrusted, schema

VIETNAM = timezone(timedelta(hours=7), "ICT")
SEND_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

#: NSW `type` -> the Content element it carries.
CONTENT_ELEMENTS: dict[str, str] = {
    "50": "GeneralDeclaration",
    "51": "CrewLists",
    "52": "PassengerList",
    "64": "ArmsDeclaration",
    "65": "StowawayDeclaration",
}
NSW_FUNCTIONS = frozenset({"01", "02", "03"})
NEW, AMENDMENT, CANCELLATION = "01", "02", "03"
NSW_IDENTITY, BORDER_GUARD_IDENTITY = "NSW", "BQP"


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of an envelope's Header the adapter acts on (whitespace-collapsed)."""

    message_id: str
    from_identity: str
    to_identity: str
    document_type: str | None  # "1" arrival (entry), "2" departure (exit)
    type: str | None
    function: str
    reference: str | None
    pre_reference: str | None
    document_year: str | None
    send_date: datetime  # aware, Vietnam local time


@dataclass(frozen=True, slots=True)
class NswMessage:
    """A usable NSW message: its header, parsed tree, Content document and any E-SCHEMA problems."""

    header: Header
    root: etree._Element
    content: etree._Element
    problems: tuple[Problem, ...]
    raw: bytes


def collapse(text: str | None) -> str | None:
    """xs:token semantics: trim and fold runs of whitespace, as the schema judges values."""
    if text is None:
        return None
    return " ".join(text.split())


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path)
    return None if found is None else collapse(found.text)


#: SEND_DATE_FORMAT's digits (read directly: strptime costs four times as much, twice per push).
_SEND_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)


def parse_send_date(value: str) -> datetime:
    """`yyyy-MM-dd HH:mm:ss` in Vietnam local time, as an aware datetime (ValueError otherwise,
    a day or an hour out of range included)."""
    found = _SEND_DATE.fullmatch(value)
    if found is None:
        raise ValueError(f"not a yyyy-MM-dd HH:mm:ss time: {value!r}")
    year, month, day, hour, minute, second = (int(part) for part in found.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=VIETNAM)


def format_send_date(moment: datetime) -> str:
    """An aware datetime as the NSW's local `yyyy-MM-dd HH:mm:ss`."""
    return moment.astimezone(VIETNAM).strftime(SEND_DATE_FORMAT)


def _envelope_problem(key: str, xpath: str | None = None, **params: object) -> Problem:
    return problem("E-ENVELOPE", f"E-ENVELOPE.{key}", xpath, None, **params)


def schema_message(message: str) -> str:
    """A libxml2 validation message as a plain English sentence naming the field, without the
    offending value unless it is not personal data (texts/schema.py)."""
    return schema_problem("E-SCHEMA", message, None, None).text


def read_message(data: bytes | str, *, max_bytes: int = MAX_BYTES) -> NswMessage:
    """Read one message pushed by the NSW, or raise EnvelopeError listing every E-ENVELOPE problem.

    `data` is bytes read as their declaration says (a file, or `string_part.to_bytes` of a
    pushed string), or a pushed string itself (read as `string_part.to_bytes` makes it).
    """
    raw = string_part.to_bytes(data) if isinstance(data, str) else data
    try:
        root = parse_untrusted(raw, max_bytes=max_bytes)
    except UntrustedXmlError as exc:
        raise EnvelopeError([problem("E-ENVELOPE", exc.key, None, None, **dict(exc.params))]) from None
    if root.tag != "Envelope":
        raise EnvelopeError([_envelope_problem("root", value=etree.QName(root).localname)])

    envelope_problems: list[Problem] = []
    content_problems: list[Problem] = []
    validator = schema("envelope")
    if not validator.validate(root):
        for error in iter(validator.error_log):  # type: ignore[call-overload]
            path = error.path or None
            if path and path.startswith("/Envelope/Body/Content/"):
                document_type = _text(root, "Header/Subject/type")
                content_problems.append(schema_problem("E-SCHEMA", error.message, path, document_type))
            else:
                envelope_problems.append(schema_problem("E-ENVELOPE", error.message, path, None))
    if envelope_problems:
        raise EnvelopeError(envelope_problems)

    header = _read_header(root)
    content = _content(root)
    envelope_problems.extend(_check_addressing(header, content))
    if envelope_problems:
        raise EnvelopeError(envelope_problems)
    assert content is not None  # _check_addressing refuses a missing Content document
    return NswMessage(header, root, content, tuple(content_problems), raw)


def _header_texts(root: etree._Element) -> dict[str, str | None]:
    """Each `Section/field` text of the Header, the first of each name as `find` would give it,
    in one walk (ten path lookups cost four times as much, twice per push)."""
    texts: dict[str, str | None] = {}
    for header in root.iterchildren("Header"):
        for section in header.iterchildren(etree.Element):
            for field in section.iterchildren(etree.Element):
                texts.setdefault(f"{section.tag}/{field.tag}", collapse(field.text))
    return texts


def _read_header(root: etree._Element) -> Header:
    texts = _header_texts(root)
    send_date = texts.get("Subject/sendDate") or ""
    try:
        moment = parse_send_date(send_date)
    except ValueError:
        where = "/Envelope/Header/Subject/sendDate"
        raise EnvelopeError([_envelope_problem("send_date", where, value=send_date)]) from None
    return Header(
        message_id=texts.get("Reference/messageId") or "",
        from_identity=texts.get("From/identity") or "",
        to_identity=texts.get("To/identity") or "",
        document_type=texts.get("Subject/documentType"),
        type=texts.get("Subject/type"),
        function=texts.get("Subject/function") or "",
        reference=texts.get("Subject/reference"),
        pre_reference=texts.get("Subject/preReference"),
        document_year=texts.get("Subject/documentYear"),
        send_date=moment,
    )


def _content(root: etree._Element) -> etree._Element | None:
    content = root.find("Body/Content")
    if content is None or len(content) == 0:
        return None
    return content[0]


def _check_addressing(header: Header, content: etree._Element | None) -> list[Problem]:
    problems: list[Problem] = []
    subject = "/Envelope/Header/Subject"
    if header.from_identity != NSW_IDENTITY:
        problems.append(_envelope_problem("not_from_nsw", "/Envelope/Header/From/identity"))
    if header.to_identity != BORDER_GUARD_IDENTITY:
        problems.append(_envelope_problem("not_to_bqp", "/Envelope/Header/To/identity"))
    for field, value in (
        ("documentType", header.document_type),
        ("type", header.type),
        ("reference", header.reference),
    ):
        if value is None:
            problems.append(_envelope_problem("missing", f"{subject}/{field}", field=field))
    if header.document_type not in (None, "1", "2"):
        problems.append(
            _envelope_problem("document_type", f"{subject}/documentType", value=header.document_type)
        )
    if header.type is not None and header.type not in CONTENT_ELEMENTS:
        problems.append(_envelope_problem("type", f"{subject}/type", value=header.type))
    if header.function not in NSW_FUNCTIONS:
        problems.append(_envelope_problem("function", f"{subject}/function", value=header.function))
    if header.function == CANCELLATION and header.type not in (None, "50"):
        problems.append(_envelope_problem("cancellation_type", f"{subject}/type", value=header.type))
    if problems:
        return problems
    expected = "Cancellation" if header.function == CANCELLATION else CONTENT_ELEMENTS[header.type or ""]
    found = None if content is None else etree.QName(content).localname
    if found != expected:
        problems.append(
            _envelope_problem(
                "content",
                "/Envelope/Body/Content",
                found=found or word("nothing"),
                type=header.type,
                function=header.function,
                expected=expected,
            )
        )
    return problems


def called_for(general_declaration: etree._Element) -> frozenset[str]:
    """The document types a General Declaration calls for: always 50 and 51, then 52/64/65 as declared."""
    wanted = {"50", "51"}

    def number(tag: str) -> int:
        value = collapse(general_declaration.findtext(tag)) or "0"
        return int(value) if value.isdigit() else 0

    if number("NumberOfPassengers") > 0:
        wanted.add("52")
    if collapse(general_declaration.findtext("ArmsOnBoard")) == "1":
        wanted.add("64")
    if number("NumberOfStowaways") > 0:
        wanted.add("65")
    return frozenset(wanted)


# --- building the adapter's own envelopes -------------------------------------------------

_BORDER_GUARD_NAME = "Bộ Tư lệnh Bộ đội Biên phòng"
_NSW_NAME = "Cổng thông tin một cửa quốc gia"


def build_envelope(
    *,
    message_id: str,
    function: str,
    content: etree._Element,
    send_date: datetime,
    document_type: str | None = None,
    type: str | None = None,
    reference: str | None = None,
    pre_reference: str | None = None,
    document_year: str | None = None,
    unit_code: str | None = None,
) -> bytes:
    """An envelope from the Border Guard (BQP) to the NSW around one Content element.

    Used for the synchronous answers (99/22 with an Acknowledgement) and for Results (26).
    """
    envelope = etree.Element("Envelope")
    header = etree.SubElement(envelope, "Header")
    ref = etree.SubElement(header, "Reference")
    etree.SubElement(ref, "version").text = "1.0"
    etree.SubElement(ref, "messageId").text = message_id
    sender = etree.SubElement(header, "From")
    for tag, value in (
        ("name", _BORDER_GUARD_NAME),
        ("identity", BORDER_GUARD_IDENTITY),
        ("countryCode", "VN"),
        ("ministryCode", "BQP"),
        ("organizationCode", "BDBP"),
        ("unitCode", unit_code),
    ):
        if value is not None:
            etree.SubElement(sender, tag).text = value
    receiver = etree.SubElement(header, "To")
    etree.SubElement(receiver, "name").text = _NSW_NAME
    etree.SubElement(receiver, "identity").text = NSW_IDENTITY
    etree.SubElement(receiver, "countryCode").text = "VN"
    subject = etree.SubElement(header, "Subject")
    year = document_year or f"{send_date.astimezone(VIETNAM).year:04d}"
    for tag, value in (
        ("documentType", document_type),
        ("type", type),
        ("function", function),
        ("reference", reference),
        ("preReference", pre_reference),
        ("documentYear", year),
        ("sendDate", format_send_date(send_date)),
    ):
        if value is not None:
            etree.SubElement(subject, tag).text = value
    body = etree.SubElement(envelope, "Body")
    etree.SubElement(body, "Content").append(content)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def new_message_id() -> str:
    """A fresh messageId for a message the adapter sends: `BQP` and 32 hex digits (unique, fits 1..50)."""
    return f"BQP{uuid.uuid4().hex.upper()}"
