"""The hardened parser refuses every hostile sample, quickly, without reading files or the network."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nsw_adapter.xml import UntrustedXmlError, parse_untrusted

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
