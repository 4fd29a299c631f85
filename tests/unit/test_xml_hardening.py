"""The hardened parser refuses every hostile sample, quickly, without reading files or the network."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nsw_adapter.xml import UntrustedHead, UntrustedXmlError, parse_untrusted

HOSTILE = sorted((Path(__file__).resolve().parents[2] / "fixtures/samples/nsw/hostile").iterdir())


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_hostile_input_is_refused_quickly(path: Path) -> None:
    """Each hostile sample raises UntrustedXmlError in well under 100 ms."""
    started = time.perf_counter()
    with pytest.raises(UntrustedXmlError):
        parse_untrusted(path.read_bytes())
    assert time.perf_counter() - started < 0.1


def test_doctype_after_a_long_comment_is_still_refused() -> None:
    """A DOCTYPE hidden past the quick pre-scan window is caught after parsing."""
    data = b"<!--" + b"x" * 10_000 + b'--><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>'
    with pytest.raises(UntrustedXmlError):
        parse_untrusted(data)


def test_schema_hint_deep_in_the_tree_is_refused() -> None:
    """An xsi:noNamespaceSchemaLocation on a nested element is refused, not fetched."""
    data = (
        b'<a xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><b><c '
        b'xsi:noNamespaceSchemaLocation="http://evil.example/x.xsd"/></b></a>'
    )
    with pytest.raises(UntrustedXmlError, match="schema-location"):
        parse_untrusted(data)


def test_oversized_input_is_refused_before_parsing() -> None:
    """Input above the byte limit is refused without being parsed."""
    with pytest.raises(UntrustedXmlError, match="limit"):
        parse_untrusted(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)


def test_str_input_with_a_declaration_is_read_as_utf8() -> None:
    """A str (as unescaped from a SOAP string part) parses despite its XML declaration."""
    root = parse_untrusted('<?xml version="1.0" encoding="ISO-8859-1"?><a>Đức</a>')
    assert root.text == "Đức"


_HEADER = "{http://schemas.xmlsoap.org/soap/envelope/}Header"
_HEAD = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<s:Header><t>token</t></s:Header><s:Body>" + b"x" * 5000
)


def test_untrusted_head_finds_an_element_fed_in_small_chunks() -> None:
    """The first complete element asked for is returned once its end tag arrives, whatever the chunking."""
    head = UntrustedHead(_HEADER)
    found = [head.feed(_HEAD[i : i + 7]) for i in range(0, len(_HEAD), 7)]
    first = next(i for i, element in enumerate(found) if element is not None)
    assert _HEAD.index(b"</s:Header>") <= 7 * first + 7
    element = found[-1]
    assert element is not None
    assert element.findtext("t") == "token"


@pytest.mark.parametrize("split", [3, 60, 200])
def test_untrusted_head_refuses_a_doctype_even_split_across_chunks(split: int) -> None:
    """A DOCTYPE or entity declaration in the head is refused for good, even cut in two by the chunking."""
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "v">]><x><s:Header/></x>'
    head = UntrustedHead(_HEADER)
    assert head.feed(data[:split]) is None
    assert head.feed(data[split:]) is None
    assert head.refused
