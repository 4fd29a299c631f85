"""Lineage: for every portal field of one submission, the NSW document and field it came from.

The portal's Reason/Field XPaths (`/bgp:Submission/bgp:Persons/bgp:Person[17]/bgp:DocExpiry`)
point into the submission; the NSW must be answered with XPaths into its own documents.
A Lineage is kept with each submission (`to_bytes` / `from_bytes`) and `locate` turns one
into the other. Person[k] is resolved through the real position of that person's element in
its NSW list, since the portal orders persons by code, not by document position.

It is compact on purpose: static fields once, and for each list the NSW positions in the
portal's order (a plain count when they are 1..n in order), so a 10,000-passenger dossier
costs a few bytes, not a table per person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_PREFIX = re.compile(r"^[A-Za-z_][\w.-]*:")
_STEP = re.compile(r"^([A-Za-z_][\w.-]*)(?:\[(\d+)\])?$")


@dataclass(frozen=True, slots=True)
class ListLineage:
    """One NSW list mapped onto a repeated portal element (Persons/Person, Arms/Item)."""

    container: str  # the repeated portal element's path below Submission, e.g. "Persons/Person"
    category: str  # TV, HK, TT, ARMS
    document_type: str  # NSW type of the document holding the list
    list_xpath: str  # e.g. /Envelope/Body/Content/CrewLists/CrewList
    fields: dict[str, str]  # portal child element -> NSW child element
    positions: tuple[int, ...]  # 1-based NSW positions, in the portal's order


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where each field of one submission came from in the dossier's NSW documents."""

    fields: dict[str, tuple[str, str]]  # portal path below Submission -> (NSW type, NSW XPath)
    lists: tuple[ListLineage, ...]

    def locate(self, portal_xpath: str) -> tuple[str, str] | None:
        """(NSW document type, absolute NSW XPath) of a portal XPath, or None if it has no NSW source.

        Accepts prefixed (`/bgp:Submission/bgp:Vessel/bgp:IMO`) and unprefixed paths; positions
        are 1-based, `[1]` may be left out.
        """
        steps: list[tuple[str, int | None]] = []
        for raw in portal_xpath.strip().strip("/").split("/"):
            match = _STEP.match(_PREFIX.sub("", raw.strip()))
            if match is None:
                return None
            steps.append((match.group(1), int(match.group(2)) if match.group(2) else None))
        if steps and steps[0][0] == "Submission":
            steps = steps[1:]
        if not steps:
            return None
        names = [name for name, _ in steps]
        for split in (2, 1):  # Persons/Person[k]/Field or a repeated element one level down
            container = "/".join(names[:split])
            groups = [g for g in self.lists if g.container == container]
            if groups and len(steps) >= split:
                return self._locate_item(groups, steps[split - 1][1] or 1, names[split:])
        if any(position not in (None, 1) for _, position in steps):
            return None
        return self.fields.get("/".join(names))

    @staticmethod
    def _locate_item(groups: Sequence[ListLineage], index: int, rest: list[str]) -> tuple[str, str] | None:
        for group in groups:
            if index <= len(group.positions):
                element = f"{group.list_xpath}[{group.positions[index - 1]}]"
                if not rest:
                    return group.document_type, element
                field = group.fields.get(rest[0])
                if field is None or len(rest) > 1:
                    return group.document_type, element  # a constant (Category): the person itself
                return group.document_type, f"{element}/{field}"
            index -= len(group.positions)
        return None

    def to_bytes(self) -> bytes:
        """A compact, deterministic JSON form (positions 1..n in order are stored as a count)."""
        lists: list[dict[str, Any]] = []
        for g in self.lists:
            n = len(g.positions)
            in_order = g.positions == tuple(range(1, n + 1))
            lists.append(
                {
                    "container": g.container,
                    "category": g.category,
                    "document_type": g.document_type,
                    "list_xpath": g.list_xpath,
                    "fields": g.fields,
                    "positions": {"n": n} if in_order else list(g.positions),
                }
            )
        body = {"version": 1, "fields": {k: list(v) for k, v in self.fields.items()}, "lists": lists}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Lineage:
        """The Lineage `to_bytes` wrote."""
        body = json.loads(data)
        if body.get("version") != 1:
            raise ValueError("unknown lineage version")
        lists = []
        for g in body["lists"]:
            raw = g["positions"]
            positions = tuple(range(1, raw["n"] + 1)) if isinstance(raw, dict) else tuple(raw)
            lists.append(
                ListLineage(
                    container=g["container"],
                    category=g["category"],
                    document_type=g["document_type"],
                    list_xpath=g["list_xpath"],
                    fields=dict(g["fields"]),
                    positions=positions,
                )
            )
        fields = {k: (v[0], v[1]) for k, v in body["fields"].items()}
        return cls(fields=fields, lists=tuple(lists))
