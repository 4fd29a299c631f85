"""A portal state this adapter does not know (a newer portal) leaves the dossier polling, visible to
port IT, never dead-lettered (issue 18 item 7); on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from nsw_adapter.clients.portal import PortalState, Status
from nsw_adapter.delivery import set_testing
from nsw_adapter.loops.poll import PollLoop, portal_state_label
from nsw_adapter.loops.submit import SubmitLoop
from nsw_adapter.store import SqlStore
from tests.support.fakes import RECEIVED, FakeNsw, FakePortal, make_context
from tests.support.store import Clock, incoming


@pytest.fixture(autouse=True)
def _no_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def test_an_unknown_state_keeps_the_dossier_polling_and_visible(store: SqlStore, clock: Clock) -> None:
    portal, nsw = FakePortal(), FakeNsw()
    store.receive(incoming("NSW000123050", "50"))
    store.receive(incoming("NSW000123051", "51", sent_minute=1))
    context = make_context(store, portal, nsw, clock)
    SubmitLoop(context).run_once()
    portal.decide = lambda n: Status(n, PortalState.UNKNOWN, raw_state="ON_HOLD")
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):  # and again, and again: never a dead letter
            clock.advance(seconds=1)
            PollLoop(context).run_once()
    stats = store.stats(clock())
    assert stats.dossiers_by_state.get("submitted") == 1
    assert stats.dead_letters == 0
    assert stats.unknown_portal_states == {"ON_HOLD": 1}
    assert sum(1 for call in portal.calls if call[0] == "status") == 5
    warnings = [e for e in logs if e["event"] == "poll.unknown_portal_state"]
    assert len(warnings) == 5
    assert warnings[0]["portal_state"] == "ON_HOLD"
    assert not [e for e in logs if e["event"].endswith("dead_letter")]
    counted = context.metrics.unknown_portal_states.labels(state="ON_HOLD")._value.get()
    assert counted == 5
    [dossier] = store.history(reference="HPH-2026-000123")
    assert dossier.unknown_portal_state == "ON_HOLD"
    causes = [e.details["cause"] for e in dossier.events if e.kind == "state"]
    assert causes.count("portal state ON_HOLD unknown here") == 1  # told once, not every poll

    # The newer portal decides after all: the dossier is cleared and no longer flagged.
    portal.decide = lambda n: Status(n, PortalState.CLEARED, decided_at=RECEIVED, clearance_number="C1")
    clock.advance(seconds=1)
    PollLoop(context).run_once()
    stats = store.stats(clock())
    assert stats.dossiers_by_state.get("cleared") == 1
    assert stats.unknown_portal_states == {}


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("ON_HOLD", "ON_HOLD"),
        (" ON_HOLD ", "ON_HOLD"),
        ("on hold", "OTHER"),
        ("X" * 41, "OTHER"),
        (None, "OTHER"),
    ],
)
def test_a_portal_state_word_is_kept_only_when_it_looks_like_one(raw: str | None, label: str) -> None:
    """What becomes a metric label and a column is a state word, never arbitrary portal text."""
    assert portal_state_label(raw) == label
