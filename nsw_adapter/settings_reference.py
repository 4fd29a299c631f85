"""The settings reference (docs/settings.md), generated from the settings model itself.

Each setting's table, key, type, bounds, default and environment variable come from the
pydantic model; its meaning from the comments written beside it in the model's source (above
the field, or after it on its line), so that the reference cannot drift from the code:
tests/unit/test_settings_reference.py compares docs/settings.md with `render()`.
`nsw-adapter config reference` prints it.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from nsw_adapter.settings import Settings

ENV_PREFIX = "NSW_ADAPTER_"
_OPTIONAL = "Optional: absent by default (the defaults below apply once it is given)."
_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    Path: "file path",
    SecretStr: "secret string",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One setting: where it lives and what it accepts."""

    key: str
    type: str
    default: str
    env: str | None
    meaning: str


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """One TOML table (`[portal]`, `[[subscribers]]`...) with its settings."""

    header: str
    summary: str
    entries: tuple[Entry, ...]


def tables() -> list[Table]:
    """Every table of the settings file, the top level first, in the model's order."""
    found: list[Table] = []
    _walk(Settings, (), found, repeated=False)
    return found


def render() -> str:
    """docs/settings.md: every table as a Markdown table of its settings."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `nsw_adapter/settings.py` (and the console's and subscribers' models) by",
        "`nsw-adapter config reference > docs/settings.md`; do not edit by hand. The settings file is",
        "TOML (`--config FILE`, `NSW_ADAPTER_CONFIG`, or `/etc/nsw-adapter/adapter.toml`);",
        "`examples/adapter.toml` lists every setting at its default. An environment variable overrides",
        "the file; a key that is not listed here is refused (`nsw-adapter config check`).",
    ]
    for table in tables():
        lines += ["", f"## `{table.header}`", ""]
        if table.summary:
            lines += [table.summary, ""]
        lines += ["| Key | Type | Default | Environment | Meaning |", "|---|---|---|---|---|"]
        for entry in table.entries:
            env = f"`{entry.env}`" if entry.env else ""
            cells = [f"`{entry.key}`", entry.type, entry.default, env, entry.meaning]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _walk(
    model: type[BaseModel], path: tuple[str, ...], found: list[Table], *, repeated: bool, summary: str = ""
) -> None:
    comments = _comments(model)
    entries: list[Entry] = []
    nested: list[tuple[type[BaseModel], tuple[str, ...], bool, bool]] = []
    for name, field in model.model_fields.items():
        inner, optional, many = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            nested.append((inner, (*path, name), many, optional))
            continue
        env = None if repeated else ENV_PREFIX + "__".join((*path, name)).upper()
        type_text = _type_text(inner, many) + _bounds(field) + (", or none" if optional else "")
        entries.append(Entry(name, type_text, _default(field), env, comments.get(name, "")))
    header = ".".join(path)
    header = f"[[{header}]]" if repeated else f"[{header}]" if header else "top level"
    summary = " ".join(filter(None, [_summary(model), summary]))
    found.append(Table(header, summary, tuple(entries)))
    for inner, inner_path, many, optional in nested:
        said = comments.get(inner_path[-1], "")
        if optional:
            said = " ".join(filter(None, [said, _OPTIONAL]))
        _walk(inner, inner_path, found, repeated=repeated or many, summary=said)


def _unwrap(annotation: Any) -> tuple[Any, bool, bool]:
    """The annotation's core type, whether None is allowed, whether it is a list of them."""
    optional = many = False
    while True:
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            optional = optional or len(members) < len(get_args(annotation))
            if len(members) != 1:
                return annotation, optional, many
            annotation = members[0]
        elif origin in (list, tuple):
            many = True
            annotation = get_args(annotation)[0]
        elif hasattr(annotation, "__metadata__"):  # Annotated[...]
            annotation = get_args(annotation)[0]
        else:
            return annotation, optional, many


def _type_text(inner: Any, many: bool) -> str:
    if get_origin(inner) is Literal:
        text = "one of " + ", ".join(f'`"{value}"`' for value in get_args(inner))
    else:
        text = _NAMES.get(inner, getattr(inner, "__name__", str(inner)))
    return f"list of {text}" if many else text


def _bounds(field: FieldInfo) -> str:
    said = []
    for rule in field.metadata:
        for kind, words in (
            (annotated_types.Gt, "> {}"),
            (annotated_types.Ge, ">= {}"),
            (annotated_types.Lt, "< {}"),
            (annotated_types.Le, "<= {}"),
            (annotated_types.MinLen, "at least {} long"),
            (annotated_types.MaxLen, "at most {} long"),
        ):
            if isinstance(rule, kind):
                said.append(words.format(getattr(rule, dataclasses.fields(rule)[0].name)))
        checked = getattr(getattr(rule, "func", None), "__doc__", None)
        if checked:  # an AfterValidator: its docstring says what it accepts
            said.append(checked.strip().rstrip("."))
        pattern = getattr(rule, "pattern", None)
        if pattern:
            said.append(f"matching `{pattern}`")
    return f" ({', '.join(said)})" if said else ""


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    if isinstance(value, list | tuple):
        return "`[" + ", ".join(f'"{item}"' for item in value) + "]`"
    return f"`{value}`"


def _summary(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _is_section(node: ast.AnnAssign) -> bool:
    """A field holding a section of its own (`intake: IntakeSettings`), which no comment group spans."""
    return "Settings" in ast.unparse(node.annotation)


@cache
def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comments in the model's source: the lines just above it and the rest of its line."""
    source = textwrap.dedent(inspect.getsource(model))
    comment_at: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comment_at[token.start[0]] = token.string.lstrip("#").strip()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    found: dict[str, str] = {}
    group, previous_end = "", 0
    (klass,) = ast.parse(source).body
    assert isinstance(klass, ast.ClassDef)
    for node in klass.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comment_at and line not in code_lines:
            above.insert(0, comment_at[line])
            line -= 1
        lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        after = [comment_at[n] for n in lines if n in comment_at]
        name = node.target.id
        if above:
            group = name
        elif group and line == previous_end and not after and not _is_section(node):
            above = [f"See `{group}`."]  # right under a field of the comment above: its group
        else:
            group = ""
        previous_end = node.end_lineno or node.lineno
        found[name] = " ".join(above + after)
    return found
