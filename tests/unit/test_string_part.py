"""The one reading of XML received as characters (string_part), and of files, which stay bytes."""

from __future__ import annotations

import pytest

from nsw_adapter import string_part
from nsw_adapter.envelope import read_message
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.xml import parse_untrusted

NAME = "Phạm Minh Tuấn"
BODY = f"<Envelope><Name>{NAME}</Name></Envelope>"
DECLARATIONS = [
    '<?xml version="1.0" encoding="UTF-16"?>',
    "<?xml version='1.0' encoding='utf-16'?>",
    '<?xml version="1.0" encoding="UTF-16LE"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<?xml version="1.0" encoding="windows-1252" standalone="yes"?>',
    '<?xml version="1.0" encoding="windows-1258"?>',
    '<?xml version="1.0" encoding="US-ASCII"?>',
    '<?xml version="1.0" encoding="x-foo"?>',
    '<?xml version="1.0"?>',
    "",
    "\ufeff",
    '\ufeff<?xml version="1.0" encoding="utf-16"?>',
    '  \r\n<?xml version="1.0" encoding="utf-16"?>\n',
]


@pytest.mark.parametrize("declaration", DECLARATIONS)
def test_a_string_is_read_as_its_characters_whatever_it_declares(declaration: str) -> None:
    """A string's declaration and BOM character are dropped: UTF-8 bytes that parse to the same name."""
    document = string_part.to_bytes(declaration + BODY)
    assert document.lstrip().startswith(b"<Envelope>")
    assert parse_untrusted(document).findtext("Name") == NAME
    assert parse_untrusted(declaration + BODY).findtext("Name") == NAME


@pytest.mark.parametrize("declaration", DECLARATIONS)
def test_a_row_stored_with_its_declaration_reads_as_the_string_received(declaration: str) -> None:
    """A payload stored as the string's UTF-8, declaration left in, reads as to_bytes makes it."""
    legacy = (declaration + BODY).encode("utf-8")
    assert string_part.from_store(legacy) == string_part.to_bytes(declaration + BODY)


def test_a_stored_row_without_a_declaration_is_returned_as_is() -> None:
    """Rows written under the rule are not copied or decoded again."""
    payload = string_part.to_bytes(BODY)
    assert string_part.from_store(payload) is payload


def test_a_stored_payload_that_is_not_utf8_keeps_its_own_declaration() -> None:
    """Bytes intake never wrote (a Latin-1 file) are read as their declaration says."""
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><Envelope><Name>Weiß</Name></Envelope>'.encode(
        "latin-1"
    )
    assert string_part.from_store(latin1) == latin1
    assert parse_untrusted(string_part.from_store(latin1)).findtext("Name") == "Weiß"


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1258", "UTF-16"])
def test_a_file_is_read_as_its_declaration_says(encoding: str) -> None:
    """`validate`/`convert` read a saved envelope's bytes in the encoding it declares, as XML requires."""
    _name, data = generate_dossier(crew=2, seed=9, native_scripts=False)[1]
    text = data.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    family = "Weiß"
    text = text.replace("<FamilyName>", f"<FamilyName>{family}", 1)
    message = read_message(text.encode(encoding, errors="xmlcharrefreplace"))
    assert message.content.findtext("CrewList/FamilyName", "").startswith(family)
