"""Agent-facing texts in Vietnamese and English, rendered at the edge.

A Problem carries its rule code, a message key (`E-IMO`, `E-SCHEMA.form`...) and parameters
(the offending value where it is not personal data, positions, counts, the expected form); its
`text` is the English rendering, for logs, the store and the library. What an agent reads (the
Results sent to the NSW, the intake's answers, `validate` / `convert` output) is rendered in the
configured language by `render`. Both catalogues hold every key (tests/unit/test_texts.py).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Literal, get_args

from nsw_adapter.errors import Problem
from nsw_adapter.texts import en, vi

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
#: What agents read unless configured otherwise: the NSW's agents are Vietnamese.
DEFAULT_LANGUAGE: Language = "vi"

CATALOGUES: Mapping[Language, Mapping[str, str]] = {"en": en.MESSAGES, "vi": vi.MESSAGES}
WORDS: Mapping[Language, Mapping[str, str]] = {"en": en.WORDS, "vi": vi.WORDS}

# A parameter never runs longer than this (values are codes and numbers; a longer one is not what
# its field expects, and is cut rather than echoed whole; a list of codes fits).
_MAX_VALUE = 250


def word(key: str) -> str:
    """A parameter that `render` replaces with the word of `key` in the chosen language."""
    return f"@{key}"


def message(key: str, language: Language, params: Mapping[str, object]) -> str:
    """The text of `key` in `language` with `params` filled in (`@word` parameters translated)."""
    words = WORDS[language]
    filled = {
        name: words.get(value[1:], value) if isinstance(value, str) and value.startswith("@") else value
        for name, value in params.items()
    }
    text = CATALOGUES[language][key].format_map(filled)
    # Vietnamese sentences start with a capital; the English texts keep their lower-case style.
    return text[:1].upper() + text[1:] if language == "vi" else text


def problem(
    code: str, key: str, xpath: str | None = None, document_type: str | None = None, **params: object
) -> Problem:
    """A Problem with its message key and parameters, its `text` the English rendering."""
    if key not in CATALOGUES["en"]:
        raise KeyError(f"no text for {key}")
    kept = tuple((name, _short(str(value))) for name, value in params.items())
    return Problem(code, message(key, "en", dict(kept)), xpath, document_type, key, kept)


def render(problem: Problem, language: Language) -> str:
    """The problem's text in `language` (a text without a key, e.g. an officer's words, as it is)."""
    if problem.key is None:
        return problem.text
    return message(problem.key, language, dict(problem.params))


def placeholders(template: str) -> frozenset[str]:
    """The parameter names a template uses."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _short(value: str) -> str:
    return value if len(value) <= _MAX_VALUE else value[: _MAX_VALUE - 1] + "…"
