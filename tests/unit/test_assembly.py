"""Dossier assembly rules: precedence of documents, completeness, and the state machine's transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nsw_adapter import assembly
from nsw_adapter.store import DossierChanged, DossierState

S = DossierState
T = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)


def test_a_later_send_date_takes_effect() -> None:
    """A document sent later replaces the one in effect."""
    current = assembly.precedence(T, "01", "NSW1")
    assert assembly.takes_effect(assembly.precedence(T + timedelta(seconds=1), "02", "NSW2"), current)


def test_a_stale_amendment_does_not_take_effect() -> None:
    """An amendment sent before the document in effect changes nothing, whatever its arrival."""
    current = assembly.precedence(T, "02", "NSW2")
    assert not assembly.takes_effect(assembly.precedence(T - timedelta(minutes=5), "02", "NSW0"), current)


def test_at_the_same_second_an_amendment_wins_over_a_new_document() -> None:
    """With equal sendDates, the 02 is taken to follow the 01."""
    assert assembly.takes_effect(assembly.precedence(T, "02", "A"), assembly.precedence(T, "01", "Z"))
    assert not assembly.takes_effect(assembly.precedence(T, "01", "Z"), assembly.precedence(T, "02", "A"))


def test_the_first_document_of_a_type_always_takes_effect() -> None:
    """Nothing in effect yet: the document takes effect."""
    assert assembly.takes_effect(assembly.precedence(T, "01", "NSW1"), None)


def test_missing_types_list_what_the_general_declaration_calls_for() -> None:
    """Missing: each called-for type not present, in order."""
    assert assembly.missing_types(frozenset({"50", "51", "64"}), ["50"]) == ["51", "64"]
    assert assembly.missing_types(frozenset({"50", "51"}), ["50", "51"]) == []


def test_without_a_general_declaration_it_and_the_crew_list_are_missing() -> None:
    """No General Declaration: it is missing, and the crew list it always calls for."""
    assert assembly.missing_types(None, ["64"]) == ["50", "51"]


def test_complete_needs_a_new_document_a_declaration_and_all_it_calls_for() -> None:
    """Complete only when seen (a 01 arrived), with the GD and every type it calls for."""
    called = frozenset({"50", "51"})
    assert assembly.is_complete(True, called, ["50", "51"])
    assert not assembly.is_complete(False, called, ["50", "51"])
    assert not assembly.is_complete(True, None, ["51"])
    assert not assembly.is_complete(True, called, ["50"])


def test_incomplete_problems_name_each_missing_document() -> None:
    """E-INCOMPLETE: one problem per missing type, carrying that type."""
    problems = assembly.incomplete_problems(["51", "64"])
    assert [(p.code, p.document_type) for p in problems] == [("E-INCOMPLETE", "51"), ("E-INCOMPLETE", "64")]
    assert "Arms Declaration" in problems[1].text


def test_unknown_dossier_problem_points_at_the_reference() -> None:
    """E-UNKNOWN-DOSSIER points at Subject/reference of the message answered."""
    problem = assembly.unknown_dossier_problem("HPH-2026-000999", "50")
    assert problem.code == "E-UNKNOWN-DOSSIER"
    assert problem.xpath == "/Envelope/Header/Subject/reference"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVING, S.READY),
        (S.READY, S.SUBMITTING),
        (S.SUBMITTING, S.SUBMITTED),
        (S.SUBMITTING, S.READY),
        (S.SUBMITTED, S.CLEARED),
        (S.SUBMITTED, S.READY),
        (S.CANCELLED, S.CANCELLED),
        (S.DEAD, S.READY),
    ],
)
def test_allowed_transitions_pass(current: DossierState, target: DossierState) -> None:
    """Transitions the state machine lists are allowed."""
    assembly.check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVING, S.SUBMITTED),
        (S.READY, S.CLEARED),
        (S.CLEARED, S.SUBMITTING),
        (S.CANCELLED, S.READY),
        (S.REJECTED, S.SUBMITTED),
        (S.RECEIVING, S.DEAD),
    ],
)
def test_other_transitions_are_refused(current: DossierState, target: DossierState) -> None:
    """Any transition not listed raises DossierChanged."""
    with pytest.raises(DossierChanged):
        assembly.check_transition(current, target)


def test_every_state_has_its_transitions_listed() -> None:
    """The table covers every state, and a cancelled dossier never comes back to life."""
    assert set(assembly.TRANSITIONS) == set(DossierState)
    assert assembly.TRANSITIONS[S.CANCELLED] <= {S.CANCELLED, S.DEAD}
