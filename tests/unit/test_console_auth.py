"""The console's building blocks: argon2 hashes, session expiry, throttling, settings, charts, the CLI."""

from __future__ import annotations

import io
import sys

import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from nsw_adapter.console.auth import Sessions, Throttle, Users, csrf_ok, hash_password
from nsw_adapter.console.charts import Series, bar_chart
from nsw_adapter.console.config import ConsoleSettings, ConsoleUser


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hash_password_is_argon2id_and_checks() -> None:
    """A hash is argon2id, verifies its password only, and is salted (two hashes differ)."""
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first.startswith("$argon2id$")
    assert first != second
    users = Users([ConsoleUser(name="olga", password_hash=first, role="operator")])
    assert users.check("olga", "s3cret") is not None
    assert users.check("olga", "S3cret") is None
    assert users.check("nobody", "s3cret") is None


def test_sessions_expire_when_idle_and_at_their_lifetime() -> None:
    """A session unused for `idle` seconds is gone; one kept busy still ends at `lifetime`."""
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    idle = sessions.new()
    clock.now += 61
    assert sessions.get(idle.id) is None
    busy = sessions.new()
    for _ in range(5):  # 250 s, each request within the idle time
        clock.now += 50
        assert sessions.get(busy.id) is busy
    clock.now += 55  # still within the idle time, past the lifetime
    assert sessions.get(busy.id) is None


def test_csrf_token_must_match_the_session() -> None:
    """Only the session's own token passes."""
    session = Sessions(60, 300).new()
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, None)
    assert not csrf_ok(session, Sessions(60, 300).new().csrf)


def test_throttle_blocks_after_failures_until_the_window_passes() -> None:
    """`failures` failures within the window block the key (and only it) until they age out."""
    clock = Clock()
    throttle = Throttle(failures=3, window=300, clock=clock)
    for _ in range(3):
        assert not throttle.blocked("user:olga")
        throttle.failed("user:olga", "address:1")
    assert throttle.blocked("user:olga")
    assert not throttle.blocked("user:victor")
    clock.now += 301
    assert not throttle.blocked("user:olga")


def test_console_settings_defaults_and_refusals() -> None:
    """Off, loopback and port 9109 by default; a plain password, an unknown role or key, or a session
    that would never live is refused."""
    defaults = ConsoleSettings()
    assert (defaults.enabled, defaults.host, defaults.port, defaults.users) == (False, "127.0.0.1", 9109, [])
    with pytest.raises(ValidationError):
        ConsoleUser(name="olga", password_hash="plain-password", role="operator")
    with pytest.raises(ValidationError):
        ConsoleUser(name="olga", password_hash=hash_password("x"), role="admin")
    with pytest.raises(ValidationError):
        ConsoleSettings.model_validate({"enabeld": True})
    with pytest.raises(ValidationError):
        ConsoleSettings(session_minutes=0)


def test_chart_escapes_its_labels() -> None:
    """A label is text in the SVG, never markup."""
    svg = bar_chart("<t>", ["<script>x</script>"], [Series("a&b", "received")], [[3]])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "a&amp;b" in svg


def test_hash_password_command_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nsw-adapter console hash-password` prints an argon2 hash of the line read from standard input."""
    from nsw_adapter.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse\n"))
    assert main(["console", "hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert PasswordHasher().verify(printed, "correct horse")
