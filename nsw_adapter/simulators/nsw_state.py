"""What the NSW simulator remembers: per dossier, what it pushed and how it was answered, and the Results.

All methods run on the simulator's event loop thread. The admin JSON shape is documented in
`nsw_adapter.simulators.nsw`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nsw_adapter.simulators.nsw_messages import Document

FINAL_FUNCTIONS = ("22", "23", "24")


def finished(*, settled: bool, refused_outright: bool, cancelled: bool, final: str | None) -> bool:
    """Whether a dossier needs nothing more: every push answered, and its final Result in (24 if
    cancelled), or refused outright (answered 22 and never 99: no Result will come)."""
    if not settled:
        return False
    if refused_outright:
        return True
    return final in (("24",) if cancelled else ("22", "23"))


@dataclass
class PushRecord:
    """One pushed message: its attempts and the answer that ended them."""

    document: Document
    attempts: int = 0
    failures: int = 0
    answer: str | None = None  # "99" or "22" once answered
    errors: list[str] = field(default_factory=list)  # codes of a 22 answer
    duplicate_pushes: int = 0
    last_failure: str | None = None
    answered_at: float | None = None  # time.time() of the answer (benchmarks' latencies)

    def as_dict(self) -> dict[str, Any]:
        doc = self.document
        return {
            "file": doc.name,
            "type": doc.type,
            "function": doc.function,
            "send_date": doc.send_date.strftime("%Y-%m-%d %H:%M:%S"),
            "attempts": self.attempts,
            "failures": self.failures,
            "last_failure": self.last_failure,
            "answer": self.answer,
            "errors": self.errors,
            "duplicate_pushes": self.duplicate_pushes,
        }


@dataclass
class ResultRecord:
    """One Result accepted from the adapter."""

    message_id: str
    function: str
    receipt: str | None
    amendments_before: int = 0  # amendments the NSW had pushed when this Result arrived
    received_at: float = field(default_factory=time.time)  # benchmarks' latencies


@dataclass
class NswDossier:
    """One dossier the NSW pushed, and what came back for it."""

    reference: str
    document_type: str
    pushed: dict[str, PushRecord] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    results: list[ResultRecord] = field(default_factory=list)
    result_duplicates: int = 0
    result_rejects: list[str] = field(default_factory=list)  # Reject codes given

    def documents(self) -> list[Document]:
        return [record.document for record in self.pushed.values()]

    def general_declarations(self) -> set[str]:
        return {d.message_id for d in self.documents() if d.type == "50" and d.function in ("01", "02")}

    def cancellations(self) -> set[str]:
        return {d.message_id for d in self.documents() if d.function == "03"}

    @property
    def cancelled(self) -> bool:
        return any(d.function == "03" for d in self.documents())

    @property
    def amendments(self) -> int:
        return sum(1 for d in self.documents() if d.function == "02")

    @property
    def final(self) -> str | None:
        """The function of the latest final Result (22, 23, 24) given after the latest amendment, or None.

        A decision on a version the agent has since amended is not final: the amended version's
        decision is still to come.
        """
        latest = self.amendments
        finals = [
            r.function
            for r in self.results
            if r.function in FINAL_FUNCTIONS and r.amendments_before == latest
        ]
        return finals[-1] if finals else None

    @property
    def pushes_settled(self) -> bool:
        return all(record.answer is not None for record in self.pushed.values())

    @property
    def done(self) -> bool:
        """Settled and finished (see `finished`)."""
        return finished(
            settled=self.pushes_settled,
            refused_outright=bool(self.rejected and not self.acknowledged),
            cancelled=self.cancelled,
            final=self.final,
        )

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.function] = counts.get(result.function, 0) + 1
        return {
            "document_type": self.document_type,
            "pushed": {message_id: record.as_dict() for message_id, record in self.pushed.items()},
            "acknowledged": list(self.acknowledged),
            "rejected": list(self.rejected),
            "results": counts,
            "result_message_ids": [r.message_id for r in self.results],
            "receipts": sorted({r.receipt for r in self.results if r.receipt}),
            "result_duplicates": self.result_duplicates,
            "result_rejects": list(self.result_rejects),
            "cancelled": self.cancelled,
            "final": self.final,
            "settled": self.pushes_settled,
        }


class NswState:
    """All dossiers, the Results by messageId, and counters."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.dossiers: dict[str, NswDossier] = {}
        # progress() re-judges only dossiers changed since it last looked (`touch`).
        self._done: set[str] = set()
        self._changed: set[str] = set()
        self.results_by_id: dict[str, str] = {}  # Result messageId -> dossier reference
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "pushes",
                "push_failures",
                "push_moves",
                "acknowledged",
                "push_rejected",
                "duplicate_pushes",
                "requests",
                "auth_failures",
                "results",
                "result_duplicates",
                "result_rejects",
                "supplements_answered",
            ),
            0,
        )

    def touch(self, reference: str) -> None:
        """The dossier changed (a push answered, a Result recorded): progress() looks at it again."""
        self._changed.add(reference)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def add(self, document: Document) -> PushRecord:
        dossier = self.dossiers.get(document.reference)
        if dossier is None:
            dossier = self.dossiers[document.reference] = NswDossier(
                document.reference, document.document_type
            )
        record = dossier.pushed.get(document.message_id)
        if record is None:
            record = dossier.pushed[document.message_id] = PushRecord(document)
            self.touch(document.reference)
        return record

    def progress(self, *, pending_pushes: int) -> dict[str, Any]:
        """Counts only, cheap enough to poll while thousands of dossiers run (the snapshot is not)."""
        for reference in self._changed:
            if self.dossiers[reference].done:
                self._done.add(reference)
            else:
                self._done.discard(reference)
        self._changed.clear()
        done = len(self._done)
        return {
            "dossiers": len(self.dossiers),
            "done": done,
            "all_final": bool(self.dossiers) and done == len(self.dossiers),
            "pending_pushes": pending_pushes,
            "results": self.counters["results"],
        }

    def snapshot(self, *, pending_pushes: int) -> dict[str, Any]:
        return {
            "dossiers": {reference: dossier.as_dict() for reference, dossier in self.dossiers.items()},
            "counters": {**self.counters, "dossiers": len(self.dossiers), "pending_pushes": pending_pushes},
        }
