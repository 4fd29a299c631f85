"""Names in the portal's alphabet (FullName) and as declared (NameAsDeclared).

NOTES.md fixes the FullName rule: Đ/đ -> D; NFD with combining marks dropped; upper case;
Ø->O, Æ->AE, Œ->OE, Ł->L, Þ->TH, Ð->D; ß -> SS; apostrophes dropped; every other run of
characters outside A-Z0-9 becomes one space. Scripts the samples do not cover (Cyrillic,
Chinese, Arabic, ...) go through anyascii, so every letter yields something the portal takes.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

#: The portal's FullName: at most 150 characters.
MAX_FULL_NAME = 150
UNKNOWN = "UNKNOWN"

_APOSTROPHES = "'\u2019\u2018\u02bc"
# Latin letters with no canonical decomposition (NOTES' list, both cases).
_SPECIAL = {
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Ø": "O",
    "ø": "o",
    "Æ": "AE",
    "æ": "ae",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "Þ": "TH",
    "þ": "th",
    "ß": "ss",
}
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


def _fold(char: str) -> str:
    """One non-ASCII character in ASCII: its base letter, its NOTES spelling, or anyascii's."""
    if char in _APOSTROPHES:
        return ""
    special = _SPECIAL.get(char)
    if special is not None:
        return special
    if unicodedata.category(char).startswith("M"):  # marks (combining, enclosing, selectors) go
        return ""
    decomposed = unicodedata.normalize("NFD", char)
    if decomposed[0].isascii():  # a Latin letter with marks: é, ệ, ñ, ö, ...
        return decomposed[0]
    # Anything with no ASCII form (a control, a format character) is "outside A-Z0-9": a space.
    return str(anyascii(char)) or " "


class _FoldTable(dict[int, str]):
    """A str.translate table that folds each new character once and remembers it (C-speed after)."""

    def __missing__(self, code: int) -> str:
        folded = _fold(chr(code))
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold_text(text: str) -> str:
    """NOTES' FullName rule applied to one text, with no length limit (the reference implementation)."""
    if not text.isascii():
        # NFC first so a decomposed é folds like a composed one.
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        text = text.translate(_FOLD)
    text = text.upper()
    # Fast path: already A-Z/0-9 words with single spaces (most names once folded).
    if not (text.replace(" ", "").isalnum() and "  " not in text and text[:1] != " " and text[-1:] != " "):
        text = _NOT_ALNUM.sub(" ", text.replace("'", "")).strip()
    return text


# Words repeat across a long list (Nguyen, Van, Thi, Maria, ...): fold each distinct word once.
_fold_word = lru_cache(maxsize=1 << 16)(fold_text)


def portal_name(text: str) -> str:
    """Any text in the portal's alphabet: A-Z, 0-9 and single spaces ("" when nothing is left)."""
    text = " ".join(filter(None, map(_fold_word, text.split())))
    if len(text) > MAX_FULL_NAME:  # a transliteration can outgrow the portal's field
        cut = text[: MAX_FULL_NAME + 1]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut[:MAX_FULL_NAME]
    return text


def full_name(family: str | None, given: str | None = None) -> str:
    """FullName: family name, a space, given names, in the portal's alphabet; UNKNOWN with no name."""
    declared = name_as_declared(family, given)
    if declared is None:
        return UNKNOWN
    return portal_name(declared)


def name_as_declared(family: str | None, given: str | None = None) -> str | None:
    """NameAsDeclared: family name, a space, given names, as typed (None when there is no name)."""
    family = family or ""
    given = given or ""
    if family and given:
        return f"{family} {given}"
    return family or given or None
