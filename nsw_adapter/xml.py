"""The one hardened way to read untrusted XML, and the registry of the contract's schemas.

Every byte that comes from outside (an NSW envelope, a SOAP request, a portal answer read by
the simulators) goes through `parse_untrusted`: no DTD, no entities, no network, no huge
trees, no schema-location hints. Anything else is refused with `UntrustedXmlError`, never
read or fetched.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any, NoReturn, TypedDict

from lxml import etree

from nsw_adapter import string_part
from nsw_adapter.errors import NswAdapterError
from nsw_adapter.resources import schema_path

XSI = "http://www.w3.org/2001/XMLSchema-instance"
_HAS_SCHEMA_HINT = etree.XPath(
    "boolean(//@xsi:schemaLocation | //@xsi:noNamespaceSchemaLocation)", namespaces={"xsi": XSI}
)
_ASCII_COMPATIBLE = frozenset(
    {b"UTF-8", b"UTF8", b"US-ASCII", b"ASCII", b"ISO-8859-1", b"LATIN1", b"WINDOWS-1252"}
)
_DECLARED_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")


def _ascii_compatible(head: bytes) -> bool:
    """Whether the document's bytes are ASCII for ASCII characters (UTF-8 or a declared ASCII superset).

    docinfo.encoding cannot tell: lxml reports UTF-8 for a UTF-16 document without a declaration.
    """
    text = head.lstrip(b" \t\r\n")
    if not text.startswith(b"<") or b"\x00" in text[:8]:
        return False  # UTF-16/32 (BOM or NUL bytes), EBCDIC, or not XML at all
    declared = _DECLARED_ENCODING.match(text) if text.startswith(b"<?xml") else None
    return declared is None or declared.group(1).upper() in _ASCII_COMPATIBLE


#: Default ceiling on one document; intake has its own configurable limit in front of this.
MAX_BYTES = 64 * 1024 * 1024
#: The parser's limits on one document (libxml2's own without XML_PARSE_HUGE, and ours on
#: attributes: the contracts' elements carry a handful; 100,000 made a 26 MB error list).
MAX_NAME_CHARS = 50_000
MAX_TEXT_BYTES = 10_000_000
MAX_ATTRIBUTES = 64
MAX_DEPTH = 256
# Per element: position() counts along each element's attribute axis.
_TOO_MANY_ATTRIBUTES = etree.XPath(f"boolean(//@*[position() > {MAX_ATTRIBUTES}])")


class UntrustedXmlError(NswAdapterError):
    """Input refused by the hardened parser: not XML, a DTD, an entity, a hint, too deep.

    `key` and `params` name the refusal in the agents' catalogue (nsw_adapter.texts, an
    E-ENVELOPE.* text); str() is its English text. No libxml2 wording reaches an agent: a
    well-formedness error says where it is and what, in our words.
    """

    def __init__(self, key: str, **params: object) -> None:
        from nsw_adapter.texts import message  # texts builds on errors; loaded once xml is

        self.key = f"E-ENVELOPE.{key}"
        self.params = tuple((name, str(value)) for name, value in params.items())
        super().__init__(message(self.key, "en", dict(self.params)))


def _no_dtd() -> UntrustedXmlError:
    return UntrustedXmlError("doctype")


class _ExternalRefused(Exception):
    """Raised by the resolver for anything the document names outside itself."""


class _RefuseEverything(etree.Resolver):
    """libxml2 asks its entity loader for an external DTD subset even with load_dtd off: nothing
    outside the request is ever opened (a local file, a device that never answers)."""

    def resolve(self, system_url: str, public_id: str, *_context: object) -> NoReturn:
        raise _ExternalRefused


class _Options(TypedDict):
    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    dtd_validation: bool
    remove_pis: bool
    collect_ids: bool


#: The options of every parser of untrusted input (XMLParser and the pull parser alike).
_HARDENED: _Options = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_pis": True,
    "collect_ids": False,
}


def hardened_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """A new parser that refuses what `parse_untrusted` refuses while parsing (no DTD, no entity,
    nothing outside the document opened): the one way the package makes a parser for XML it did
    not write itself, or re-reads (signxml's copies, the portal client's submission). Not
    thread-safe: keep one per thread (`thread_parser`)."""
    parser = etree.XMLParser(huge_tree=huge_tree, **_HARDENED)
    parser.resolvers.add(_RefuseEverything())
    return parser


# lxml parsers are not thread-safe; one per thread.
_local = threading.local()


def thread_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """This thread's hardened parser (made on first use)."""
    name = "huge_parser" if huge_tree else "parser"
    parser: etree.XMLParser | None = getattr(_local, name, None)
    if parser is None:
        parser = hardened_parser(huge_tree=huge_tree)
        setattr(_local, name, parser)
    return parser


def schema_parser() -> etree.XMLParser:
    """A parser for the contract's own schema files: no network and no entities, but the local
    files they import are read."""
    return etree.XMLParser(no_network=True, resolve_entities=False)


def parse_untrusted(
    data: bytes | str, *, max_bytes: int = MAX_BYTES, large_text_in: str | None = None
) -> etree._Element:
    """Parse untrusted XML and return its root element, or raise UntrustedXmlError.

    A str (XML carried in a SOAP string part) is read as its characters: `string_part.to_bytes`.
    `large_text_in`: the local name of the one element whose text may exceed MAX_TEXT_BYTES (a
    SOAP string part carrying a whole document, bounded by `max_bytes`); every other name and
    text is held to the usual limits.
    """
    if isinstance(data, str):
        data = string_part.to_bytes(data)
    if len(data) > max_bytes:
        raise UntrustedXmlError("too_large_read", size=len(data), limit=max_bytes)
    # Refuse a DTD before libxml2 sees it, wherever it stands (the keyword is case-sensitive; in
    # an encoding that is not ASCII-compatible the resolver and the doctype check below refuse
    # it instead). Every DOCTYPE gets the same answer, so refusals tell nothing of local files.
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _no_dtd()
    root = _parse(data, thread_parser(huge_tree=large_text_in is not None))
    if large_text_in is not None:
        _within_limits_except(root, large_text_in)
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _no_dtd()
    # Each attribute needs an "=": with no more of them than the limit (the NSW's envelopes have
    # none, a SOAP request a few) the walk (~20 ms on 8 MB) is skipped for ~0.4 ms per MB.
    if (not _ascii_compatible(head) or data.count(b"=") > MAX_ATTRIBUTES) and _TOO_MANY_ATTRIBUTES(root):
        raise UntrustedXmlError("attributes", limit=MAX_ATTRIBUTES)
    # With no DTD there can be no entity declared; a hint may hide at any depth, so one XPath
    # (evaluated in C) looks at every attribute. Attribute names admit no character references,
    # so in an ASCII-compatible encoding a hint's name is in the bytes literally: when they never
    # spell "chemaLocation" the walk (~0.1 ms on a 13 kB request) is skipped.
    if (not _ascii_compatible(head) or b"chemaLocation" in data) and _HAS_SCHEMA_HINT(root):
        raise UntrustedXmlError("schema_hint")
    return root


def _within_limits_except(root: etree._Element, large_text_in: str) -> None:
    """libxml2's huge mode lifts every limit; hold all but the one element's text to them again."""
    depth_of = {root: 0}
    for element in root.iter():
        parent = element.getparent()
        depth = depth_of[element] = 0 if parent is None else depth_of[parent] + 1
        if depth >= MAX_DEPTH:  # the root is depth 0: MAX_DEPTH levels in all, as libxml2 counts
            raise UntrustedXmlError("too_deep", limit=MAX_DEPTH)
        if not isinstance(element.tag, str):
            continue  # comments: their text is not a node the limit is about
        name = etree.QName(element).localname
        if len(element.tag) > MAX_NAME_CHARS:
            raise UntrustedXmlError("long_name", limit=MAX_NAME_CHARS)
        for text in (element.tail, None if name == large_text_in else element.text):
            if text is not None and len(text) > MAX_TEXT_BYTES:
                raise UntrustedXmlError("long_text", limit=MAX_TEXT_BYTES)


def _parse(data: bytes, parser: etree.XMLParser) -> etree._Element:
    try:
        return etree.fromstring(data, parser=parser)
    except _ExternalRefused:
        raise _no_dtd() from None
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    except ValueError:  # e.g. unsupported encoding
        raise UntrustedXmlError("unreadable") from None


# libxml2's well-formedness errors (lxml's ErrorTypes) named in our words (the xml.* words of
# nsw_adapter.texts), the rest "malformed here". Its own wording (and its advice to use
# XML_PARSE_HUGE) is parser jargon an agent cannot act on.
SYNTAX_KINDS = frozenset(
    {
        "TAG_NAME_MISMATCH", "TAG_NOT_FINISHED", "DOCUMENT_END", "DOCUMENT_EMPTY", "DOCUMENT_START",
        "UNDECLARED_ENTITY", "ENTITYREF_SEMICOL_MISSING", "NAME_REQUIRED", "LT_IN_ATTRIBUTE",
        "ATTRIBUTE_REDEFINED", "ATTRIBUTE_WITHOUT_VALUE", "INVALID_CHAR", "INVALID_ENCODING",
        "UNSUPPORTED_ENCODING", "GT_REQUIRED", "LTSLASH_REQUIRED", "RESERVED_XML_NAME",
    }
)  # fmt: skip
_ERROR_NAMES = {
    getattr(etree.ErrorTypes, name): name.removeprefix("ERR_")
    for name in dir(etree.ErrorTypes)
    if name.startswith("ERR_")
}


def _syntax_error(exc: etree.XMLSyntaxError) -> UntrustedXmlError:
    if "Text node too long" in exc.msg:
        return UntrustedXmlError("long_text", limit=MAX_TEXT_BYTES)
    if "Excessive depth" in exc.msg or "Maximum nesting depth" in exc.msg:
        return UntrustedXmlError("too_deep", limit=MAX_DEPTH)
    kind = _ERROR_NAMES.get(getattr(exc, "code", 0), "")  # lxml's stubs do not declare `code`
    if kind == "NAME_TOO_LONG":
        return UntrustedXmlError("long_name", limit=MAX_NAME_CHARS)
    line, column = exc.position if exc.position else (0, 0)
    what = f"@xml.{kind if kind in SYNTAX_KINDS else 'other'}"  # a word of the catalogue
    return UntrustedXmlError("not_xml", line=line, column=column, problem=what)


class UntrustedHead:
    """The head of an untrusted document too large to parse whole, fed as it arrives, read for one element.

    The same refusals as `parse_untrusted`: no DTD or entity declaration (anywhere in what was
    fed), no entity resolution, no network, no huge trees. `feed` returns the first complete
    `tag` element once the bytes fed so far hold it, else None; None for good once the head
    is refused or malformed.
    """

    def __init__(self, tag: str) -> None:
        self._parser = etree.XMLPullParser(events=("end",), tag=tag, huge_tree=False, **_HARDENED)
        self._parser.resolvers.add(_RefuseEverything())
        self._tail = b""
        self.refused = False
        self.found: etree._Element | None = None

    def feed(self, data: bytes) -> etree._Element | None:
        if self.refused or self.found is not None:
            return self.found
        # The last bytes of the previous chunk too: a declaration split across chunks is seen.
        window = (self._tail + data).upper()
        self._tail = data[-16:]
        if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
            self.refused = True
            return None
        try:
            self._parser.feed(data)
            for _event, element in self._parser.read_events():
                if isinstance(element, etree._Element):  # "end" events carry elements
                    self.found = element
                    break
        except (etree.XMLSyntaxError, _ExternalRefused):
            self.refused = True
        return self.found


#: Held while libxml2 parses a schema: it keeps process-wide state (its built-in types) that two
#: threads parsing at once can corrupt ("the given type is not a built-in type", then every
#: validation fails). Anyone parsing an XSD outside `schema()` should hold it too.
SCHEMA_PARSING = threading.Lock()


@cache
def schema(name: str) -> etree.XMLSchema:
    """A contract schema by name: "envelope", "submission" or "status" (loaded once, shared).

    Schemas are our own trusted files; their imports resolve locally, never over the network.
    """
    with SCHEMA_PARSING:
        return _load_schema(name)


def _load_schema(name: str) -> etree.XMLSchema:
    files = {
        "envelope": ("nsw", "envelope.xsd"),
        "submission": ("bgp", "submission.xsd"),
        "status": ("bgp", "status.xsd"),
    }
    path = schema_path(*files[name])
    return etree.XMLSchema(etree.parse(str(path), parser=schema_parser()))
