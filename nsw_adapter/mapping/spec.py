"""The mapping file (mappings/submission.yaml) read into typed specs: one ElementSpec per portal element."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from nsw_adapter.mapping.transforms import TRANSFORMS
from nsw_adapter.resources import mapping_path

_COUNT = re.compile(r"count\((\w+)\.(\w+)\)")
_FIRST = re.compile(r"(\w+)\[1\]")
# Names end up in generated Python source: only plain identifiers get that far.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise MappingError(f"{what} {name!r} is not a plain XML/Python name")
    return name


class MappingError(ValueError):
    """A mapping file that cannot be compiled (unknown transform, malformed source, ...)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where one input of a portal element comes from.

    kind: "document" (a field of an NSW document), "item" (a field of the current list element),
    "header" (the General Declaration's envelope Subject), "context" (the caller), "count"
    (a list's length). steps: the field path below the document (["CrewList", "1", "Nationality"]
    for Document.CrewList[1].Nationality, with "1" marking the list's first element).
    """

    kind: str
    document: str | None
    steps: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """One portal element: its source(s) and transform, a constant, or children (maybe repeated)."""

    element: str
    sources: tuple[Source, ...] = ()
    value: str | None = None
    transform: str = "text"
    optional: bool = False
    children: tuple[ElementSpec, ...] = ()
    each: Source | None = None
    order_by: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """A whole mapping file."""

    namespace: str
    root: str
    documents: dict[str, str]  # NSW document element -> NSW type
    unmapped: tuple[str, ...]
    elements: tuple[ElementSpec, ...]


def parse_source(text: str, *, in_item: bool) -> Source:
    """One `from` entry in the mapping file's notation."""
    source = _parse_source(text, in_item=in_item)
    for name in (source.document, *source.steps):
        if name is not None and name != "1":
            _identifier(name, f"source {text!r}: name")
    return source


def _parse_source(text: str, *, in_item: bool) -> Source:
    count = _COUNT.fullmatch(text)
    if count:
        return Source("count", count.group(1), (count.group(2),), text)
    head, _, rest = text.partition(".")
    if head in ("header", "context"):
        return Source(head, None, (rest,), text)
    if in_item and "." not in text:
        return Source("item", None, (text,), text)
    if not rest:
        raise MappingError(f"source {text!r} names no field")
    steps: list[str] = []
    for step in rest.split("."):
        first = _FIRST.fullmatch(step)
        steps.extend((first.group(1), "1") if first else (step,))
    return Source("document", head, tuple(steps), text)


def _element(raw: dict[str, Any], *, in_item: bool) -> ElementSpec:
    name = _identifier(str(raw["element"]), "element")
    each = parse_source(raw["each"], in_item=False) if "each" in raw else None
    inner = in_item or each is not None
    sources_raw = raw.get("from", [])
    if isinstance(sources_raw, str):
        sources_raw = [sources_raw]
    sources = tuple(parse_source(str(s), in_item=in_item) for s in sources_raw)
    transform = str(raw.get("transform", "text"))
    known = TRANSFORMS.get(transform)
    if known is None:
        raise MappingError(f"{name}: unknown transform {transform!r}")
    if sources and len(sources) > known.arity:
        raise MappingError(f"{name}: {transform} takes at most {known.arity} sources")
    children = tuple(_element(child, in_item=inner) for child in raw.get("children", ()))
    value = raw.get("value")
    if sum((bool(sources), value is not None, bool(children))) != 1:
        raise MappingError(f"{name}: give exactly one of from, value or children")
    return ElementSpec(
        element=name,
        sources=sources,
        value=None if value is None else str(value),
        transform=transform,
        optional=bool(raw.get("optional", False)),
        children=children,
        each=each,
        order_by=None if raw.get("order_by") is None else _identifier(str(raw["order_by"]), "order_by"),
        category=raw.get("category"),
    )


#: libyaml's safe loader when PyYAML was built with it (the wheels are): the same documents, read
#: ~10x faster than the pure-Python one (36 -> 4 ms for submission.yaml, at every start).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(path: Path) -> MappingSpec:
    """Read and check a mapping file."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    return MappingSpec(
        namespace=str(raw["namespace"]),
        root=str(raw["root"]),
        documents={str(k): str(v) for k, v in raw["documents"].items()},
        unmapped=tuple(str(u) for u in raw.get("unmapped", ())),
        elements=tuple(_element(e, in_item=False) for e in raw["elements"]),
    )


@cache
def submission_spec() -> MappingSpec:
    """The contract's mapping, mappings/submission.yaml (read once)."""
    return load_spec(mapping_path("submission.yaml"))
