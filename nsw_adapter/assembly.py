"""Dossier assembly rules: which document is in effect, when a dossier is complete, what may follow what.

Pure functions, no I/O: the store applies them inside its transactions. See the module
docstring of `nsw_adapter.store.base` for how they combine (amendments, cancellations,
E-UNKNOWN-DOSSIER, E-INCOMPLETE).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from nsw_adapter.envelope import AMENDMENT, CONTENT_ELEMENTS
from nsw_adapter.errors import Problem
from nsw_adapter.store.base import DossierChanged, DossierState

S = DossierState
GENERAL_DECLARATION = "50"

#: Every transition the state machine allows (a self-transition is listed when it is one).
TRANSITIONS: dict[DossierState, frozenset[DossierState]] = {
    S.RECEIVING: frozenset({S.READY, S.REJECTED_LOCALLY, S.CANCELLED}),
    S.READY: frozenset({S.RECEIVING, S.SUBMITTING, S.REJECTED_LOCALLY, S.CANCELLED, S.DEAD}),
    S.SUBMITTING: frozenset({S.READY, S.SUBMITTED, S.REJECTED_LOCALLY, S.DEAD}),
    S.SUBMITTED: frozenset({S.RECEIVING, S.READY, S.CLEARED, S.REJECTED, S.CANCELLED, S.DEAD}),
    # A receipt or a rejection can be followed by an amendment: a new version.
    S.CLEARED: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    S.REJECTED: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    S.REJECTED_LOCALLY: frozenset({S.RECEIVING, S.READY, S.CANCELLED}),
    # CANCELLED -> CANCELLED: the owed cancellation was confirmed (24 enqueued).
    S.CANCELLED: frozenset({S.CANCELLED, S.DEAD}),
    S.DEAD: frozenset({S.READY, S.SUBMITTED, S.CANCELLED, S.DISCARDED}),
    # Closed by an operator; a later cancellation still withdraws what the portal may hold.
    S.DISCARDED: frozenset({S.CANCELLED}),
}

#: States in which an amendment makes a new version (the portal has, or had, a version).
NEW_VERSION_STATES = frozenset({S.SUBMITTED, S.CLEARED, S.REJECTED, S.REJECTED_LOCALLY})

#: Document type names for readable E-INCOMPLETE texts (no personal data).
DOCUMENT_NAMES: dict[str, str] = {
    "50": "General Declaration",
    "51": "Crew List",
    "52": "Passenger List",
    "64": "Arms Declaration",
    "65": "Stowaway Declaration",
}


def check_transition(current: DossierState, target: DossierState) -> None:
    """Raise DossierChanged unless the state machine allows current -> target."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise DossierChanged(f"a dossier in state {current} cannot become {target}")


Precedence = tuple[datetime, int, str]


def precedence(send_date: datetime, function: str, message_id: str) -> Precedence:
    """Ordering of documents of one type: sendDate, then an amendment over a new one, then messageId."""
    return (send_date, 1 if function == AMENDMENT else 0, message_id)


def takes_effect(candidate: Precedence, current: Precedence | None) -> bool:
    """Whether a document replaces the one in effect (a stale one arriving late never does)."""
    return current is None or candidate > current


def missing_types(called_for: Collection[str] | None, present: Iterable[str]) -> list[str]:
    """Document types still missing: the General Declaration first, then what it calls for."""
    have = set(present)
    if GENERAL_DECLARATION not in have or called_for is None:
        wanted = {GENERAL_DECLARATION, "51"} | set(called_for or ())
    else:
        wanted = set(called_for)
    return sorted(t for t in wanted if t not in have)


def is_complete(seen: bool, called_for: Collection[str] | None, present: Iterable[str]) -> bool:
    """Complete: a 01 has arrived, a General Declaration is in effect, and all it calls for."""
    return seen and called_for is not None and not missing_types(called_for, present)


def incomplete_problems(missing: Iterable[str]) -> list[Problem]:
    """E-INCOMPLETE problems, one per missing document type."""
    problems = []
    for type_ in missing:
        name = DOCUMENT_NAMES.get(type_, f"document type {type_}")
        if type_ == GENERAL_DECLARATION:
            text = "The General Declaration has not arrived within the dossier's deadline."
        else:
            text = f"The General Declaration calls for a {name}, which has not arrived within the deadline."
        problems.append(Problem("E-INCOMPLETE", text, None, type_))
    return problems


def unknown_dossier_problem(reference: str, type_: str | None) -> Problem:
    """The E-UNKNOWN-DOSSIER problem for amendments/cancellations of a dossier never seen."""
    return Problem(
        "E-UNKNOWN-DOSSIER",
        f"No dossier {reference} has been received: an amendment or cancellation needs its documents.",
        "/Envelope/Header/Subject/reference",
        type_,
    )


def is_document_type(type_: str) -> bool:
    """Whether `type_` is one of the NSW's document types."""
    return type_ in CONTENT_ELEMENTS
