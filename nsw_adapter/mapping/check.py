"""`nsw-adapter mapping check`: proves a mapping spec against submission.xsd and envelope.xsd.

Sound means: every portal element the spec writes exists in submission.xsd, in the schema's
order; every element the schema requires is written (and never left out as optional); leaves
are written as leaves; every NSW source field exists in envelope.xsd; and every NSW field is
either mapped or listed under `unmapped` (so a new field in the NSW schema cannot be dropped
silently). Uses xmlschema for introspection, off the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import xmlschema

from nsw_adapter.mapping.spec import ElementSpec, MappingSpec, Source
from nsw_adapter.resources import schema_path

_HEADER = frozenset({"reference", "documentType"})
_CONTEXT = frozenset({"client_message_id", "supersedes"})


@dataclass
class CheckReport:
    """What the check found: errors make the mapping unsound; the rest is information."""

    errors: list[str] = field(default_factory=list)
    mapped: set[str] = field(default_factory=set)
    unmapped_declared: list[str] = field(default_factory=list)
    unmapped_undeclared: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.errors


@cache
def _load(*parts: str) -> Any:
    # Our own schema files; 'sandbox' keeps xmlschema to files under their folder (no network).
    return xmlschema.XMLSchema(str(schema_path(*parts).resolve()), allow="sandbox")


def _children(element: Any) -> list[Any]:
    return list(element.iterchildren())


def _is_leaf(element: Any) -> bool:
    return bool(element.type.is_simple() or element.type.has_simple_content())


def _check_level(specs: tuple[ElementSpec, ...], xsd: Any, path: str, report: CheckReport) -> None:
    children = _children(xsd)
    names = [c.local_name for c in children]
    position = -1
    written: set[str] = set()
    for spec in specs:
        where = f"{path}/{spec.element}"
        if spec.element not in names:
            report.errors.append(f"{where}: no such element in submission.xsd")
            continue
        index = names.index(spec.element)
        if index < position:
            report.errors.append(f"{where}: out of the schema's order")
        position = max(position, index)
        written.add(spec.element)
        child = children[index]
        if child.min_occurs >= 1 and spec.optional and spec.each is None:
            report.errors.append(f"{where}: required by submission.xsd but marked optional")
        if spec.children and _is_leaf(child):
            report.errors.append(f"{where}: the schema has a simple type here, the mapping has children")
        elif not spec.children and not _is_leaf(child):
            report.errors.append(f"{where}: the schema has child elements here, the mapping writes a value")
        elif spec.children:
            _check_level(spec.children, child, where, report)
    for child in children:
        if child.min_occurs >= 1 and child.local_name not in written:
            report.errors.append(f"{path}/{child.local_name}: required by submission.xsd, not written")


def _nsw_fields(envelope: Any, spec: MappingSpec) -> dict[str, Any]:
    """Every NSW leaf field as `Document.Field` / `Document.List.Field`, with its xsd element."""
    fields: dict[str, Any] = {}
    for document in spec.documents:
        for child in _children(envelope.elements[document]):
            if _is_leaf(child):
                fields[f"{document}.{child.local_name}"] = child
            else:
                for leaf in _children(child):
                    fields[f"{document}.{child.local_name}.{leaf.local_name}"] = leaf
    return fields


def _source_field(source: Source, item_list: str | None) -> str | None:
    """The NSW field a source reads, as `Document.Field` / `Document.List.Field` (None: not a field)."""
    if source.kind == "item":
        return f"{item_list}.{source.steps[0]}" if item_list else None
    if source.kind == "document" and source.document:
        return ".".join((source.document, *(s for s in source.steps if s != "1")))
    if source.kind == "count" and source.document:
        return f"{source.document}.{source.steps[0]}"
    return None


def _check_sources(
    specs: tuple[ElementSpec, ...], item_list: str | None, fields: dict[str, Any], report: CheckReport
) -> None:
    for spec in specs:
        current = item_list
        if spec.each is not None:
            current = _source_field(spec.each, None)
            if current is None or not any(f.startswith(f"{current}.") for f in fields):
                report.errors.append(f"{spec.element}: `each` names no NSW list ({spec.each.text})")
            if spec.order_by and f"{current}.{spec.order_by}" not in fields:
                report.errors.append(f"{spec.element}: order_by {spec.order_by} is not a field of {current}")
            elif spec.order_by:
                report.mapped.add(f"{current}.{spec.order_by}")
        for source in spec.sources:
            if source.kind == "header" and source.steps[0] not in _HEADER:
                report.errors.append(f"{spec.element}: unknown header field {source.text}")
            elif source.kind == "context" and source.steps[0] not in _CONTEXT:
                report.errors.append(f"{spec.element}: unknown context value {source.text}")
            name = _source_field(source, current)
            if name is None:
                continue
            if source.kind == "count":
                if not any(f.startswith(f"{name}.") for f in fields):
                    report.errors.append(f"{spec.element}: {source.text} counts no NSW list")
            elif name not in fields:
                report.errors.append(
                    f"{spec.element}: NSW field {source.text} does not exist in envelope.xsd"
                )
            else:
                report.mapped.add(name)
        _check_sources(spec.children, current, fields, report)


def check_mapping(spec: MappingSpec) -> CheckReport:
    """Prove `spec` against the contract's schemas."""
    report = CheckReport()
    portal = _load("bgp", "submission.xsd")
    root = portal.elements.get(spec.root)
    if root is None:
        report.errors.append(f"submission.xsd has no element {spec.root}")
        return report
    if root.target_namespace != spec.namespace:
        report.errors.append(f"the mapping's namespace is not submission.xsd's ({root.target_namespace})")
    _check_level(spec.elements, root, f"/{spec.root}", report)

    envelope = _load("nsw", "envelope.xsd")
    fields = _nsw_fields(envelope, spec)
    _check_sources(spec.elements, None, fields, report)
    declared = set(spec.unmapped)
    for name in sorted(declared):
        if name not in fields:
            report.errors.append(f"unmapped: {name} is not an NSW field")
        elif name in report.mapped:
            report.errors.append(f"unmapped: {name} is mapped after all")
    for name in sorted(fields):
        if name in report.mapped:
            continue
        if name in declared:
            report.unmapped_declared.append(name)
        else:
            report.unmapped_undeclared.append(name)
            report.errors.append(f"{name}: neither mapped nor listed as unmapped")
    return report
