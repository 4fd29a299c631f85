"""Helpers for the translation tests: sample and generated dossiers, and editing one document of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from lxml import etree

from nsw_adapter import Translation, translate
from nsw_adapter.fixtures import generate_dossier

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "samples"
#: The samples' arrival day is 2026-03-13/14; E-DOB compares with this date in tests.
TODAY = date(2026, 3, 12)
CONTENT = "/Envelope/Body/Content"


def sample(name: str) -> list[bytes]:
    """The envelopes of one valid sample dossier, in file-name order."""
    return [p.read_bytes() for p in sorted((SAMPLES / "nsw" / "valid" / name).glob("*.xml"))]


def generated(**kwargs: object) -> list[bytes]:
    """A generated valid dossier (crew=6, passengers=4, one arms item, one stowaway unless told)."""
    options: dict[str, object] = {"crew": 6, "passengers": 4, "arms": 1, "stowaways": 1, "seed": 7}
    options.update(kwargs)
    return [data for _, data in generate_dossier(**options)]  # type: ignore[arg-type]


def doc_type(data: bytes) -> str:
    return etree.fromstring(data).findtext("Header/Subject/type") or ""


def edit(documents: Sequence[bytes], type_: str, change: Callable[[etree._Element], None]) -> list[bytes]:
    """The dossier with `change(envelope root)` applied to the document of NSW type `type_`."""
    out = []
    for data in documents:
        if doc_type(data) == type_:
            root = etree.fromstring(data)
            change(root)
            data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        out.append(data)
    return out


def set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    """An edit setting the text of the element at `path` (relative to the envelope root)."""

    def change(root: etree._Element) -> None:
        element = root.find(path)
        assert element is not None, path
        element.text = value

    return change


def without(documents: Sequence[bytes], type_: str) -> list[bytes]:
    """The dossier without its document of NSW type `type_`."""
    return [d for d in documents if doc_type(d) != type_]


def run(documents: Sequence[bytes], **kwargs: object) -> Translation:
    """translate() with a fixed ClientMessageId and TODAY."""
    options: dict[str, object] = {"client_message_id": "test-0001", "today": TODAY}
    options.update(kwargs)
    return translate(documents, **options)  # type: ignore[arg-type]


def codes(result: Translation) -> list[str]:
    return [p.code for p in result.problems]


def canonical(data: bytes) -> bytes:
    """C14N 2.0 without comments and with whitespace-only text stripped, for comparing XML."""
    parser = etree.XMLParser(remove_comments=True, remove_blank_text=True)
    root = etree.fromstring(data, parser)
    return bytes(etree.tostring(root, method="c14n2", strip_text=True, with_comments=False))  # type: ignore[call-overload]  # lxml-stubs lack c14n2 options
