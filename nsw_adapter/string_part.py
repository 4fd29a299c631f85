"""XML carried in a SOAP string part: the one reading of it, from the push to every later stage.

The NSW pushes each document as the `xs:string` part `requestMessage`, and answers our Results
with one too. What arrives is characters, already decoded from the HTTP body by the SOAP
layer. An XML declaration at the top of such a string describes bytes that no longer exist:
.NET's `StringWriter` writes `encoding="utf-16"`, Java's `LSSerializer.writeToString` too,
older Java code `ISO-8859-1`, Vietnamese Windows software `windows-1258`. Read as it says, the
same characters become garbled names or unreadable XML. So the rule is:

* `to_bytes(text)` is the one form of a string part: a leading byte-order-mark character,
  whitespace and the XML declaration removed, the rest encoded as UTF-8 (XML without a
  declaration is UTF-8). Intake hashes, stores and parses exactly these bytes; they carry no
  declaration a later stage could re-interpret.
* `from_store(payload)` is how translation, dead-letter retries and reprocessing read a stored
  document. Rows written before this rule hold the UTF-8 of the string with its declaration
  left in; their declaration is dropped the same way, so they read as the characters received.
* A file (`nsw-adapter validate`/`convert`, `translate()` on a saved envelope) is bytes, and
  is read as its declaration says, as XML requires: neither function applies to it.
"""

from __future__ import annotations

import re

# The declaration's pseudo-attributes (version, encoding, standalone) cannot hold ">".
_LEADING = re.compile(r"[\ufeff\s]*(?:<\?xml\s[^>]*\?>)?")
_UTF8_BOM = b"\xef\xbb\xbf"
_STORED_HEAD = 64


def to_bytes(text: str) -> bytes:
    """The bytes every stage reads of an XML document received as characters (see the module)."""
    leading = _LEADING.match(text)
    if leading is None or not leading.end():
        return text.encode("utf-8")
    # Sliced as bytes: a slice of the str would copy it at up to 4 bytes a character first.
    return text.encode("utf-8")[len(leading.group().encode("utf-8")) :]


def from_store(payload: bytes) -> bytes:
    """A stored pushed document as `to_bytes` would have made it (rows of any version alike).

    Intake has always stored the UTF-8 of the characters received, so a payload that is not
    UTF-8 was not made by it: it is returned as is and read as its own declaration says.
    """
    head = payload[:_STORED_HEAD].lstrip(b" \t\r\n")
    if not head.startswith((b"<?xml", _UTF8_BOM)):
        return payload  # the common case, and every row written under this rule
    try:
        return to_bytes(payload.decode("utf-8"))
    except UnicodeDecodeError:
        return payload
