"""Cheap outsider moves against the intake: wrong Content-Types, abandoned connections, busy threads."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import requests
import structlog

from nsw_adapter.daemon import serve
from nsw_adapter.log_limits import SERVER_LOGGER, RateLimit
from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import Settings
from nsw_adapter.store import IncomingMessage, IntakeOutcome, SqlStore, Store
from nsw_adapter.testing.pushes import PASSWORD, USER, XML, soap_body
from nsw_adapter.worker import Worker, build_context
from tests.support.daemons import Daemon, adapter_env, free_port
from tests.support.intake_client import answer_of, running_intake

GD = (
    Path(__file__).resolve().parents[2]
    / "fixtures/samples/nsw/valid/arrival-general-cargo/50-general-declaration.xml"
)


def head_only(url: str, content_type: str | None, declared: int = 1_000_000) -> bytes:
    """Send a POST's headers declaring a body of `declared` bytes, send none of it, and return the answer."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"</soap:Envelope>" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def abandon(url: str) -> None:
    """Start a push, send part of its body, and drop the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5) as sock:
        sock.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/xml\r\n"
            "Content-Length: 100000\r\n\r\n<soap:Envelope".encode()
        )
        time.sleep(0.01)


def test_a_form_encoded_push_is_refused_415_before_its_body_is_read(store: SqlStore) -> None:
    """A form post declaring a megabyte is answered 415 with a soap:Client fault without sending its body."""
    with running_intake(store) as url:
        answer = head_only(url, "application/x-www-form-urlencoded")
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 415 " in status_line
    assert b"soap:Client" in answer
    assert b"unsupported media type" in answer


def test_a_push_without_a_content_type_is_refused_and_text_xml_in_any_case_is_not(store: SqlStore) -> None:
    """No Content-Type at all is a 415; `Text/XML; Charset=UTF-8` is read as SOAP 1.1 and stored."""
    body = soap_body(GD.read_bytes())
    with running_intake(store) as url:
        untyped = requests.post(url, data=body, timeout=10)
        typed = requests.post(url, data=body, headers={"Content-Type": "Text/XML; Charset=UTF-8"}, timeout=10)
    assert untyped.status_code == 415
    assert b"soap:Client" in untyped.content
    assert typed.status_code == 200
    assert answer_of(typed.content).findtext("Header/Subject/function") == "99"


def test_the_server_error_log_is_rate_limited_and_says_how_much_it_dropped(
    caplog: pytest.LogCaptureFixture, store: SqlStore
) -> None:
    """Twenty abandoned pushes log three server errors; the next window first reports the 17 dropped."""
    now = [0.0]
    limit = RateLimit(burst=3, window_seconds=60, clock=lambda: now[0])
    logger = logging.getLogger(SERVER_LOGGER)
    logger.addFilter(limit)
    try:
        with caplog.at_level(logging.ERROR, logger=SERVER_LOGGER), running_intake(store) as url:
            for _ in range(20):
                abandon(url)
            time.sleep(0.5)  # the server notices the last disconnections
            logged = [r for r in caplog.records if r.name == SERVER_LOGGER]
            now[0] = 61.0
            with structlog.testing.capture_logs() as events:
                abandon(url)
                time.sleep(0.5)
    finally:
        logger.removeFilter(limit)
    assert len(logged) == 3
    assert next(e for e in events if e["event"] == "daemon.server_errors_suppressed")["count"] == 17


def test_abandoned_connections_do_not_flood_the_daemons_log(tmp_path: Path) -> None:
    """Fifty pushes abandoned mid-body leave at most ten 'Error handling request' lines in its log."""
    env = adapter_env(f"sqlite:///{tmp_path}/adapter.db", "http://127.0.0.1:9", "http://127.0.0.1:9")
    env.update(
        {
            "NSW_ADAPTER_INTAKE__CREDENTIALS__USERNAME": USER,
            "NSW_ADAPTER_INTAKE__CREDENTIALS__PASSWORD": PASSWORD,
        }
    )
    daemon = Daemon(tmp_path, "adapter", env, args=("--role", "intake"))
    daemon.start()
    try:
        for _ in range(50):
            abandon(daemon.intake_url)
        time.sleep(0.5)
    finally:
        daemon.terminate()
    errors = daemon.log_path.read_text("utf-8").count("Error handling request")
    assert 1 <= errors <= 10


class _HeldStore:
    """The real store, except that committing a push waits until `release` is set."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.release = threading.Event()
        self.waiting = threading.Event()

    def receive(self, message: IncomingMessage) -> IntakeOutcome:
        self.waiting.set()
        self.release.wait(20)
        return self._store.receive(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def held_store(store: SqlStore) -> Iterator[_HeldStore]:
    held = _HeldStore(store)
    yield held
    held.release.set()


def test_healthz_reports_the_intake_degraded_while_its_threads_are_all_busy(held_store: _HeldStore) -> None:
    """With its one intake thread held by a push, /healthz says `degraded`; once it is free, `ok`."""
    intake_port, obs_port = free_port(), free_port()
    settings = Settings.model_validate(
        {
            "roles": ["intake"],
            "intake": {
                "port": intake_port,
                "threads": 1,
                "credentials": {"username": USER, "password": PASSWORD},
            },
            "observability": {"port": obs_port},
        }
    )
    store = cast(Store, held_store)
    metrics = Metrics()
    worker = Worker.from_settings(settings, build_context(settings, store, metrics=metrics))
    healthz = f"http://127.0.0.1:{obs_port}/healthz"
    seen: dict[str, Any] = {}

    def scenario() -> None:
        push = threading.Thread(
            target=requests.post,
            args=(f"http://127.0.0.1:{intake_port}{settings.intake.path}",),
            kwargs={"data": soap_body(GD.read_bytes()), "headers": XML, "timeout": 20},
        )
        push.start()
        assert held_store.waiting.wait(10)
        seen["busy"] = requests.get(healthz, timeout=5)
        held_store.release.set()
        push.join(20)
        seen["free"] = requests.get(healthz, timeout=5)

    async def until() -> None:
        await asyncio.to_thread(scenario)

    asyncio.run(serve(settings, store, worker, metrics, until=until))
    busy, free = seen["busy"], seen["free"]
    assert busy.status_code == 200
    assert busy.json()["status"] == "degraded"
    assert busy.json()["intake_threads"] == {"busy": 1, "of": 1}
    assert free.json()["status"] == "ok"
    assert free.json()["intake_threads"] == {"busy": 0, "of": 1}
