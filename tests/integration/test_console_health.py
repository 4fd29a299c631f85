"""The console's dependency table (console/serve.py dependency_health): the store, the portal and
the NSW by their circuits, each event subscriber by what its senders last saw, the loops."""

from __future__ import annotations

from nsw_adapter.console.readmodel import DependencyHealth
from nsw_adapter.console.serve import dependency_health
from nsw_adapter.store import SqlStore
from nsw_adapter.worker import Worker
from tests.support.fakes import FakeNsw, FakePortal, make_context
from tests.support.store import Clock


def test_a_refused_subscriber_is_failing_with_its_error_and_a_working_one_ok(
    store: SqlStore, clock: Clock
) -> None:
    context = make_context(store, FakePortal(), FakeNsw(), clock)
    refusal = "subscriber customs refused our credentials (authentication failed, HTTP 401)"
    context.health.subscriber("customs").refused(refusal)
    context.health.subscriber("port").succeeded()
    found = dependency_health(store, Worker(context))
    by_name = {h.name: h for h in found}
    assert by_name["subscriber customs"] == DependencyHealth(
        "subscriber customs", "failing", f"refused: {refusal}"
    )
    assert by_name["subscriber port"] == DependencyHealth("subscriber port", "ok", "ok")
    assert [h.name for h in found] == [
        "store", "portal", "nsw", "subscriber customs", "subscriber port", "loops"
    ]  # fmt: skip
    assert by_name["store"].status == "ok"


def test_without_loops_no_subscriber_is_listed(store: SqlStore) -> None:
    assert [h.name for h in dependency_health(store, None)] == ["store", "portal", "nsw"]
