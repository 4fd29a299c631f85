"""receiveMessage as Java and .NET SOAP stacks push it, over raw HTTP, end to end to the portal.

zeep is the only SOAP stack the rest of the suite pushes with, and it writes one shape of
request. Real NSW deployments and agency tools send others: `Expect: 100-continue` (.NET's
HttpWebRequest by default), chunked bodies (Java's HttpURLConnection streaming), a UTF-8 BOM
before the envelope, SOAPAction quoted, unquoted, empty or missing, and, inside the
`requestMessage` string, XML declarations naming encodings that mean nothing for a string
(.NET's StringWriter writes `utf-16`, Java's LSSerializer `UTF-16`, older Java `ISO-8859-1`,
Vietnamese Windows software `windows-1258`). Each push here is answered 99, and the crew's
names reach the portal simulator exactly as typed (NameAsDeclared) and folded as NOTES says
(FullName), never garbled and never refused after the 99 (issue 17).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.namespaces import AGENCY_NS
from nsw_adapter.simulators.portal_rules import BGP
from nsw_adapter.soap import SOAP_ENV, username_token_header
from nsw_adapter.store import DossierState
from tests.support import raw_http
from tests.support.e2e import Run, running, sent_at
from tests.support.intake_client import answer_of

SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
ACTION = "urn:vn:nsw:agency:1/receiveMessage"
USER, PASSWORD = "demo", "demo"  # what the stack's intake and both simulators accept by default

# (FamilyName, GivenName, the FullName NOTES' rule gives): Vietnamese first (the master), then
# other Latin diacritics; every one outside Latin-1, windows-1252 or US-ASCII somewhere.
NAMES: tuple[tuple[str, str, str], ...] = (
    ("Phạm", "Minh Tuấn", "PHAM MINH TUAN"),
    ("Đặng", "Thị Thu Hà", "DANG THI THU HA"),
    ("Nguyễn", "Văn Đức", "NGUYEN VAN DUC"),
    ("Hồ", "Xuân Hương", "HO XUAN HUONG"),
    ("Lê", "Thị Bưởi", "LE THI BUOI"),
    ("Ó Súilleabháin", "Siobhán", "O SUILLEABHAIN SIOBHAN"),
    ("Ibañez", "José María", "IBANEZ JOSE MARIA"),
    ("Løvås", "Bjørn", "LOVAS BJORN"),
    ("Weiß", "Klaus-Dieter", "WEISS KLAUS DIETER"),
)


def named_dossier(index: int) -> tuple[str, list[bytes]]:
    """A generated arrival dossier (reference, envelopes) whose crew carry NAMES, master first."""
    reference = f"HPH-2026-17{index:04d}"
    files = generate_dossier(
        crew=len(NAMES), seed=1700 + index, reference=reference, sent_at=sent_at(1700 + index)
    )
    envelopes: list[bytes] = []
    for _name, data in files:
        root = etree.fromstring(data)
        for member, (family, given, _full) in zip(root.iter("CrewList"), NAMES, strict=False):
            member.find("FamilyName").text = family  # type: ignore[union-attr]
            member.find("GivenName").text = given  # type: ignore[union-attr]
        for master in root.iter("NameOfMaster"):
            master.text = f"{NAMES[0][0]} {NAMES[0][1]}"
        envelopes.append(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return reference, envelopes


# --- the requestMessage string, as each client writes it -----------------------------------


def _without_declaration(envelope: bytes) -> str:
    text = envelope.decode("utf-8")
    return text.split("?>", 1)[1].lstrip() if text.startswith("<?xml") else text


def declared(encoding: str, extra: str = "") -> Callable[[bytes], str]:
    """The envelope as a string behind a declaration naming `encoding` (meaningless in a string)."""
    return lambda envelope: (
        f'<?xml version="1.0" encoding="{encoding}"{extra}?>\n' + _without_declaration(envelope)
    )


def undeclared(envelope: bytes) -> str:
    """The envelope as a string with no XML declaration."""
    return _without_declaration(envelope)


def bom_first(envelope: bytes) -> str:
    """A U+FEFF character before the declaration: a file's BOM kept when it was read into a string."""
    return "\ufeff" + envelope.decode("utf-8")


def as_typed(envelope: bytes) -> str:
    """The envelope as a string with its own UTF-8 declaration."""
    return envelope.decode("utf-8")


# --- the SOAP request and its HTTP transport ------------------------------------------------


@dataclass(frozen=True)
class Client:
    """How one SOAP stack writes the request: envelope prefixes, headers, body framing."""

    name: str
    style: str = "java"  # "java": S: prefix, ns2:-qualified parts; "dotnet": s: prefix, default namespace
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/xml; charset=utf-8"),)
    chunk_size: int | None = None
    expect_continue: bool = False
    bom: bool = False  # a UTF-8 BOM before the SOAP envelope
    cdata: bool = False  # the string part inside CDATA rather than escaped
    extra: dict[str, str] = field(default_factory=dict)


def soap_request(client: Client, message: str) -> bytes:
    """The receiveMessage request `client` would write around `message`, with a fresh digest token."""
    security = etree.tostring(username_token_header(USER, PASSWORD)).decode()
    part = f"<![CDATA[{message}]]>" if client.cdata else escape(message)
    if client.style == "dotnet":
        text = (
            f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_ENV}"><s:Header>{security}'
            '</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            f'<receiveMessage xmlns="{AGENCY_NS}"><requestMessage>{part}</requestMessage></receiveMessage>'
            "</s:Body></s:Envelope>"
        )
    else:
        text = (
            f"<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S=\"{SOAP_ENV}\"><S:Header>{security}"
            f'</S:Header><S:Body><ns2:receiveMessage xmlns:ns2="{AGENCY_NS}"><ns2:requestMessage>{part}'
            "</ns2:requestMessage></ns2:receiveMessage></S:Body></S:Envelope>"
        )
    return (b"\xef\xbb\xbf" if client.bom else b"") + text.encode("utf-8")


DOTNET = Client(  # HttpWebRequest / WCF BasicHttpBinding: Expect 100-continue, quoted action
    "dotnet",
    style="dotnet",
    headers=(("Content-Type", "text/xml; charset=utf-8"), ("SOAPAction", f'"{ACTION}"')),
    expect_continue=True,
)
JAVA = Client(  # JAX-WS over HttpURLConnection in streaming mode: chunked, quoted action
    "java",
    headers=(
        ("Content-Type", 'text/xml;charset="utf-8"'),
        ("SOAPAction", f'"{ACTION}"'),
        ("Accept", "text/xml, multipart/related"),
        ("User-Agent", "JAX-WS RI 2.3.1"),
    ),
    chunk_size=777,  # odd: chunk boundaries fall inside multi-byte characters
)
TEXT_XML = ("Content-Type", "text/xml; charset=utf-8")


@dataclass(frozen=True)
class Case:
    """One push: how the string part is written, and which client sends it."""

    id: str
    string: Callable[[bytes], str]
    client: Client


STRING_CASES = [
    Case("UTF-16", declared("UTF-16"), JAVA),  # LSSerializer.writeToString
    Case("utf-16", declared("utf-16"), DOTNET),  # StringWriter + XmlWriter
    Case("UTF-16LE", declared("UTF-16LE"), JAVA),
    Case("ISO-8859-1", declared("ISO-8859-1", ' standalone="no"'), JAVA),  # Transformer, older Java
    Case("windows-1252", declared("windows-1252"), DOTNET),
    Case("windows-1258", declared("windows-1258"), DOTNET),  # Vietnamese Windows software
    Case("US-ASCII", declared("US-ASCII"), JAVA),
    Case("x-foo", declared("x-foo"), DOTNET),
    Case("none", undeclared, JAVA),
    Case("BOM-character", bom_first, DOTNET),
    Case("CDATA", as_typed, Client("java-cdata", cdata=True, headers=JAVA.headers)),
]
TRANSPORT_CASES = [
    Case("expect-100-continue", as_typed, Client("expect", headers=(TEXT_XML,), expect_continue=True)),
    Case("chunked", as_typed, Client("chunked", headers=(TEXT_XML,), chunk_size=513)),
    Case(
        "expect-and-chunked",
        as_typed,
        Client("both", headers=JAVA.headers, chunk_size=4096, expect_continue=True),
    ),
    Case(
        "utf8-bom-before-envelope", as_typed, Client("bom", style="dotnet", headers=DOTNET.headers, bom=True)
    ),
    Case("soapaction-quoted", as_typed, Client("quoted", headers=(TEXT_XML, ("SOAPAction", f'"{ACTION}"')))),
    Case("soapaction-unquoted", as_typed, Client("unquoted", headers=(TEXT_XML, ("SOAPAction", ACTION)))),
    Case(
        "soapaction-empty", as_typed, Client("empty", headers=(TEXT_XML, ("SOAPAction", '""')))
    ),  # Axis, CXF
    Case("soapaction-missing", as_typed, Client("missing", headers=(TEXT_XML,))),
]


# --- the running adapter, and what the portal received ----------------------------------------


@dataclass
class Interop:
    """The simulators and the adapter, and each submission's (NameAsDeclared, FullName) by reference."""

    run: Run
    names: dict[str, list[tuple[str | None, str | None]]]


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    store_url = f"sqlite:///{tmp_path_factory.mktemp('interop')}/adapter.db"
    names: dict[str, list[tuple[str | None, str | None]]] = {}
    lock = threading.Lock()
    with running(store_url, decision_delay=0.2) as run:
        service = run.portal.service
        submit = service.submit

        def recording(payload: etree._Element) -> etree._Element:
            """The portal's SubmitDeclaration, noting each Person's names as they arrived."""
            submission = payload[0]
            persons = [
                (person.findtext(f"{{{BGP}}}NameAsDeclared"), person.findtext(f"{{{BGP}}}FullName"))
                for person in submission.iter(f"{{{BGP}}}Person")
            ]
            with lock:
                names[submission.findtext(f"{{{BGP}}}ClientReference") or ""] = persons
            return submit(payload)

        service.submit = recording  # type: ignore[method-assign]
        yield Interop(run, names)


def submitted_names(
    interop: Interop, reference: str, timeout: float = 30.0
) -> list[tuple[str | None, str | None]]:
    """The names the portal received for `reference`; fails when the adapter refuses the dossier."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reference in interop.names:
            return interop.names[reference]
        view = interop.run.stack.store.describe(reference, "1")
        if view is not None and view.state in (DossierState.REJECTED_LOCALLY, DossierState.DEAD):
            pytest.fail(f"{reference} was answered 99 and then ended {view.state.value}")
        time.sleep(0.05)
    pytest.fail(f"{reference} never reached the portal")


def push(interop: Interop, case: Case, index: int) -> str:
    """Push a NAMES dossier as `case` writes it; each document must be answered 99. Its reference."""
    reference, envelopes = named_dossier(index)
    for envelope in envelopes:
        reply = raw_http.post(
            interop.run.stack.intake_url,
            soap_request(case.client, case.string(envelope)),
            case.client.headers,
            chunk_size=case.client.chunk_size,
            expect_continue=case.client.expect_continue,
        )
        assert reply.status == 200, reply.body[:500]
        assert reply.continued == case.client.expect_continue
        answer = answer_of(reply.body)
        assert answer.findtext("Header/Subject/function") == "99", answer.findtext(".//Error/Description")
        assert answer.findtext("Header/Subject/reference") == reference
    return reference


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", STRING_CASES + TRANSPORT_CASES, ids=lambda c: c.id)
def test_a_push_as_a_java_or_dotnet_client_writes_it_is_answered_99_and_its_names_arrive_as_typed(
    interop: Interop, case: Case
) -> None:
    """Each document is answered 99; the portal gets every crew name as typed, and folded by NOTES' rule."""
    index = (STRING_CASES + TRANSPORT_CASES).index(case)
    reference = push(interop, case, index)
    expected = [(f"{family} {given}", full) for family, given, full in NAMES]
    assert submitted_names(interop, reference) == expected


# --- SOAP 1.2 ---------------------------------------------------------------------------------


def soap12_request() -> bytes:
    """A SOAP 1.2 receiveMessage request (what a client configured for SOAP 1.2 sends)."""
    security = etree.tostring(username_token_header(USER, PASSWORD)).decode()
    return (
        f'<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="{SOAP12_ENV}">'
        f"<env:Header>{security}</env:Header><env:Body>"
        f'<receiveMessage xmlns="{AGENCY_NS}"><requestMessage>&lt;Envelope/&gt;</requestMessage>'
        "</receiveMessage>"
        "</env:Body></env:Envelope>"
    ).encode()


@pytest.mark.parametrize("server", ["intake", "portal", "nsw"])
def test_a_soap_1_2_request_is_answered_with_a_version_mismatch_fault_naming_soap_1_1(
    interop: Interop, server: str
) -> None:
    """A SOAP 1.2 envelope gets HTTP 500, a SOAP 1.1 VersionMismatch fault, an Upgrade header naming 1.1."""
    url = {
        "intake": interop.run.stack.intake_url,
        "portal": interop.run.portal.url,
        "nsw": interop.run.nsw.url,
    }[server]
    content_type = f'application/soap+xml; charset=utf-8; action="{ACTION}"'
    reply = raw_http.post(url, soap12_request(), [("Content-Type", content_type)])
    assert reply.status == 500
    root = etree.fromstring(reply.body)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    code = fault.find("faultcode")
    assert code is not None
    assert code.text is not None
    prefix, _, local = code.text.partition(":")
    assert (code.nsmap.get(prefix), local) == (SOAP_ENV, "VersionMismatch")
    supported = root.find(f"{{{SOAP_ENV}}}Header/{{{SOAP12_ENV}}}Upgrade/{{{SOAP12_ENV}}}SupportedEnvelope")
    assert supported is not None
    qname_prefix, _, qname_local = supported.get("qname", "").partition(":")
    assert (supported.nsmap.get(qname_prefix), qname_local) == (SOAP_ENV, "Envelope")
