"""Who may use the console: argon2 password checks, sessions that expire, CSRF tokens, throttling.

Sessions live in this process's memory (the console is served by one daemon): a random id in
an HttpOnly, SameSite=Strict cookie names one. Every visitor gets a session before logging in,
so the login form carries a CSRF token too; logging in replaces the session id (no fixation).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from nsw_adapter.console.config import ConsoleSettings, ConsoleUser

_HASHER = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106 low-memory)
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, for `[console] users` (`nsw-adapter console hash-password`)."""
    return _HASHER.hash(password)


@dataclass
class Session:
    """One browser's session: its CSRF token and, once logged in, the user and role."""

    id: str
    csrf: str
    started: float
    seen: float
    user: str | None = None
    role: str | None = None


class Users:
    """The configured users, checked by argon2."""

    def __init__(self, users: Sequence[ConsoleUser]) -> None:
        self._users = {user.name: user for user in users}

    def check(self, name: str, password: str) -> ConsoleUser | None:
        """The user when `password` matches its hash; None otherwise (in about the same time)."""
        user = self._users.get(name)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


class Sessions:
    """Sessions by id, expiring after `idle` seconds without a request or `lifetime` in all."""

    def __init__(self, idle: float, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle, self._lifetime, self._clock = idle, lifetime, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._drop_expired(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle time restarted), or None."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > self._idle or now - session.started > self._lifetime:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def log_in(self, old: Session, user: ConsoleUser) -> Session:
        """A new session for `user`, replacing `old` (its id and CSRF token are no longer valid)."""
        self.end(old)
        session = self.new()
        session.user, session.role = user.name, user.role
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def _drop_expired(self, now: float) -> None:
        expired = [
            key
            for key, s in self._sessions.items()
            if now - s.seen > self._idle or now - s.started > self._lifetime
        ]
        for key in expired:
            del self._sessions[key]


def csrf_ok(session: Session, token: str | None) -> bool:
    """The form's token is the session's (compared in constant time)."""
    return token is not None and hmac.compare_digest(session.csrf.encode(), token.encode())


@dataclass
class Throttle:
    """Refuses login attempts for a key (a user name, a client address) after `failures` failures
    within `window` seconds, until the oldest of them leaves the window."""

    failures: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.failures for key in keys)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times


@dataclass
class Guard:
    """The console's users, sessions and throttle, built from its settings."""

    users: Users
    sessions: Sessions
    throttle: Throttle
    secure_cookies: bool = False

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> Guard:
        return cls(
            Users(settings.users),
            Sessions(settings.session_minutes * 60, settings.session_max_hours * 3600),
            Throttle(settings.login_failures, settings.login_window_seconds),
            settings.secure_cookies,
        )
