"""The mapping engine: compiles a mapping spec once into Python functions that write the submission.

Interpreting the spec per field would cost a dictionary lookup and a call per portal field,
about 200,000 of them for a 10,000-passenger list. Instead each repeated element (Person,
Item) becomes one generated function returning one f-string, with the transforms called
directly; the head of the submission is a second generated function. The generated source
is kept on the plan (`plan.source`) for reading and debugging.

Output is a UTF-8 string with no indentation; translate.py validates it against
submission.xsd before anyone sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from operator import attrgetter
from typing import Any

from nsw_adapter.mapping.lineage import Lineage, ListLineage
from nsw_adapter.mapping.spec import ElementSpec, MappingSpec, Source, submission_spec
from nsw_adapter.mapping.transforms import TRANSFORMS, escape_xml, inline_names

CONTENT = "/Envelope/Body/Content"
SUBJECT = "/Envelope/Header/Subject"


def _literal(text: str) -> str:
    """Text as a literal part of a generated f'...' string (XML-escaped, braces and quotes guarded)."""
    text = escape_xml(text)
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "{{").replace("}", "}}")


@dataclass(slots=True)
class _ListPlan:
    """One repeated element: the NSW list it walks and the lineage fields it writes."""

    spec: ElementSpec
    function: str
    document: str
    list_field: str
    container: str
    fields: dict[str, str]


@dataclass(slots=True)
class _Generator:
    spec: MappingSpec
    lines: list[str] = field(default_factory=list)
    lists: list[_ListPlan] = field(default_factory=list)
    static: dict[str, tuple[str, str]] = field(default_factory=dict)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # --- source expressions -------------------------------------------------------------

    def source_expr(self, source: Source) -> str:
        if source.kind == "item":
            return f"r.{source.steps[0]}"
        if source.kind in ("header", "context"):
            return f'{source.kind[0].upper()}["{source.steps[0]}"]'
        document = f'D["{source.document}"]'
        if source.kind == "count":
            return f"(0 if {document} is None else len({document}.{source.steps[0]}))"
        expr = document
        for step in source.steps:
            expr += "[0]" if step == "1" else f".{step}"
        return expr

    def lineage_of(self, source: Source) -> tuple[str, str] | None:
        if source.kind == "header":
            return self.spec.documents["GeneralDeclaration"], f"{SUBJECT}/{source.steps[0]}"
        if source.kind == "document" and source.document is not None:
            steps: list[str] = []
            for step in source.steps:
                if step == "1":
                    steps[-1] += "[1]"
                else:
                    steps.append(step)
            return self.spec.documents[source.document], "/".join((CONTENT, source.document, *steps))
        if source.kind == "count" and source.document is not None:
            return self.spec.documents[source.document], f"{CONTENT}/{source.document}"
        return None  # context: the adapter's own values

    # --- elements -----------------------------------------------------------------------

    def leaf(self, spec: ElementSpec, body: list[str]) -> str:
        """f-string text for one leaf element; statements for optional ones go to `body`."""
        tag = spec.element
        if spec.value is not None:
            return f"<{tag}>{_literal(spec.value)}</{tag}>"
        transform = TRANSFORMS[spec.transform]
        args = ", ".join(self.source_expr(s) for s in spec.sources)
        if spec.transform in ("code", "text"):  # values are str (or int codes) already
            call = args
        elif transform.inline is not None and len(spec.sources) == 1:
            call = transform.inline.format(args)
        else:
            call = f"T_{spec.transform}({args})"
        if transform.escape:
            call = f"E({call})"
        if not spec.optional:
            return f"<{tag}>{{{call}}}</{tag}>"
        var = self.fresh("o")
        if len(spec.sources) == 1:
            # Optional from one source: absent source -> element left out, transform not called.
            raw = self.fresh("s")
            body.append(f"{raw} = {args}")
            value = call.replace(args, raw, 1)
            if value == raw:
                value = f"str({raw})"
            body.append(f"{var} = '' if {raw} is None else '<{tag}>' + {value} + '</{tag}>'")
        else:
            body.append(f"{var} = T_{spec.transform}({args})")
            escaped = f"E({var})" if transform.escape else var
            body.append(f"{var} = '' if {var} is None else '<{tag}>' + {escaped} + '</{tag}>'")
        return f"{{{var}}}"

    def content(self, spec: ElementSpec, path: str, body: list[str]) -> str:
        """f-string text for an element and everything below it."""
        if spec.each is not None:
            return self.repeated(spec, path, body)
        if not spec.children:
            lineage = self.lineage_of(spec.sources[0]) if spec.sources else None
            if lineage is not None:
                self.static[path] = lineage
            return self.leaf(spec, body)
        inner = "".join(self.content(child, f"{path}/{child.element}", body) for child in spec.children)
        tag = spec.element
        if not spec.optional:
            return f"<{tag}>{inner}</{tag}>"
        var = self.fresh("c")
        body.append(f"{var} = f'{inner}'")
        body.append(f"{var} = '<{tag}>' + {var} + '</{tag}>' if {var} else ''")
        return f"{{{var}}}"

    def repeated(self, spec: ElementSpec, path: str, body: list[str]) -> str:
        each = spec.each
        assert each is not None
        assert each.document is not None
        name = self.fresh("item_")
        item_body: list[str] = []
        fields: dict[str, str] = {}
        parts = []
        for child in spec.children:
            if child.sources and child.sources[0].kind == "item":
                fields[child.element] = child.sources[0].steps[0]
            parts.append(self.leaf(child, item_body))
        self.lines.append(f"def {name}(r):")
        self.lines.extend(f"    {line}" for line in item_body)
        self.lines.append(f"    return f'<{spec.element}>{''.join(parts)}</{spec.element}>'")
        self.lines.append("")
        container = path.removeprefix("/")
        self.lists.append(_ListPlan(spec, name, each.document, each.steps[0], container, fields))
        var = self.fresh("l")
        body.append(f"{var} = ''.join(map({name}, L[{len(self.lists) - 1}]))")
        return f"{{{var}}}"

    def render_function(self) -> None:
        body: list[str] = []
        root = self.spec.root
        inner = "".join(self.content(e, e.element, body) for e in self.spec.elements)
        self.lines.append("def render(D, H, C, L):")
        self.lines.extend(f"    {line}" for line in body)
        head = f'<?xml version="1.0" encoding="UTF-8"?>\\n<{root} xmlns="{self.spec.namespace}">'
        self.lines.append(f"    return f'{head}{inner}</{root}>\\n'")


@dataclass(frozen=True, slots=True)
class MappingPlan:
    """A compiled mapping: `render` writes one submission and its lineage."""

    spec: MappingSpec
    source: str
    _render: Callable[..., str]
    _lists: tuple[_ListPlan, ...]
    _static: dict[str, tuple[str, str]]

    def render(
        self,
        documents: Mapping[str, Any],
        header: Mapping[str, str | None],
        context: Mapping[str, str | None],
    ) -> tuple[str, Lineage]:
        """The submission XML text and its lineage, from NSW document models by element name."""
        ordered: list[Any] = []
        lineages: list[ListLineage] = []
        for plan in self._lists:
            document = documents.get(plan.document)
            items = () if document is None else getattr(document, plan.list_field)
            positions: tuple[int, ...] = ()
            if items:
                order_by = plan.spec.order_by
                keys = [getattr(item, order_by) for item in items] if order_by else []
                if keys and any(a > b for a, b in pairwise(keys)):
                    index = sorted(range(len(items)), key=keys.__getitem__)
                    items = [items[i] for i in index]
                    positions = tuple(i + 1 for i in index)
                else:
                    positions = tuple(range(1, len(items) + 1))
                lineages.append(
                    ListLineage(
                        container=plan.container,
                        category=plan.spec.category or plan.spec.element,
                        document_type=self.spec.documents[plan.document],
                        list_xpath=f"{CONTENT}/{plan.document}/{plan.list_field}",
                        fields=plan.fields,
                        positions=positions,
                    )
                )
            ordered.append(items)
        text = self._render(documents, header, context, ordered)
        present = {self.spec.documents[name] for name, doc in documents.items() if doc is not None}
        static = {path: where for path, where in self._static.items() if where[0] in present}
        return text, Lineage(fields=static, lists=tuple(lineages))


def compile_spec(spec: MappingSpec) -> MappingPlan:
    """Generate and compile the functions a mapping spec describes."""
    generator = _Generator(spec)
    generator.render_function()
    source = "\n".join(generator.lines) + "\n"
    namespace: dict[str, Any] = {f"T_{name}": t.function for name, t in TRANSFORMS.items()}
    namespace["E"] = escape_xml
    namespace.update(inline_names())
    namespace["attrgetter"] = attrgetter
    # The source is generated from our own mapping file, never from input data.
    exec(compile(source, f"<mapping {spec.root}>", "exec"), namespace)  # noqa: S102
    return MappingPlan(spec, source, namespace["render"], tuple(generator.lists), generator.static)


@cache
def submission_plan() -> MappingPlan:
    """The compiled contract mapping (mappings/submission.yaml), built once per process."""
    return compile_spec(submission_spec())
