"""The console over HTTP (no browser): logins, roles, CSRF, throttling, headers, and the daemon's hook."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import pytest
import requests
from aiohttp import web

from nsw_adapter.console.app import HEADERS, create_console_app
from nsw_adapter.console.auth import hash_password
from nsw_adapter.console.config import ConsoleSettings, ConsoleUser
from nsw_adapter.console.readmodel import (
    DeadLetterRow,
    DossierRow,
    GateStatistics,
    HourCount,
    Overview,
    SupplementRequestRow,
    Timeline,
    UnknownDeadLetter,
)
from nsw_adapter.simulators.http import BackgroundServer

PASSWORD = "a long console password"
NOW = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)


@dataclass
class FakeModel:
    """A ReadModel holding one dead letter; it records what it was asked to do."""

    retried: list[tuple[str, int, str]] = field(default_factory=list)
    discarded: list[tuple[str, int, str, str]] = field(default_factory=list)

    def overview(self, now: datetime) -> Overview:
        return Overview({"cleared": 3}, None, 1, 0)

    def hourly(self, since: datetime, until: datetime) -> list[HourCount]:
        return [HourCount(since, 1, 1, 0)]

    def find_dossiers(self, text: str, limit: int) -> list[DossierRow]:
        return [DossierRow("HPH-1", "1", "cleared", NOW, NOW, "9074729", "OCEAN JADE", "CKCHPG")]

    def timeline(self, reference: str, document_type: str) -> Timeline | None:
        if reference != "HPH-1":
            return None
        request = SupplementRequestRow(
            "CKCHPG-2026-YC000123",
            "CKCHPG-2026-004517",
            ("BG-SUPP-DOC", "BG-SUPP-OTHER"),
            NOW,
            NOW,
            "answered",
        )
        row = DossierRow("HPH-1", "1", "cleared", NOW, NOW, "9074729", "OCEAN JADE", "CKCHPG")
        return Timeline(row, 2, "CKCHPG-2026-004599", None, [], requests=[request])

    def dead_letters(self) -> list[DeadLetterRow]:
        return [DeadLetterRow("dossier", 7, "HPH-7", "portal retry budget exhausted", NOW)]

    def retry(self, kind: str, id: int, user: str) -> None:
        if id != 7:
            raise UnknownDeadLetter(id)
        self.retried.append((kind, id, user))

    def discard(self, kind: str, id: int, user: str, reason: str) -> None:
        self.discarded.append((kind, id, user, reason))

    def can_discard(self) -> bool:
        return True

    def statistics(self, start: date, end: date, gate: str | None) -> Sequence[GateStatistics]:
        return [GateStatistics("CKCHPG", entries=2, cleared=2, rejections_by_code={"E-IMO": 1})]


@dataclass
class Console:
    url: str
    model: FakeModel


@pytest.fixture
def console() -> Iterator[Console]:
    hashed = hash_password(PASSWORD)
    settings = ConsoleSettings(
        enabled=True,
        users=[
            ConsoleUser(name="olga", password_hash=hashed, role="operator"),
            ConsoleUser(name="victor", password_hash=hashed, role="viewer"),
        ],
        login_failures=3,
    )
    model = FakeModel()

    async def make() -> web.Application:
        return create_console_app(settings, model, clock=lambda: NOW)

    server = BackgroundServer(make, host="127.0.0.1", port=0, name="console-test")
    server.start()
    try:
        yield Console(f"http://127.0.0.1:{server.port}", model)
    finally:
        server.stop()


def csrf(page: requests.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def logged_in(console: Console, name: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    form = session.get(console.url + "/login")
    page = session.post(console.url + "/login", data={"csrf": csrf(form), "name": name, "password": PASSWORD})
    assert page.url == console.url + "/"
    return session, csrf(page)


@pytest.mark.parametrize("path", ["/", "/dossiers", "/dead-letters", "/statistics", "/statistics.csv"])
def test_every_page_needs_a_login(console: Console, path: str) -> None:
    """Without a logged-in session each page redirects to the login form and shows nothing."""
    answer = requests.get(console.url + path, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/login"
    assert "HPH" not in answer.text


def test_security_headers_on_pages_redirects_and_refusals(console: Console) -> None:
    """The CSP (no script, no framing), X-Frame-Options, no-referrer and nosniff are on every answer."""
    answers = [
        requests.get(console.url + "/login"),
        requests.get(console.url + "/", allow_redirects=False),
        requests.post(console.url + "/login", data={"name": "olga", "password": PASSWORD}),
    ]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value
    policy = HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # default-src 'none' covers it: no script runs
    assert HEADERS["Referrer-Policy"] == "no-referrer"


def test_login_without_the_forms_csrf_token_is_refused(console: Console) -> None:
    """A login posted without the session's CSRF token (a cross-site form) is refused even with the
    right password, and no session is logged in."""
    session = requests.Session()
    session.get(console.url + "/login")
    answer = session.post(console.url + "/login", data={"name": "olga", "password": PASSWORD})
    assert answer.status_code == 403
    assert session.get(console.url + "/", allow_redirects=False).status_code == 303


def test_logging_in_replaces_the_session_id(console: Console) -> None:
    """The id a browser had before logging in is not the logged-in one (no session fixation)."""
    session = requests.Session()
    session.get(console.url + "/login")
    before = session.cookies.get("nswa_console")
    assert before
    session.post(console.url + "/login", data={"csrf": csrf(session.get(console.url + "/login")),
                                               "name": "olga", "password": PASSWORD})  # fmt: skip
    after = session.cookies["nswa_console"]
    assert after != before
    stolen = requests.get(console.url + "/", cookies={"nswa_console": before}, allow_redirects=False)
    assert stolen.status_code == 303


def test_operator_retries_and_discards_with_the_token(console: Console) -> None:
    """An operator's retry and discard (with a reason) reach the model, named by the user."""
    session, token = logged_in(console, "olga")
    answer = session.post(console.url + "/dead-letters/dossier/7/retry", data={"csrf": token})
    assert answer.status_code == 200
    assert "Sent back to be tried again." in answer.text
    session.post(console.url + "/dead-letters/dossier/7/discard", data={"csrf": token, "reason": "abandoned"})
    assert console.model.retried == [("dossier", 7, "olga")]
    assert console.model.discarded == [("dossier", 7, "olga", "abandoned")]


def test_discard_needs_a_reason(console: Console) -> None:
    """A discard without a reason is refused and nothing is discarded."""
    session, token = logged_in(console, "olga")
    answer = session.post(
        console.url + "/dead-letters/dossier/7/discard", data={"csrf": token, "reason": " "}
    )
    assert answer.status_code == 400
    assert console.model.discarded == []


def test_an_action_without_the_token_is_refused(console: Console) -> None:
    """A logged-in operator's retry posted without the CSRF token (a forged cross-site form) does nothing."""
    session, _token = logged_in(console, "olga")
    answer = session.post(console.url + "/dead-letters/dossier/7/retry", data={})
    assert answer.status_code == 403
    assert console.model.retried == []


def test_viewer_may_not_retry_or_discard(console: Console) -> None:
    """A viewer's retry and discard, with a valid token, are refused 403 and reach nothing."""
    session, token = logged_in(console, "victor")
    listed = session.get(console.url + "/dead-letters").text.split("<table")[1]
    assert "HPH-7" in listed
    assert "<button" not in listed  # no Retry, no Discard
    for action in ("retry", "discard"):
        answer = session.post(
            console.url + f"/dead-letters/dossier/7/{action}", data={"csrf": token, "reason": "x"}
        )
        assert answer.status_code == 403
    assert console.model.retried == []
    assert console.model.discarded == []


def test_failed_logins_are_throttled(console: Console) -> None:
    """After `login_failures` wrong passwords for a name, even the right one is refused for a while."""
    session = requests.Session()
    for _ in range(3):
        wrong = session.post(console.url + "/login", data={"csrf": csrf(session.get(console.url + "/login")),
                                                           "name": "olga", "password": "guess"})  # fmt: skip
        assert wrong.status_code == 401
    right = session.post(console.url + "/login", data={"csrf": csrf(session.get(console.url + "/login")),
                                                       "name": "olga", "password": PASSWORD})  # fmt: skip
    assert right.status_code == 429
    assert session.get(console.url + "/", allow_redirects=False).status_code == 303


def test_statistics_csv(console: Console) -> None:
    """The CSV has a header and one row per gate, rejections by code in the last column."""
    session, _ = logged_in(console, "victor")
    answer = session.get(console.url + "/statistics.csv?from=2026-03-01&to=2026-03-31")
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "2026-03-01-2026-03-31" in answer.headers["Content-Disposition"]
    header, row = answer.text.strip().splitlines()
    assert header.startswith("gate,entries,exits")
    assert row.startswith("CKCHPG,2,0")
    assert row.endswith("E-IMO=1")


def test_the_daemon_serves_the_console_when_enabled(tmp_path: Path) -> None:
    """`serve` (what `nsw-adapter run` runs) starts the console on [console] port: its login form answers."""
    from nsw_adapter.daemon import serve
    from nsw_adapter.metrics import Metrics
    from nsw_adapter.settings import load_settings
    from nsw_adapter.store import open_store
    from nsw_adapter.worker import Worker, build_context
    from tests.support.daemons import free_port

    port = free_port()
    settings = load_settings(
        None,
        store={"url": f"sqlite:///{tmp_path}/adapter.db"},
        intake={"port": 0},
        observability={"port": 0},
        console={"enabled": True, "port": port},
    )
    store = open_store(settings.store.url, migrate=True)
    metrics = Metrics()
    worker = Worker.from_settings(settings, build_context(settings, store, metrics=metrics))
    seen: list[int] = []

    async def probe() -> None:
        async with aiohttp.ClientSession() as client:
            for _ in range(50):
                try:
                    async with client.get(f"http://127.0.0.1:{port}/login") as answer:
                        seen.append(answer.status)
                        return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)

    try:
        asyncio.run(serve(settings, store, worker, metrics, until=probe))
    finally:
        store.close()
    assert seen == [200]


def test_the_dossier_page_shows_its_supplement_requests(console: Console) -> None:
    """A request's number, receipt, item codes, deadline and outcome on the dossier's page."""
    session, _ = logged_in(console, "victor")
    page = session.get(console.url + "/dossiers/HPH-1/1")
    assert page.status_code == 200
    table = page.text[page.text.index('id="supplement-requests"') :]
    for shown in (
        "CKCHPG-2026-YC000123",
        "CKCHPG-2026-004517",
        "BG-SUPP-DOC, BG-SUPP-OTHER",
        "2026-03-12 08:00",
    ):
        assert shown in table
    assert "answered" in table
