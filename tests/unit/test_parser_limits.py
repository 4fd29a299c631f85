"""The hardened parser's refusals: a DTD anywhere (nothing outside the input is opened), and its limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsw_adapter.errors import MAX_LISTED, Problem, listed
from nsw_adapter.xml import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_NAME_CHARS,
    MAX_TEXT_BYTES,
    UntrustedHead,
    UntrustedXmlError,
    parse_untrusted,
)

COMMENT = "<!--" + "x" * 5000 + "-->"


def behind_a_comment(system_id: str) -> str:
    """A DOCTYPE whose external subset names `system_id`, past the first 5,000 characters."""
    return f'<?xml version="1.0"?>{COMMENT}<!DOCTYPE r SYSTEM "{system_id}"><r/>'


def refusal(data: bytes | str) -> str:
    with pytest.raises(UntrustedXmlError) as refused:
        parse_untrusted(data)
    return str(refused.value)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be"])
def test_a_doctype_behind_a_long_comment_gets_one_answer_whatever_it_names(
    encoding: str, tmp_path: Path
) -> None:
    """An existing file, a missing one and /dev/ptmx (never answers) are refused alike, at once."""
    existing = tmp_path / "secret.txt"
    existing.write_text("root")
    answers = {
        refusal(behind_a_comment(target).encode(encoding))
        for target in (str(existing), str(tmp_path / "missing"), "/dev/ptmx", "file:///etc/hostname")
    }
    assert answers == {"a DOCTYPE or entity declaration is not allowed"}


@pytest.mark.timeout(10)
def test_a_parameter_entity_naming_a_device_in_utf16_is_refused_without_opening_it() -> None:
    """Where the bytes cannot be scanned (UTF-16), the resolver refuses what libxml2 would open."""
    document = '<!DOCTYPE r [<!ENTITY % x SYSTEM "/dev/ptmx"> %x;]><r/>'
    assert refusal(document.encode("utf-16")) == "a DOCTYPE or entity declaration is not allowed"


@pytest.mark.timeout(10)
def test_the_streaming_head_refuses_a_doctype_past_its_window_without_opening_it() -> None:
    """The head reader of oversized pushes refuses a DOCTYPE in UTF-16 too (its byte scan cannot see it)."""
    reader = UntrustedHead("Header")
    assert reader.feed(behind_a_comment("/dev/ptmx").encode("utf-16")) is None
    assert reader.refused


def attributes(count: int) -> bytes:
    return b"<r " + b" ".join(b'a%d="1"' % i for i in range(count)) + b"/>"


def test_attributes_per_element_are_limited() -> None:
    """An element may carry MAX_ATTRIBUTES attributes, not one more; 100,000 are refused with one error."""
    assert len(parse_untrusted(attributes(MAX_ATTRIBUTES)).attrib) == MAX_ATTRIBUTES
    expected = f"an element has more than {MAX_ATTRIBUTES} attributes"
    assert refusal(attributes(MAX_ATTRIBUTES + 1)) == expected
    assert refusal(attributes(100_000)) == expected


def test_attributes_are_counted_per_element_not_per_document() -> None:
    """Many elements with a few attributes each stay within the limit."""
    document = b"<r>" + b'<e a="1" b="2"/>' * (MAX_ATTRIBUTES * 2) + b"</r>"
    assert len(parse_untrusted(document)) == MAX_ATTRIBUTES * 2


def test_attributes_in_utf16_are_limited_too() -> None:
    """The fast path (counting "=" bytes) is not trusted for an encoding that is not ASCII-compatible."""
    with pytest.raises(UntrustedXmlError, match="attributes"):
        parse_untrusted(attributes(MAX_ATTRIBUTES + 1).decode().encode("utf-16"))


def test_names_are_limited() -> None:
    """A name of MAX_NAME_CHARS characters is read, one longer is refused."""
    assert len(parse_untrusted(b"<" + b"a" * MAX_NAME_CHARS + b"/>").tag) == MAX_NAME_CHARS
    too_long = refusal(b"<" + b"a" * (MAX_NAME_CHARS + 1) + b"/>")
    assert too_long == f"a name is longer than {MAX_NAME_CHARS} characters"


def test_text_nodes_are_limited_and_the_refusal_names_the_limit() -> None:
    """A text node of MAX_TEXT_BYTES is read, one byte more is refused with the limit, not libxml2's hint."""
    assert len(parse_untrusted(b"<a>" + b"x" * MAX_TEXT_BYTES + b"</a>").text or "") == MAX_TEXT_BYTES
    assert refusal(b"<a>" + b"x" * (MAX_TEXT_BYTES + 1) + b"</a>") == (
        f"a text node is over the limit of {MAX_TEXT_BYTES} bytes"
    )


def nested(levels: int, inner: bytes = b"") -> bytes:
    return b"<a>" * levels + inner + b"</a>" * levels


def test_nesting_is_limited_and_the_refusal_names_the_limit() -> None:
    """MAX_DEPTH levels are read, one more is refused in plain words (no parser flag to try)."""
    assert parse_untrusted(nested(MAX_DEPTH)).tag == "a"
    assert refusal(nested(MAX_DEPTH + 1)) == f"the document is nested deeper than {MAX_DEPTH} levels"


def test_one_string_part_may_exceed_the_text_limit_and_nothing_else_may() -> None:
    """With large_text_in, that element's text passes the text limit; other limits hold as without it."""
    big = b"x" * (MAX_TEXT_BYTES + 1)
    root = parse_untrusted(b"<r><part>" + big + b"</part></r>", large_text_in="part")
    assert len(root.findtext("part") or "") == len(big)
    for document, limit in [
        (b"<r><other>" + big + b"</other><part/></r>", "a text node is over the limit"),
        (b"<r><part/>" + big + b"</r>", "a text node is over the limit"),
        (b"<r><" + b"a" * (MAX_NAME_CHARS + 1) + b"/></r>", "a name is longer than"),
        (nested(MAX_DEPTH + 1, b"<part/>"), "nested deeper than"),
        (b"<r>" + attributes(MAX_ATTRIBUTES + 1) + b"</r>", "attributes"),
    ]:
        with pytest.raises(UntrustedXmlError, match=limit):
            parse_untrusted(document, large_text_in="part")
    assert len(parse_untrusted(nested(MAX_DEPTH - 1, b"<part/>"), large_text_in="part")) == 1


def test_an_answer_lists_at_most_the_cap_and_says_how_many_more() -> None:
    """Over MAX_LISTED problems, the last listed entry counts the rest and names their codes."""
    problems = [Problem("E-SCHEMA", f"p{i}", f"/x[{i}]", "52") for i in range(1000)]
    shown = listed(problems)
    assert len(shown) == MAX_LISTED
    assert shown[:-1] == problems[: MAX_LISTED - 1]
    assert shown[-1].text.startswith(f"{1000 - MAX_LISTED + 1} more problems (E-SCHEMA) are not listed")
    assert listed(problems[:MAX_LISTED]) == problems[:MAX_LISTED]
