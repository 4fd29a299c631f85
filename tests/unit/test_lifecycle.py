"""The dossier's lifecycle without a database: precedence of documents, completeness, the state
machine's transitions, each event's effect, and any order of the same messages ending alike."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsw_adapter import lifecycle
from nsw_adapter.lifecycle import DossierChanged, DossierState

S = DossierState
T = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)


def test_a_later_send_date_takes_effect() -> None:
    """A document sent later replaces the one in effect."""
    current = lifecycle.precedence(T, "01", "NSW1")
    assert lifecycle.takes_effect(lifecycle.precedence(T + timedelta(seconds=1), "02", "NSW2"), current)


def test_a_stale_amendment_does_not_take_effect() -> None:
    """An amendment sent before the document in effect changes nothing, whatever its arrival."""
    current = lifecycle.precedence(T, "02", "NSW2")
    assert not lifecycle.takes_effect(lifecycle.precedence(T - timedelta(minutes=5), "02", "NSW0"), current)


def test_at_the_same_second_an_amendment_wins_over_a_new_document() -> None:
    """With equal sendDates, the 02 is taken to follow the 01."""
    assert lifecycle.takes_effect(lifecycle.precedence(T, "02", "A"), lifecycle.precedence(T, "01", "Z"))
    assert not lifecycle.takes_effect(lifecycle.precedence(T, "01", "Z"), lifecycle.precedence(T, "02", "A"))


def test_the_first_document_of_a_type_always_takes_effect() -> None:
    """Nothing in effect yet: the document takes effect."""
    assert lifecycle.takes_effect(lifecycle.precedence(T, "01", "NSW1"), None)


def test_missing_types_list_what_the_general_declaration_calls_for() -> None:
    """Missing: each called-for type not present, in order."""
    assert lifecycle.missing_types(frozenset({"50", "51", "64"}), ["50"]) == ["51", "64"]
    assert lifecycle.missing_types(frozenset({"50", "51"}), ["50", "51"]) == []


def test_without_a_general_declaration_it_and_the_crew_list_are_missing() -> None:
    """No General Declaration: it is missing, and the crew list it always calls for."""
    assert lifecycle.missing_types(None, ["64"]) == ["50", "51"]


def test_complete_needs_a_new_document_a_declaration_and_all_it_calls_for() -> None:
    """Complete only when seen (a 01 arrived), with the GD and every type it calls for."""
    called = frozenset({"50", "51"})
    assert lifecycle.is_complete(True, called, ["50", "51"])
    assert not lifecycle.is_complete(False, called, ["50", "51"])
    assert not lifecycle.is_complete(True, None, ["51"])
    assert not lifecycle.is_complete(True, called, ["50"])


def test_incomplete_problems_name_each_missing_document() -> None:
    """E-INCOMPLETE: one problem per missing type, carrying that type."""
    problems = lifecycle.incomplete_problems(["51", "64"])
    assert [(p.code, p.document_type) for p in problems] == [("E-INCOMPLETE", "51"), ("E-INCOMPLETE", "64")]
    assert "Arms Declaration" in problems[1].text


def test_unknown_dossier_problem_points_at_the_reference() -> None:
    """E-UNKNOWN-DOSSIER points at Subject/reference of the message answered."""
    problem = lifecycle.unknown_dossier_problem("HPH-2026-000999", "50")
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
        (S.SUBMITTED, S.SUPPLEMENT_REQUESTED),
        (S.SUPPLEMENT_REQUESTED, S.READY),
        (S.SUPPLEMENT_REQUESTED, S.REJECTED),
        (S.DEAD, S.SUPPLEMENT_REQUESTED),
    ],
)
def test_allowed_transitions_pass(current: DossierState, target: DossierState) -> None:
    """Transitions the state machine lists are allowed."""
    lifecycle.check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVING, S.SUBMITTED),
        (S.READY, S.CLEARED),
        (S.CLEARED, S.SUBMITTING),
        (S.CANCELLED, S.READY),
        (S.REJECTED, S.SUBMITTED),
        (S.RECEIVING, S.DEAD),
        (S.READY, S.SUPPLEMENT_REQUESTED),
        (S.CLEARED, S.SUPPLEMENT_REQUESTED),
        (S.SUPPLEMENT_REQUESTED, S.SUBMITTING),
    ],
)
def test_other_transitions_are_refused(current: DossierState, target: DossierState) -> None:
    """Any transition not listed raises DossierChanged."""
    with pytest.raises(DossierChanged):
        lifecycle.check_transition(current, target)


def test_every_state_has_its_transitions_listed() -> None:
    """The table covers every state, and a cancelled dossier never comes back to life."""
    assert set(lifecycle.TRANSITIONS) == set(DossierState)
    assert lifecycle.TRANSITIONS[S.CANCELLED] <= {S.CANCELLED, S.DEAD}


# --- events -----------------------------------------------------------------------------

DEADLINE = timedelta(minutes=30)


@dataclass(frozen=True)
class Msg:
    """A pushed message as the lifecycle reads it."""

    message_id: str
    type: str
    function: str
    sent: int  # minutes after T
    called_for: frozenset[str] | None = None
    reason: str | None = None

    @property
    def send_date(self) -> datetime:
        return T + timedelta(minutes=self.sent)


GD = Msg("GD1", "50", "01", 0, frozenset({"50", "51"}))
CREW = Msg("CREW1", "51", "01", 0)
CREW_AMENDED = Msg("CREW2", "51", "02", 5)
GD_AMENDED = Msg("GD2", "50", "02", 6, frozenset({"50", "51"}))
CANCEL = Msg("CANCEL", "50", "03", 9, reason="diverted")


def new_dossier() -> lifecycle.Dossier:
    """A dossier as intake creates it."""
    values, _ = lifecycle.created("HPH-2026-000001", "1", "GD1", T, DEADLINE)
    values["state"] = DossierState(values["state"])
    blank = dict.fromkeys(f.name for f in fields(lifecycle.Dossier) if f.name not in values)
    return lifecycle.Dossier(**{**blank, **values, "id": 1})


class Model:
    """One dossier driven by the lifecycle's functions alone, with its documents in effect and
    the Results a worker would enqueue: what the store does, without SQL."""

    def __init__(self) -> None:
        self.dossier = new_dossier()
        self.documents: dict[str, Msg] = {}
        self.held: set[str] = set()
        self.results: list[str] = []

    def apply(self, step: lifecycle.Step | None) -> None:
        if step is not None:
            self.dossier = step.dossier

    def receive(self, message: Msg) -> None:
        if message.message_id in self.held:
            return  # a duplicate is answered 99 again and changes nothing
        self.held.add(message.message_id)
        if message.function == "03":
            self.apply(lifecycle.cancellation_received(self.dossier, message, T))
            return
        in_effect = lifecycle.takes_documents(self.dossier) and self._takes_effect(message)
        present = lambda: list(self.documents)  # noqa: E731
        self.apply(lifecycle.document_received(self.dossier, message, in_effect, present, T, DEADLINE))

    def _takes_effect(self, message: Msg) -> bool:
        current = self.documents.get(message.type)
        rank = lifecycle.precedence(message.send_date, message.function, message.message_id)
        now = (
            None
            if current is None
            else lifecycle.precedence(current.send_date, current.function, current.message_id)
        )
        if lifecycle.takes_effect(rank, now):
            self.documents[message.type] = message
            return True
        return False

    def drain(self) -> None:
        """A worker taking the dossier as far as it goes: submit, receipt, decision, cancellation."""
        present = lambda: list(self.documents)  # noqa: E731
        for _ in range(10):
            d = self.dossier
            if d.state is S.READY:
                self.apply(lifecycle.submission_begun(d, d.version, b"lineage", T))
                receipt = f"R-{self.dossier.version}"
                step = lifecycle.receipt_recorded(
                    self.dossier, receipt, False, None, "21", present, T, DEADLINE
                )
                self.apply(step)
                self.results.append("21")
            elif d.state is S.SUBMITTED:
                self.apply(lifecycle.decided(d, S.CLEARED, T))
                self.results.append("23")
            elif d.state is S.CANCELLED and d.cancel_owed:
                self.apply(lifecycle.cancellation_done(d, T))
                self.results.append("24")
            elif d.state is S.RECEIVING:
                self.apply(lifecycle.deadline_passed(d, list(self.documents), T).step)
                self.results.append("22")
            else:
                return

    def outcome(self) -> tuple[DossierState, list[str], dict[str, str], str | None]:
        documents = {type_: m.message_id for type_, m in self.documents.items()}
        return self.dossier.state, self.results, documents, self.dossier.cancel_receipt


def run(messages: list[Msg]) -> tuple[DossierState, list[str], dict[str, str], str | None]:
    model = Model()
    for message in messages:
        model.receive(message)
    model.drain()
    return model.outcome()


MESSAGE_SETS = [
    [GD, CREW],
    [GD, CREW, CREW_AMENDED],
    [GD, CREW, CREW_AMENDED, GD_AMENDED],
    [GD, CREW, CANCEL],
    [GD, CREW, CREW_AMENDED, CANCEL],
    [CREW_AMENDED, CANCEL],
]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_order_and_duplication_of_the_same_messages_ends_alike(data: st.DataObject) -> None:
    """Whatever the order the NSW pushes a dossier's messages in, and however often each comes,
    the dossier ends in the same state, with the same documents in effect and the same Results."""
    messages = data.draw(st.sampled_from(MESSAGE_SETS))
    extra = data.draw(st.lists(st.sampled_from(messages), max_size=4))
    pushed = data.draw(st.permutations([*messages, *extra]))
    state, results, documents, cancel_receipt = run(pushed)
    expected = run(sorted(messages, key=lambda m: (m.sent, m.function)))
    assert (state, results, cancel_receipt) == (expected[0], expected[1], expected[3])
    if CANCEL not in messages:  # after a cancellation, documents are kept for audit only
        assert documents == expected[2]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([GD, CREW], (S.CLEARED, ["21", "23"], {"50": "GD1", "51": "CREW1"}, None)),
        ([GD, CREW, CREW_AMENDED], (S.CLEARED, ["21", "23"], {"50": "GD1", "51": "CREW2"}, None)),
        ([GD, CREW, CANCEL], (S.CANCELLED, ["24"], {"50": "GD1", "51": "CREW1"}, None)),
        ([CREW_AMENDED, CANCEL], (S.REJECTED_LOCALLY, ["22"], {"51": "CREW2"}, None)),
    ],
)
def test_what_a_set_of_messages_ends_in(messages: list[Msg], expected: object) -> None:
    """The end of each message set (so the property above compares the right things)."""
    assert run(messages) == expected


def submitting(model: Model) -> None:
    """The model's dossier complete and handed to the portal (SUBMITTING)."""
    model.receive(GD)
    model.receive(CREW)
    d = model.dossier
    model.apply(lifecycle.submission_begun(d, d.version, b"lineage", T))


def test_an_amendment_during_a_submission_makes_a_new_version_after_the_receipt() -> None:
    """An amendment while SUBMITTING waits; the receipt then starts version 2, superseding it."""
    model = Model()
    submitting(model)
    model.receive(CREW_AMENDED)
    assert (model.dossier.state, model.dossier.amend_pending) == (S.SUBMITTING, True)
    step = lifecycle.receipt_recorded(
        model.dossier, "R-1", False, None, "21", lambda: ["50", "51"], T, DEADLINE
    )
    assert step is not None
    after = step.dossier
    assert (after.state, after.version, after.supersedes, after.amend_pending) == (S.READY, 2, "R-1", False)
    assert [(e.version, e.from_state, e.to_state) for e in step.history] == [
        (1, S.SUBMITTING, S.SUBMITTED),
        (1, S.SUBMITTED, S.SUBMITTED),
        (2, S.SUBMITTED, S.READY),
    ]


def test_a_cancellation_during_a_submission_cancels_the_receipt() -> None:
    """A cancellation while SUBMITTING waits; the receipt then cancels, owing that receipt's cancel."""
    model = Model()
    submitting(model)
    model.receive(CANCEL)
    assert (model.dossier.state, model.dossier.cancel_requested) == (S.SUBMITTING, True)
    step = lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE)
    assert step is not None
    assert (step.dossier.state, step.dossier.cancel_owed, step.dossier.cancel_receipt) == (
        S.CANCELLED,
        True,
        "R-1",
    )


def test_a_cancellation_starts_its_own_attempts_and_budget() -> None:
    """Cancelling a dossier whose submission was retried resets attempts and the first attempt's time."""
    model = Model()
    submitting(model)
    d = model.dossier
    model.apply(lifecycle.receipt_recorded(d, "R-1", False, None, "21", lambda: [], T, DEADLINE))
    model.apply(lifecycle.deferred(model.dossier, "timeout", T, T))
    assert (model.dossier.attempts, model.dossier.first_attempt_at) == (1, T)
    model.receive(CANCEL)
    assert (model.dossier.state, model.dossier.attempts, model.dossier.first_attempt_at) == (
        S.CANCELLED,
        0,
        None,
    )


def test_an_amendment_before_the_portal_bumps_the_version_in_its_history() -> None:
    """An amendment of a READY dossier never sent: version 2, READY, its history row at version 2."""
    model = Model()
    model.receive(GD)
    model.receive(CREW)
    step = lifecycle.document_received(model.dossier, CREW_AMENDED, True, lambda: ["50", "51"], T, DEADLINE)
    assert (step.dossier.state, step.dossier.version) == (S.READY, 2)
    assert [(e.version, e.to_state) for e in step.history] == [(2, S.READY)]


def test_a_stale_claim_or_a_moved_dossier_is_refused() -> None:
    """Events from a claim of an older version, or for another state, raise DossierChanged."""
    model = Model()
    model.receive(GD)
    model.receive(CREW)
    with pytest.raises(DossierChanged):
        lifecycle.submission_begun(model.dossier, 7, b"", T)
    with pytest.raises(DossierChanged):
        lifecycle.still_pending(model.dossier, T)
    with pytest.raises(DossierChanged):
        lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE)


def test_retried_receipts_and_decisions_change_nothing() -> None:
    """The same receipt or decision recorded twice: the second is a no-op (None)."""
    model = Model()
    submitting(model)
    model.apply(lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE))
    assert (
        lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE) is None
    )
    model.apply(lifecycle.decided(model.dossier, S.CLEARED, T))
    assert lifecycle.decided(model.dossier, S.CLEARED, T) is None


def test_a_dead_letter_goes_back_to_where_it_died() -> None:
    """A dossier dead while SUBMITTING comes back READY with a fresh budget; one dead later, as it was."""
    model = Model()
    submitting(model)
    model.apply(lifecycle.dead_lettered(model.dossier, "budget", T))
    assert (model.dossier.state, model.dossier.dead_from) == (S.DEAD, "submitting")
    model.apply(lifecycle.dead_letter_retried(model.dossier, T))
    assert (model.dossier.state, model.dossier.attempts, model.dossier.dead_from) == (S.READY, 0, None)


def test_cancelling_a_discarded_dossier_that_holds_a_receipt_withdraws_it_at_the_portal() -> None:
    """A discarded dead letter with a receipt, then cancelled, owes CancelDeclaration of that receipt."""
    model = Model()
    submitting(model)
    model.apply(lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE))
    model.apply(lifecycle.dead_lettered(model.dossier, "NOT_FOUND", T))
    model.apply(lifecycle.discarded(model.dossier, T))
    model.receive(CANCEL)
    assert (model.dossier.state, model.dossier.cancel_receipt) == (S.CANCELLED, "R-1")


# --- supplement requests ------------------------------------------------------------------


def requested(model: Model, number: str = "YC1") -> lifecycle.Step:
    """The model's dossier submitted (receipt R-1) and then asked for more (request `number`)."""
    submitting(model)
    model.apply(lifecycle.receipt_recorded(model.dossier, "R-1", False, None, "21", lambda: [], T, DEADLINE))
    step = lifecycle.supplement_requested(model.dossier, number, T, T)
    assert step is not None
    model.apply(step)
    return step


def test_a_request_is_announced_once_and_still_polled() -> None:
    """The first poll showing a request moves the dossier; the same request again is a no-op; the
    dossier keeps being polled (still_pending applies) and is decided as from SUBMITTED."""
    model = Model()
    step = requested(model)
    assert (model.dossier.state, model.dossier.supplement_request) == (S.SUPPLEMENT_REQUESTED, "YC1")
    assert [(e.from_state, e.to_state, e.cause) for e in step.history] == [
        (S.SUBMITTED, S.SUPPLEMENT_REQUESTED, "supplement request YC1")
    ]
    assert lifecycle.supplement_requested(model.dossier, "YC1", T, T) is None
    model.apply(lifecycle.still_pending(model.dossier, T + timedelta(minutes=1)))
    decided = lifecycle.decided(model.dossier, S.CLEARED, T)
    assert decided is not None
    assert decided.dossier.state is S.CLEARED
    assert decided.supplement == ("YC1", lifecycle.SupplementOutcome.DECIDED)


def test_an_amendment_answers_a_request_with_a_version_superseding_its_receipt() -> None:
    model = Model()
    requested(model)
    step = lifecycle.document_received(model.dossier, CREW_AMENDED, True, lambda: ["50", "51"], T, DEADLINE)
    after = step.dossier
    assert (after.state, after.version, after.supersedes, after.supplement_request) == (
        S.READY,
        2,
        "R-1",
        None,
    )
    assert step.supplement == ("YC1", lifecycle.SupplementOutcome.ANSWERED)


def test_a_stale_amendment_does_not_answer_a_request() -> None:
    """An 02 older than the document in effect (sendDate order) leaves the request open."""
    model = Model()
    requested(model)
    stale = Msg("CREW0", "51", "02", -5)
    model.receive(stale)
    assert model.dossier.state is S.SUPPLEMENT_REQUESTED


def test_an_expiry_and_a_cancellation_end_a_request_so() -> None:
    model = Model()
    requested(model)
    expired = lifecycle.decided(model.dossier, S.REJECTED, T, expired=True)
    assert expired is not None
    assert expired.supplement == ("YC1", lifecycle.SupplementOutcome.EXPIRED)
    other = Model()
    requested(other)
    cancelled = lifecycle.cancellation_received(other.dossier, CANCEL, T)
    assert (cancelled.dossier.state, cancelled.dossier.cancel_receipt) == (S.CANCELLED, "R-1")
    assert cancelled.supplement == ("YC1", lifecycle.SupplementOutcome.CANCELLED)


def test_a_request_needs_a_receipt_being_polled() -> None:
    model = Model()
    submitting(model)
    with pytest.raises(DossierChanged):
        lifecycle.supplement_requested(model.dossier, "YC1", T, T)
