"""Replay protection: used nonces are kept in the store, so no token is accepted twice.

Not after a restart, nor by a second daemon on the same store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from nsw_adapter.loops.housekeeping import HousekeepingLoop
from nsw_adapter.store import SqlStore, open_store
from nsw_adapter.store import tables as t
from nsw_adapter.testing.pushes import XML, soap_body
from tests.support.fakes import FakeNsw, FakePortal, make_context
from tests.support.intake_client import running_intake, settings
from tests.support.store import Clock

GD = (
    Path(__file__).resolve().parents[2]
    / "fixtures/samples/nsw/valid/arrival-general-cargo/50-general-declaration.xml"
)


def push(url: str, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers=XML, timeout=10)


def another_daemons_store(store: SqlStore) -> SqlStore:
    """A second connection to the same database, as another daemon (or the restarted one) opens it."""
    return open_store(store.engine.url.render_as_string(hide_password=False))


def nonce_rows(store: SqlStore) -> int:
    with store.engine.connect() as c:
        return len(c.execute(t.used_nonces.select()).all())


def test_a_token_replayed_after_a_restart_is_refused(store: SqlStore) -> None:
    """A push accepted before a restart, sent again to the restarted intake, is an authentication fault."""
    body = soap_body(GD.read_bytes())
    with running_intake(store) as url:
        assert push(url, body).status_code == 200
    restarted = another_daemons_store(store)
    try:
        with running_intake(restarted) as url:
            replay = push(url, body)
    finally:
        restarted.close()
    assert replay.status_code == 500
    assert b"authentication failed: replayed nonce" in replay.content
    assert nonce_rows(store) == 1


def test_a_token_replayed_to_a_second_daemon_is_refused(store: SqlStore) -> None:
    """Two intakes on one store: a push accepted by the first is refused when replayed to the second."""
    body = soap_body(GD.read_bytes())
    second = another_daemons_store(store)
    try:
        with running_intake(store) as first_url, running_intake(second) as second_url:
            assert push(first_url, body).status_code == 200
            replay = push(second_url, body)
    finally:
        second.close()
    assert replay.status_code == 500
    assert b"authentication failed: replayed nonce" in replay.content


def test_one_token_sent_to_two_daemons_at_once_is_accepted_by_one(store: SqlStore) -> None:
    """The same token raced to two intakes on one store is accepted exactly once."""
    body = soap_body(GD.read_bytes())
    second = another_daemons_store(store)
    statuses: list[int] = []
    try:
        with running_intake(store) as first_url, running_intake(second) as second_url:
            start = threading.Barrier(2)

            def send(url: str) -> None:
                start.wait()
                statuses.append(push(url, body).status_code)

            threads = [threading.Thread(target=send, args=(u,)) for u in (first_url, second_url)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(20)
    finally:
        second.close()
    assert sorted(statuses) == [200, 500]


def test_a_created_too_far_in_the_future_is_refused(store: SqlStore) -> None:
    """A token created two minutes ahead (beyond the 60 s default skew) is an authentication fault."""
    ahead = datetime.now(UTC) + timedelta(minutes=2)
    with running_intake(store) as url:
        reply = push(url, soap_body(GD.read_bytes(), created=ahead))
    assert reply.status_code == 500
    assert b"authentication failed: Created timestamp in the future" in reply.content
    assert store.describe("HPH-2026-000123", "1") is None


def test_the_accepted_age_of_a_token_is_a_setting(store: SqlStore) -> None:
    """With token_max_age_seconds = 60, a token created two minutes ago is refused as stale."""
    before = datetime.now(UTC) - timedelta(minutes=2)
    with running_intake(store, settings(token_max_age_seconds=60)) as url:
        reply = push(url, soap_body(GD.read_bytes(), created=before))
    assert reply.status_code == 500
    assert b"authentication failed: stale" in reply.content


def test_housekeeping_purges_expired_nonces(store: SqlStore, clock: Clock) -> None:
    """The housekeeping loop deletes the nonces whose window has passed and keeps the others."""
    now = clock()
    assert store.remember_nonce("a" * 64, now - timedelta(seconds=1))
    assert store.remember_nonce("b" * 64, now + timedelta(minutes=5))
    HousekeepingLoop(make_context(store, FakePortal(), FakeNsw(), clock)).run_once()
    with store.engine.connect() as c:
        kept = c.execute(t.used_nonces.select()).all()
    assert [row.digest for row in kept] == ["b" * 64]
    assert not store.remember_nonce("b" * 64, now + timedelta(minutes=5))  # still a replay
    assert store.remember_nonce("a" * 64, now + timedelta(minutes=5))  # forgotten
