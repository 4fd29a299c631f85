"""The Store contract, run against SQLite and PostgreSQL alike (the `store` fixture is parametrised)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from lxml import etree

from nsw_adapter.clients.cancellation import cancel_request, portal_reason
from nsw_adapter.errors import Problem
from nsw_adapter.store import (
    DossierChanged,
    DossierState,
    IntakeOutcome,
    OutgoingMessage,
    PollOutcome,
    ReceiptRecord,
    SqlStore,
    SubmissionStart,
    UnknownRecord,
)
from nsw_adapter.store.intake import receive_batch
from tests.support.store import (
    Clock,
    RecordingRejections,
    begin_submission,
    incoming,
    record_decision,
    record_pending,
    record_receipt,
    result,
)

S = DossierState
REF = "HPH-2026-000123"


def state(store: SqlStore, reference: str = REF, document_type: str = "1") -> DossierState | None:
    view = store.describe(reference, document_type)
    return None if view is None else view.state


def complete(store: SqlStore, reference: str = REF, prefix: str = "NSW1") -> None:
    store.receive(incoming(f"{prefix}GD", "50", reference=reference))
    store.receive(incoming(f"{prefix}CL", "51", reference=reference, sent_minute=1))


def submitted(store: SqlStore, receipt: str = "CKCHPG-2026-000001") -> int:
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<Submission/>", b"{}", version=claim.version)
    record_receipt(store, claim.dossier_id, receipt, False, result("21"))
    return claim.dossier_id


def all_submitted(store: SqlStore, *references: str) -> list[int]:
    """Several dossiers made SUBMITTED (receipt R-<id>, each with its 21); their ids in order."""
    for n, reference in enumerate(references):
        complete(store, reference, prefix=f"NSW{reference[-3:]}{n}")
    ids = []
    for claim in store.claim_ready("w1", 10, 30):
        begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
        record_receipt(store, claim.dossier_id, f"R-{claim.dossier_id}", False, result("21"))
        ids.append(claim.dossier_id)
    return ids


# --- lifecycle ------------------------------------------------------------------------------


def test_migrate_is_idempotent(store: SqlStore) -> None:
    """Running the migrations again on an up-to-date schema changes nothing and fails nothing."""
    store.migrate()
    store.migrate()
    assert store.describe(REF, "1") is None


# --- intake ---------------------------------------------------------------------------------


def test_a_message_is_stored_once_and_a_repush_is_a_duplicate(store: SqlStore) -> None:
    """A re-pushed messageId is answered DUPLICATE and nothing is stored twice."""
    message = incoming("NSW0001")
    assert store.receive(message) is IntakeOutcome.STORED
    assert store.receive(message) is IntakeOutcome.DUPLICATE
    view = store.describe(REF, "1")
    assert view is not None
    assert [(e.direction, e.message_id) for e in view.messages] == [("in", "NSW0001")]
    assert view.messages[0].payload == message.raw
    assert view.messages[0].sha256 == message.sha256


def test_the_general_declaration_and_its_crew_list_make_a_ready_dossier(store: SqlStore) -> None:
    """A dossier with its GD and every document the GD calls for becomes READY."""
    store.receive(incoming("NSW1", "50"))
    assert state(store) is S.RECEIVING
    store.receive(incoming("NSW2", "51", sent_minute=1))
    assert state(store) is S.READY
    [claim] = store.claim_ready("w1", 10, 30)
    assert claim.reference == REF
    assert claim.general_declaration_message_id == "NSW1"
    assert [b"NSW1" in doc for doc in claim.documents] == [True, False]
    assert claim.client_message_id


def test_documents_arriving_out_of_order_still_assemble(store: SqlStore) -> None:
    """Lists arriving before their General Declaration wait for it, then the dossier is READY."""
    called = frozenset({"50", "51", "52", "64"})
    store.receive(incoming("NSW4", "64", sent_minute=3))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    assert state(store) is S.RECEIVING
    store.receive(incoming("NSW1", "50", called_for=called))
    assert state(store) is S.RECEIVING  # the passenger list is still missing
    store.receive(incoming("NSW3", "52", sent_minute=2))
    assert state(store) is S.READY


def test_directions_are_separate_dossiers(store: SqlStore) -> None:
    """Arrival and departure with the same dossier number are two dossiers."""
    store.receive(incoming("NSW1", "50", document_type="1"))
    store.receive(incoming("NSW2", "50", document_type="2"))
    assert state(store, REF, "1") is S.RECEIVING
    assert state(store, REF, "2") is S.RECEIVING


def test_an_amendment_replaces_the_document_of_its_type(store: SqlStore) -> None:
    """An 02 with a later sendDate becomes the document in effect."""
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    store.receive(incoming("NSW2A", "51", "02", sent_minute=5))
    view = store.describe(REF, "1")
    assert view is not None
    assert view.documents == {"50": "NSW1", "51": "NSW2A"}


def test_a_stale_amendment_arriving_late_never_overwrites_a_newer_one(store: SqlStore) -> None:
    """Of two amendments, the one with the later sendDate stays in effect whatever the arrival order."""
    complete(store)
    store.receive(incoming("NSW-NEW", "51", "02", sent_minute=10))
    store.receive(incoming("NSW-OLD", "51", "02", sent_minute=5))
    view = store.describe(REF, "1")
    assert view is not None
    assert view.documents["51"] == "NSW-NEW"
    assert {e.message_id for e in view.messages} >= {"NSW-NEW", "NSW-OLD"}  # both kept for audit


def test_an_amendment_arriving_before_its_original_is_not_lost(store: SqlStore) -> None:
    """An 02 that overtakes its 01 stays in effect (it completes the dossier: READY); the late 01
    is only kept."""
    store.receive(incoming("NSW1", "50"))
    assert store.receive(incoming("NSW2A", "51", "02", sent_minute=5)) is IntakeOutcome.READY
    assert store.receive(incoming("NSW2", "51", sent_minute=1)) is IntakeOutcome.STORED
    view = store.describe(REF, "1")
    assert view is not None
    assert view.documents["51"] == "NSW2A"
    assert view.state is S.READY


def test_a_dossier_with_only_amendments_is_unknown_until_its_first_new_document(store: SqlStore) -> None:
    """Only 02 messages: stored (UNKNOWN_DOSSIER), not READY even when every type is there."""
    assert store.receive(incoming("NSW1A", "50", "02", sent_minute=5)) is IntakeOutcome.UNKNOWN_DOSSIER
    assert store.receive(incoming("NSW2A", "51", "02", sent_minute=6)) is IntakeOutcome.UNKNOWN_DOSSIER
    assert state(store) is S.RECEIVING
    store.receive(incoming("NSW1", "50"))
    assert state(store) is S.READY


# --- deadline -------------------------------------------------------------------------------


def test_an_incomplete_dossier_is_rejected_at_its_deadline_with_e_incomplete(
    store: SqlStore, clock: Clock
) -> None:
    """At the deadline a dossier missing a called-for document is REJECTED_LOCALLY, its 22 enqueued."""
    store.receive(incoming("NSW1", "50", called_for=frozenset({"50", "51", "64"})))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    rejections = RecordingRejections()
    assert store.expire_incomplete(clock.now + timedelta(minutes=29), rejections) == 0
    assert store.expire_incomplete(clock.now + timedelta(minutes=31), rejections) == 1
    [(reference, document_type, pre_reference, problems)] = rejections.calls
    assert (reference, document_type, pre_reference) == (REF, "1", "NSW1")
    assert [(p.code, p.document_type) for p in problems] == [("E-INCOMPLETE", "64")]
    assert state(store) is S.REJECTED_LOCALLY
    [item] = store.claim_outbox("w1", 10, 30, clock.now + timedelta(minutes=31))
    assert item.function == "22"


def test_a_lone_cancellation_is_an_unknown_dossier_at_its_deadline(store: SqlStore, clock: Clock) -> None:
    """A cancellation of a dossier never seen is rejected E-UNKNOWN-DOSSIER, answering that message."""
    outcome = store.receive(incoming("NSW9", "50", "03", reference="HPH-2026-000999", reason="x"))
    assert outcome is IntakeOutcome.UNKNOWN_DOSSIER
    rejections = RecordingRejections()
    assert store.expire_incomplete(clock.now + timedelta(minutes=31), rejections) == 1
    [(reference, _, pre_reference, problems)] = rejections.calls
    assert (reference, pre_reference) == ("HPH-2026-000999", "NSW9")
    assert [p.code for p in problems] == ["E-UNKNOWN-DOSSIER"]
    assert state(store, "HPH-2026-000999") is S.REJECTED_LOCALLY


# --- cancellation ---------------------------------------------------------------------------


def test_cancelling_an_unsubmitted_dossier_owes_only_the_24(store: SqlStore, clock: Clock) -> None:
    """A cancellation before submission: CANCELLED, a cancellation without receipt owed, then the 24."""
    complete(store)
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="diverted"))
    assert state(store) is S.CANCELLED
    assert store.claim_ready("w1", 10, 30) == []
    [owed] = store.claim_cancellations("w1", 10, 30)
    assert (owed.receipt_number, owed.reason, owed.cancellation_message_id) == (None, "diverted", "NSW3")
    store.finish_cancellation(owed.dossier_id, result("24"), None)
    assert store.claim_cancellations("w1", 10, 30) == []
    assert [i.function for i in store.claim_outbox("w1", 10, 30, clock.now)] == ["24"]


def test_cancelling_a_submitted_dossier_owes_a_portal_cancellation(store: SqlStore, clock: Clock) -> None:
    """A cancellation after the receipt: CancelDeclaration of that receipt is owed; polling stops."""
    dossier_id = submitted(store, "R-1")
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="diverted"))
    assert state(store) is S.CANCELLED
    assert store.claim_polls("w1", 100, 30, clock.now) == []
    [owed] = store.claim_cancellations("w1", 10, 30)
    assert (owed.dossier_id, owed.receipt_number) == (dossier_id, "R-1")


def test_a_cancellation_during_submission_waits_for_the_receipt(store: SqlStore) -> None:
    """Cancelled while SUBMITTING: the receipt is recorded (21), then the portal cancellation is owed."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<Submission/>", b"{}")
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="r"))
    assert state(store) is S.SUBMITTING
    record_receipt(store, claim.dossier_id, "R-7", False, result("21"))
    assert state(store) is S.CANCELLED
    [owed] = store.claim_cancellations("w1", 10, 30)
    assert owed.receipt_number == "R-7"


def test_a_cancellation_before_its_dossier_applies_once_the_dossier_arrives(store: SqlStore) -> None:
    """A 03 overtaking the documents it cancels: when they arrive, the dossier is CANCELLED, not submitted."""
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="r"))
    store.receive(incoming("NSW1", "50"))
    store.receive(incoming("NSW2", "51", sent_minute=1))
    assert state(store) is S.CANCELLED
    assert store.claim_ready("w1", 10, 30) == []
    [owed] = store.claim_cancellations("w1", 10, 30)
    assert owed.receipt_number is None


def test_messages_after_a_cancellation_change_nothing(store: SqlStore) -> None:
    """A cancellation is final: a later amendment is stored for audit only."""
    complete(store)
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="r"))
    store.receive(incoming("NSW4", "51", "02", sent_minute=10))
    view = store.describe(REF, "1")
    assert view is not None
    assert view.state is S.CANCELLED
    assert view.documents["51"] == "NSW1CL"


# --- amendments and versions ----------------------------------------------------------------


def test_an_amendment_after_submission_makes_a_new_version_superseding_the_receipt(store: SqlStore) -> None:
    """After a receipt an amendment makes version 2: READY, supersedes the receipt, a new ClientMessageId."""
    dossier_id = submitted(store, "R-1")
    before = store.describe(REF, "1")
    store.receive(incoming("NSW2A", "51", "02", sent_minute=20))
    view = store.describe(REF, "1")
    assert before is not None
    assert view is not None
    assert (view.state, view.version, view.supersedes) == (S.READY, 2, "R-1")
    assert view.client_message_id != before.client_message_id
    assert any("superseded" in h.cause and h.version == 1 for h in view.history)
    [claim] = store.claim_ready("w1", 10, 30)
    assert (claim.dossier_id, claim.version, claim.supersedes) == (dossier_id, 2, "R-1")
    assert any(b"NSW2A" in doc for doc in claim.documents)


def test_an_amendment_while_ready_makes_the_earlier_claim_stale(store: SqlStore) -> None:
    """A claim made before an amendment cannot begin its submission: DossierChanged."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    store.receive(incoming("NSW2A", "51", "02", sent_minute=5))
    with pytest.raises(DossierChanged):
        begin_submission(store, claim.dossier_id, b"<S/>", b"{}", version=claim.version)
    [again] = store.claim_ready("w2", 10, 30)
    assert again.version == claim.version + 1
    begin_submission(store, again.dossier_id, b"<S/>", b"{}", version=again.version)


def test_an_amendment_during_submission_keeps_the_submission_in_flight(store: SqlStore) -> None:
    """Amended while SUBMITTING: the receipt is recorded, then a new version supersedes it."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    store.receive(incoming("NSW2A", "51", "02", sent_minute=5))
    assert state(store) is S.SUBMITTING
    record_receipt(store, claim.dossier_id, "R-1", False, result("21"))
    view = store.describe(REF, "1")
    assert view is not None
    assert (view.state, view.version, view.supersedes) == (S.READY, 2, "R-1")


def test_an_amendment_after_a_local_rejection_reopens_the_dossier(store: SqlStore) -> None:
    """The agent fixes a rejected dossier with an amendment: a new version is READY again."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    store.reject_locally(claim.dossier_id, [Problem("E-IMO", "bad")], result("22"))
    assert state(store) is S.REJECTED_LOCALLY
    store.receive(incoming("NSW1A", "50", "02", sent_minute=7))
    assert state(store) is S.READY


# --- the state machine ----------------------------------------------------------------------


def test_transitions_not_allowed_are_refused(store: SqlStore) -> None:
    """A receipt for a dossier not being submitted, or a decision for one not submitted, is refused."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    with pytest.raises(DossierChanged):
        record_receipt(store, claim.dossier_id, "R-1", False, result("21"))
    with pytest.raises(DossierChanged):
        record_decision(store, claim.dossier_id, S.CLEARED, result("23"))
    assert state(store) is S.READY


def test_every_transition_leaves_a_history_row(store: SqlStore, clock: Clock) -> None:
    """The history lists each state change with its cause, in order."""
    dossier_id = submitted(store, "R-1")
    [poll] = store.claim_polls("w1", 100, 30, clock.now)
    record_decision(store, poll.dossier_id, S.CLEARED, result("23"))
    view = store.describe(REF, "1")
    assert view is not None
    assert view.dossier_id == dossier_id
    assert [(h.from_state, h.to_state) for h in view.history] == [
        (None, "receiving"),
        ("receiving", "ready"),
        ("ready", "submitting"),
        ("submitting", "submitted"),
        ("submitted", "cleared"),
    ]
    assert view.history[0].cause == "NSW1GD"
    assert view.history[3].cause == "receipt R-1"


def test_retried_receipt_and_decision_are_not_recorded_twice(store: SqlStore, clock: Clock) -> None:
    """Recording the same receipt or decision again is a no-op: one 21, one 23."""
    dossier_id = submitted(store, "R-1")
    record_receipt(store, dossier_id, "R-1", False, result("21"))
    record_decision(store, dossier_id, S.CLEARED, result("23"))
    record_decision(store, dossier_id, S.CLEARED, result("23"))
    sent = []
    for _ in range(3):
        for item in store.claim_outbox("w1", 10, 30, clock.now):
            sent.append(item.function)
            store.mark_sent(item.outbox_id)
    assert sent == ["21", "23"]


# --- leases and claims ----------------------------------------------------------------------


def test_a_claimed_dossier_is_not_handed_to_another_worker(store: SqlStore) -> None:
    """While w1 holds the lease, w2 gets nothing."""
    complete(store)
    assert len(store.claim_ready("w1", 10, 30)) == 1
    assert store.claim_ready("w2", 10, 30) == []


def test_an_expired_lease_is_taken_over(store: SqlStore, clock: Clock) -> None:
    """After its lease runs out, a dead worker's dossier goes to another worker."""
    complete(store)
    store.claim_ready("w1", 10, 30)
    clock.advance(seconds=31)
    [claim] = store.claim_ready("w2", 10, 30)
    assert claim.reference == REF


def test_a_heartbeat_keeps_the_lease(store: SqlStore, clock: Clock) -> None:
    """A worker that heartbeats keeps its dossier past the first lease's end."""
    complete(store)
    store.claim_ready("w1", 10, 30)
    clock.advance(seconds=20)
    assert store.heartbeat("w1", 30) == 1
    clock.advance(seconds=20)
    assert store.claim_ready("w2", 10, 30) == []


def test_release_drops_a_workers_leases(store: SqlStore) -> None:
    """A graceful shutdown releases the worker's dossiers at once."""
    complete(store)
    store.claim_ready("w1", 10, 30)
    assert store.release("w1") == 1
    assert len(store.claim_ready("w2", 10, 30)) == 1


def test_a_submission_whose_worker_died_is_retried_with_the_same_client_message_id(
    store: SqlStore, clock: Clock
) -> None:
    """SUBMITTING past its lease goes back to READY, same ClientMessageId (the portal dedups)."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    assert store.claim_ready("w2", 10, 30) == []
    clock.advance(seconds=31)
    [again] = store.claim_ready("w2", 10, 30)
    assert again.client_message_id == claim.client_message_id
    assert state(store) is S.READY


def test_defer_counts_the_attempt_and_waits(store: SqlStore, clock: Clock) -> None:
    """A deferred dossier is not handed out before its retry time, then with attempts counted."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    store.defer(claim.dossier_id, "portal unavailable", clock.now + timedelta(seconds=60))
    assert state(store) is S.READY
    assert store.claim_ready("w1", 10, 30) == []
    clock.advance(seconds=61)
    [again] = store.claim_ready("w1", 10, 30)
    assert again.attempts == 1


def test_deferred_work_is_brought_forward_when_its_service_is_back(store: SqlStore, clock: Clock) -> None:
    """Brought forward: the dossiers deferred for the portal, the Results deferred for the NSW,
    each due now with its attempts kept; nothing else (a submitted dossier's poll keeps its time)."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    store.defer(claim.dossier_id, "portal unavailable", clock.now + timedelta(minutes=2))
    [dossier_id] = all_submitted(store, "HPH-2026-000124")
    record_pending(store, dossier_id, clock.now + timedelta(minutes=5))
    [item] = store.claim_outbox("w1", 10, 30, clock.now)
    store.defer_outbox(item.outbox_id, "nsw down", clock.now + timedelta(minutes=2))
    assert store.claim_ready("w1", 10, 30) == []
    assert store.claim_outbox("w1", 10, 30, clock.now) == []

    assert store.bring_forward_dossiers() == 1
    [again] = store.claim_ready("w1", 10, 30)
    assert (again.dossier_id, again.attempts) == (claim.dossier_id, 1)
    assert store.claim_polls("w1", 100, 30, clock.now) == []  # polls are not deferrals
    assert store.bring_forward_results() == 1
    [result_again] = store.claim_outbox("w1", 10, 30, clock.now)
    assert (result_again.outbox_id, result_again.attempts) == (item.outbox_id, 1)


def test_polls_are_due_then_backed_off(store: SqlStore, clock: Clock) -> None:
    """A submitted dossier is polled now, then not before record_pending's time."""
    submitted(store, "R-1")
    [poll] = store.claim_polls("w1", 100, 30, clock.now)
    assert poll.receipt_number == "R-1"
    assert poll.lineage == b"{}"
    record_pending(store, poll.dossier_id, clock.now + timedelta(minutes=2))
    assert store.claim_polls("w1", 100, 30, clock.now + timedelta(minutes=1)) == []
    assert len(store.claim_polls("w1", 100, 30, clock.now + timedelta(minutes=3))) == 1


# --- outbox ---------------------------------------------------------------------------------


def test_one_dossiers_results_go_out_in_order(store: SqlStore, clock: Clock) -> None:
    """A dossier's 23 is not handed out while its 21 is unsent."""
    dossier_id = submitted(store, "R-1")
    record_decision(store, dossier_id, S.CLEARED, result("23"))
    [first] = store.claim_outbox("w1", 10, 30, clock.now)
    assert first.function == "21"
    assert store.claim_outbox("w2", 10, 30, clock.now) == []
    store.defer_outbox(first.outbox_id, "nsw down", clock.now + timedelta(seconds=10))
    assert store.claim_outbox("w2", 10, 30, clock.now) == []  # still blocked behind the 21
    clock.advance(seconds=11)
    [again] = store.claim_outbox("w2", 10, 30, clock.now)
    assert (again.function, again.attempts) == ("21", 1)
    store.mark_sent(again.outbox_id)
    [second] = store.claim_outbox("w2", 10, 30, clock.now)
    assert second.function == "23"


def test_dead_letters_are_listed_and_retried(store: SqlStore, clock: Clock) -> None:
    """A dead dossier and a dead result are listed with their reason and can be brought back."""
    dossier_id = submitted(store, "R-1")
    [item] = store.claim_outbox("w1", 10, 30, clock.now)
    store.dead_letter_outbox(item.outbox_id, "NSW refused")
    [poll] = store.claim_polls("w1", 100, 30, clock.now)
    store.dead_letter(poll.dossier_id, "NOT_FOUND")
    letters = {(x.kind, x.id): x for x in store.dead_letters()}
    assert letters[("dossier", dossier_id)].reason == "NOT_FOUND"
    assert letters[("dossier", dossier_id)].payload == b"<Submission/>"  # what went to the portal
    assert letters[("outbox", item.outbox_id)].payload == item.payload
    assert store.stats(clock.now).dead_letters == 2
    assert store.retry_dead_letter("dossier", dossier_id)
    assert store.retry_dead_letter("outbox", item.outbox_id)
    assert not store.retry_dead_letter("outbox", item.outbox_id)
    assert state(store) is S.SUBMITTED
    assert store.dead_letters() == []


# --- operations -----------------------------------------------------------------------------


def test_stats_count_states_backlog_and_the_oldest_waiting(store: SqlStore, clock: Clock) -> None:
    """stats() shows dossiers by state, the outbox backlog and how long the oldest has waited."""
    submitted(store, "R-1")
    store.receive(incoming("NSW9", "50", reference="HPH-2026-000124"))
    stats = store.stats(clock.now + timedelta(seconds=90))
    assert stats.dossiers_by_state == {"submitted": 1, "receiving": 1}
    assert stats.outbox_pending == 1
    assert stats.oldest_waiting_seconds == pytest.approx(90)


def test_refused_envelopes_are_kept_for_audit(store: SqlStore) -> None:
    """record_refused keeps the bytes and problems of an envelope answered 22."""
    store.record_refused(b"not xml", "ab" * 32, [Problem("E-ENVELOPE", "not well-formed")])
    assert store.stats(store.now()).dossiers_by_state == {}


def test_purge_removes_old_payloads_of_finished_dossiers_but_keeps_audit_rows(
    store: SqlStore, clock: Clock
) -> None:
    """Payloads of a finished dossier past retention are removed; its audit rows and hashes stay."""
    dossier_id = submitted(store, "R-1")
    for item in store.claim_outbox("w1", 10, 30, clock.now):
        store.mark_sent(item.outbox_id)
    record_decision(store, dossier_id, S.CLEARED, result("23"))  # its 23 is still unsent
    store.receive(incoming("NSW9", "50", reference="HPH-2026-000124"))  # still receiving
    purged = store.purge_payloads(clock.now + timedelta(days=1))
    # GD, crew list, the submission, the sent 21; not the unsent 23, not the open dossier
    assert purged.messages == 4
    view = store.describe(REF, "1")
    assert view is not None
    assert [(e.direction, e.function, e.payload is None) for e in view.messages] == [
        ("in", "01", True),
        ("in", "01", True),
        ("portal", None, True),
        ("out", "21", True),
        ("out", "23", False),
    ]
    assert all(len(e.sha256) == 64 for e in view.messages)
    other = store.describe("HPH-2026-000124", "1")
    assert other is not None
    assert other.messages[0].payload is not None


def test_the_migrated_schema_matches_the_table_definitions(store: SqlStore) -> None:
    """Replaying the migrations yields every table, column and index tables.py declares."""
    from sqlalchemy import inspect

    from nsw_adapter.store import tables

    inspector = inspect(store.engine)
    for table in tables.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name


def test_a_version_3_database_loses_the_dossier_submission_column(store: SqlStore) -> None:
    """Upgrading a store made by version 3 drops dossiers.submission (personal data it may hold)."""
    from sqlalchemy import LargeBinary, inspect, text

    from nsw_adapter.store import migrations, tables

    blob = LargeBinary().compile(dialect=store.engine.dialect)
    with store.engine.begin() as c:  # back to version 3's schema
        c.execute(text(f"ALTER TABLE nswa_dossiers ADD COLUMN submission {blob}"))
        # Every later version forgotten too: the runner resumes after the highest applied one.
        c.execute(tables.schema_version.delete().where(tables.schema_version.c.version >= 4))
    assert "submission" in {c["name"] for c in inspect(store.engine).get_columns("nswa_dossiers")}
    assert migrations.migrate(store.engine) == [v for v, _, _ in migrations.STEPS if v >= 4]
    assert "submission" not in {c["name"] for c in inspect(store.engine).get_columns("nswa_dossiers")}


def test_one_failing_message_in_a_group_commit_does_not_cost_the_others(store: SqlStore) -> None:
    """In a batch committed together, a message that fails is reported failed; the others are stored."""
    import dataclasses

    broken = dataclasses.replace(incoming("NSW-BAD", "51", sent_minute=1), send_date=None)  # type: ignore[arg-type]
    results = receive_batch(store.database, [incoming("NSW1", "50"), broken, incoming("NSW1", "50")])
    assert results[0] is IntakeOutcome.STORED
    assert isinstance(results[1], Exception)
    assert results[2] is IntakeOutcome.DUPLICATE
    view = store.describe(REF, "1")
    assert view is not None
    assert [e.message_id for e in view.messages] == ["NSW1"]


def test_first_attempt_at_starts_the_retry_budget_of_a_version(store: SqlStore, clock: Clock) -> None:
    """first_attempt_at is None until begin_submission, then kept across defers; a new version resets it."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    assert claim.first_attempt_at is None
    started = clock.now
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    clock.advance(seconds=5)
    store.defer(claim.dossier_id, "portal unavailable", clock.now)
    [again] = store.claim_ready("w1", 10, 30)
    assert again.first_attempt_at == started
    begin_submission(store, again.dossier_id, b"<S/>", b"{}")
    record_receipt(store, again.dossier_id, "R-1", False, result("21"))
    store.receive(incoming("NSW2A", "51", "02", sent_minute=9))
    [version_two] = store.claim_ready("w1", 10, 30)
    assert version_two.first_attempt_at is None


def test_an_outbox_entrys_first_attempt_is_its_first_claim(store: SqlStore, clock: Clock) -> None:
    """OutboxItem.first_attempt_at is set when first claimed and kept when deferred."""
    submitted(store, "R-1")
    [item] = store.claim_outbox("w1", 10, 30, clock.now)
    assert item.first_attempt_at == clock.now
    first = clock.now
    clock.advance(seconds=30)
    store.defer_outbox(item.outbox_id, "nsw down", clock.now)
    [again] = store.claim_outbox("w1", 10, 30, clock.now)
    assert again.first_attempt_at == first


def test_a_pause_counts_no_attempt_and_starts_the_budget_afresh(store: SqlStore, clock: Clock) -> None:
    """defer(counted=False) (the service refused our credentials): the dossier and the Result wait
    until their time, then come back with the attempts they had and no first attempt; the next
    begin_submission or claim starts their budget then."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    store.defer(claim.dossier_id, "portal unavailable", clock.now)  # one counted attempt before
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<S/>", b"{}")
    store.defer(
        claim.dossier_id, "portal refused our credentials", clock.now + timedelta(seconds=60), counted=False
    )
    assert state(store) is S.READY
    assert store.claim_ready("w1", 10, 30) == []
    clock.advance(seconds=61)
    [again] = store.claim_ready("w1", 10, 30)
    assert (again.attempts, again.first_attempt_at) == (1, None)
    begin_submission(store, again.dossier_id, b"<S/>", b"{}")
    record_receipt(store, again.dossier_id, "R-1", False, result("21"))
    [item] = store.claim_outbox("w1", 10, 30, clock.now)
    store.defer_outbox(
        item.outbox_id, "nsw refused our credentials", clock.now + timedelta(seconds=10), counted=False
    )
    assert store.claim_outbox("w2", 10, 30, clock.now) == []
    clock.advance(seconds=11)
    [item] = store.claim_outbox("w2", 10, 30, clock.now)
    assert (item.attempts, item.first_attempt_at) == (0, clock.now)  # claimed afresh: its budget from now


def test_a_version_1_database_is_upgraded_in_place(store: SqlStore) -> None:
    """A database at schema version 1 gains the version 2 columns and version 3 indexes, its rows kept."""
    from sqlalchemy import delete, inspect, text

    from nsw_adapter.store import tables

    store.receive(incoming("NSW1", "50"))
    with store.engine.begin() as c:  # back to version 1, as a database made before step 2 was
        for table in ("nswa_dossiers", "nswa_outbox"):
            c.execute(text(f"ALTER TABLE {table} DROP COLUMN first_attempt_at"))
        for index in (
            "nswa_dossiers_claim",
            "nswa_dossiers_polls",
            "nswa_dossiers_waiting",
            "nswa_dossiers_lease",
            "nswa_outbox_claim",
            "nswa_outbox_lease",
        ):
            c.execute(text(f"DROP INDEX {index}"))
        c.execute(text("CREATE INDEX nswa_dossiers_state ON nswa_dossiers (state)"))
        c.execute(text("CREATE INDEX nswa_outbox_status ON nswa_outbox (status, next_attempt_at)"))
        c.execute(delete(tables.schema_version).where(tables.schema_version.c.version >= 2))
    store.engine.dispose()
    store.migrate()
    for table in ("nswa_dossiers", "nswa_outbox"):
        assert "first_attempt_at" in {col["name"] for col in inspect(store.engine).get_columns(table)}
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("nswa_dossiers")}
    assert {
        "nswa_dossiers_claim",
        "nswa_dossiers_polls",
        "nswa_dossiers_waiting",
        "nswa_dossiers_lease",
    } <= indexes
    assert "nswa_dossiers_state" not in indexes  # v3 drops it (redundant)
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("nswa_outbox")}
    assert {"nswa_outbox_claim", "nswa_outbox_lease"} <= indexes
    assert "nswa_outbox_status" not in indexes
    view = store.describe(REF, "1")
    assert view is not None
    assert view.documents == {"50": "NSW1"}


def test_requests_sent_to_the_portal_are_kept_for_audit_once(store: SqlStore, clock: Clock) -> None:
    """Each submission (by ClientMessageId) and CancelDeclaration is one audit row with its hash."""
    complete(store)
    [claim] = store.claim_ready("w1", 10, 30)
    begin_submission(store, claim.dossier_id, b"<Submission>1</Submission>", b"{}")
    clock.advance(seconds=31)  # the worker died during the call: the same ClientMessageId again
    [again] = store.claim_ready("w2", 10, 30)
    begin_submission(store, again.dossier_id, b"<Submission>1</Submission>", b"{}")
    record_receipt(store, again.dossier_id, "R-9", False, result("21"))
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason="diverted"))
    [owed] = store.claim_cancellations("w1", 10, 30)
    request = cancel_request("R-9", portal_reason(owed.reason))
    store.finish_cancellation(owed.dossier_id, result("24"), request)
    view = store.describe(REF, "1")
    assert view is not None
    portal = [(m.message_id, m.sha256, m.payload) for m in view.messages if m.direction == "portal"]
    assert [key for key, _, _ in portal] == [claim.client_message_id, "cancel-R-9"]
    assert portal[0][1] == hashlib.sha256(b"<Submission>1</Submission>").hexdigest()
    cancel = etree.fromstring(portal[1][2] or b"")
    assert [e.text for e in cancel] == ["R-9", "diverted"]


def test_the_audit_keeps_the_cancellation_reason_as_sent(store: SqlStore) -> None:
    """The agent's Reason goes to the portal on one line within 1000 characters, and the
    audit row holds that same text, not the raw one."""
    submitted(store, "R-5")
    raw = "Diverted to\n   Singapore. " + "x" * 2000
    store.receive(incoming("NSW3", "50", "03", sent_minute=9, reason=raw))
    [owed] = store.claim_cancellations("w1", 10, 30)
    reason = portal_reason(owed.reason)
    assert reason == ("Diverted to Singapore. " + "x" * 2000)[:1000]
    store.finish_cancellation(owed.dossier_id, result("24"), cancel_request("R-5", reason))
    view = store.describe(REF, "1")
    assert view is not None
    [request] = [m.payload for m in view.messages if m.message_id == "cancel-R-5"]
    assert [e.text for e in etree.fromstring(request or b"")] == ["R-5", reason]


def test_several_results_are_marked_sent_at_once(store: SqlStore, clock: Clock) -> None:
    """mark_sent takes a batch of outbox ids; an unknown id fails the whole call, marking nothing."""
    all_submitted(store, "HPH-2026-000201", "HPH-2026-000202")
    items = store.claim_outbox("w1", 10, 30, clock.now)
    assert len(items) == 2
    with pytest.raises(UnknownRecord):
        store.mark_sent(items[0].outbox_id, 999_999)
    assert store.stats(clock.now).outbox_pending == 2
    store.mark_sent(*(item.outbox_id for item in items))
    assert store.stats(clock.now).outbox_pending == 0


def test_a_poll_batch_is_recorded_at_once_and_a_changed_dossier_costs_the_others_nothing(
    store: SqlStore, clock: Clock
) -> None:
    """record_polls: pending, decided and moved-on dossiers in one call, each with its own outcome."""
    ids = all_submitted(store, "HPH-2026-000301", "HPH-2026-000302", "HPH-2026-000303")
    store.dead_letter(ids[2], "NOT_FOUND")  # moved on before its poll is recorded
    later = clock.now + timedelta(minutes=5)
    errors = store.record_polls(
        [
            PollOutcome(ids[0], next_poll_at=later),
            PollOutcome(ids[1], decision=S.CLEARED, result=result("23")),
            PollOutcome(ids[2], decision=S.CLEARED, result=result("23")),
        ]
    )
    assert errors[:2] == [None, None]
    assert isinstance(errors[2], DossierChanged)
    assert state(store, "HPH-2026-000301") is S.SUBMITTED
    assert state(store, "HPH-2026-000302") is S.CLEARED
    assert state(store, "HPH-2026-000303") is S.DEAD
    assert store.claim_polls("w2", 100, 30, clock.now) == []  # the pending one waits until `later`
    [again] = store.claim_polls("w2", 100, 30, later)
    assert again.dossier_id == ids[0]


def test_a_claims_submissions_and_receipts_are_recorded_at_once(store: SqlStore, clock: Clock) -> None:
    """begin_submissions / record_receipts: a batch in one call, each dossier with its own outcome;
    one amended since its claim is refused (DossierChanged) and costs the others nothing."""
    for n, reference in enumerate(("HPH-2026-000501", "HPH-2026-000502", "HPH-2026-000503")):
        complete(store, reference, prefix=f"NSW5{n}")
    claims = store.claim_ready("w1", 10, 30)
    assert len(claims) == 3
    stale = SubmissionStart(claims[2].dossier_id, b"<S/>", b"{}", version=claims[2].version + 1)
    starts = [
        SubmissionStart(c.dossier_id, f"<S>{c.dossier_id}</S>".encode(), b"{}", c.version) for c in claims[:2]
    ]
    errors = store.begin_submissions([*starts, stale])
    assert errors[:2] == [None, None]
    assert isinstance(errors[2], DossierChanged)
    assert [state(store, r) for r in ("HPH-2026-000501", "HPH-2026-000502", "HPH-2026-000503")] == [
        S.SUBMITTING, S.SUBMITTING, S.READY]  # fmt: skip
    first_poll = clock.now + timedelta(seconds=30)
    receipts = [
        ReceiptRecord(c.dossier_id, f"R-{c.dossier_id}", False, result("21"), first_poll) for c in claims
    ]
    errors = store.record_receipts(receipts)
    assert errors[:2] == [None, None]
    assert isinstance(errors[2], DossierChanged)  # never begun: not submitting
    assert state(store, "HPH-2026-000501") is S.SUBMITTED
    assert store.claim_polls("w2", 100, 30, clock.now) == []  # the first poll waits one interval
    assert len(store.claim_polls("w2", 100, 30, first_poll)) == 2
    assert len(store.claim_outbox("w3", 10, 30, clock.now)) == 2  # each receipt's 21 Result


def test_a_poll_batch_that_fails_is_recorded_again_one_by_one(store: SqlStore, clock: Clock) -> None:
    """Any other failure rolls the batch back; each outcome is then recorded on its own."""
    ids = all_submitted(store, "HPH-2026-000401", "HPH-2026-000402")
    broken = OutgoingMessage("BQP-BROKEN", "23", None)  # type: ignore[arg-type]  # no payload to hash
    errors = store.record_polls(
        [
            PollOutcome(ids[0], decision=S.CLEARED, result=result("23")),
            PollOutcome(ids[1], decision=S.CLEARED, result=broken),
        ]
    )
    assert errors[0] is None
    assert isinstance(errors[1], TypeError)
    assert state(store, "HPH-2026-000401") is S.CLEARED
    assert state(store, "HPH-2026-000402") is S.SUBMITTED
