"""WS-Security UsernameToken (PasswordDigest) checking for our servers, and making one for raw clients.

Digest = Base64(SHA-1(nonce + created + password)), per the OASIS WSS 1.0 UsernameToken
Profile. A token is refused when the user is unknown, the digest is wrong, `Created` is
outside the accepted window, or its nonce was seen within that window (a replay). Used nonces
live in a ReplayCache: the store's for the intake (durable, shared by every daemon on it),
process memory for the simulators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lxml import etree

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
# A URI naming the token type, not a password.
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"  # noqa: S105
)
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)


class WsseError(Exception):
    """A request whose UsernameToken is missing, wrong, stale or replayed (answered as AUTH)."""


def digest(nonce: bytes, created: str, password: str) -> str:
    """The PasswordDigest of a token."""
    # SHA-1 is what the UsernameToken profile specifies; it is not our choice.
    sha1 = hashlib.sha1(nonce + created.encode() + password.encode())  # noqa: S324
    return base64.b64encode(sha1.digest()).decode()


class ReplayCache(Protocol):
    """Where used nonces are remembered: process memory (simulators, tests) or the store (intake)."""

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        """Record `key` until `expires_at`, atomically: True when it was new, False when it was
        already recorded (a replay)."""
        ...


class MemoryReplayCache:
    """Used nonces in this process's memory only: forgotten on restart and not shared, so only for
    servers with no store (the simulators, tests). The intake passes its Store, which is a ReplayCache."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def remember_nonce(self, key: str, expires_at: datetime) -> bool:
        """True when `key` is new (now recorded), False when it is still held."""
        now = self._clock()
        with self._lock:
            if now >= self._next_purge:  # an occasional sweep keeps memory bounded by the window
                self._seen = {k: until for k, until in self._seen.items() if until >= now}
                self._next_purge = now + 60.0
            until = self._seen.get(key)
            if until is not None and until >= now:
                return False
            self._seen[key] = expires_at.timestamp()
            return True


def nonce_key(user: str, nonce: bytes) -> str:
    """What a replay cache keys a used token by: a digest of user and nonce (the nonce itself is
    never stored; the user is part of it so that two senders' nonces cannot collide)."""
    return hashlib.sha256(user.encode("utf-8") + b"\0" + nonce).hexdigest()


class UsernameTokenVerifier:
    """Checks UsernameTokens against known credentials, a timestamp window and a replay cache.

    The window follows WSS4J's defaults: `Created` at most `max_skew_seconds` (60) in the future
    (the sender's clock may run ahead), at most `max_age_seconds` (300) in the past. A nonce is
    remembered until its token can no longer be accepted, plus the skew (the clocks of several
    daemons sharing one store differ a little), so a replay inside the window is always caught.
    """

    def __init__(
        self,
        credentials: Mapping[str, str | Sequence[str]],
        *,
        max_skew_seconds: float = 60.0,
        max_age_seconds: float = 300.0,
        replay_cache: ReplayCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.replace_credentials(credentials)
        self._max_skew = max_skew_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._replays = replay_cache if replay_cache is not None else MemoryReplayCache(clock=clock)

    def replace_credentials(self, credentials: Mapping[str, str | Sequence[str]]) -> None:
        """Accept these credentials from now on (the simulators' /admin/credentials: a password
        changed at the other side while the adapter runs)."""
        # Each user may have more than one password at once: the old and the new during a rotation.
        self._credentials = {
            user: (passwords,) if isinstance(passwords, str) else tuple(passwords)
            for user, passwords in credentials.items()
        }

    def verify(self, soap_header: etree._Element | None) -> str:
        """Return the authenticated user name, or raise WsseError saying why not (never the secret)."""
        token = (
            None if soap_header is None else soap_header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        )
        if token is None:
            raise WsseError("no WS-Security UsernameToken")
        user = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
        password_element = token.find(f"{{{WSSE}}}Password")
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = (token.findtext(f"{{{WSU}}}Created") or "").strip()
        if password_element is None or password_element.get("Type", PASSWORD_DIGEST) != PASSWORD_DIGEST:
            raise WsseError("a PasswordDigest is required")
        if not nonce_text or not created:
            raise WsseError("Nonce and Created are required")
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
            created_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise WsseError("unreadable Nonce or Created") from None
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        age = self._clock() - created_at.timestamp()
        if age > self._max_age:
            raise WsseError("stale Created timestamp")
        if age < -self._max_skew:
            raise WsseError("Created timestamp in the future")
        given = (password_element.text or "").strip()
        # Every password of the user is compared (no early exit), and an unknown user costs one digest.
        matches = [
            hmac.compare_digest(digest(nonce, created, p), given) for p in self._credentials.get(user, ("",))
        ]
        if user not in self._credentials or not any(matches):
            raise WsseError("wrong user name or password")
        # Only after the digest checks out: an unauthenticated sender cannot fill the cache.
        keep_until = created_at + timedelta(seconds=self._max_age + self._max_skew)
        if not self._replays.remember_nonce(nonce_key(user, nonce), keep_until):
            raise WsseError("replayed nonce")
        return user


def username_token_header(user: str, password: str, *, now: datetime | None = None) -> etree._Element:
    """A wsse:Security header element with a fresh digest token, for clients that do not use zeep."""
    nonce = os.urandom(16)
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
    etree.SubElement(token, f"{{{WSSE}}}Username").text = user
    password_element = etree.SubElement(token, f"{{{WSSE}}}Password", Type=PASSWORD_DIGEST)
    password_element.text = digest(nonce, created, password)
    etree.SubElement(token, f"{{{WSSE}}}Nonce", EncodingType=BASE64_BINARY).text = base64.b64encode(
        nonce
    ).decode()
    etree.SubElement(token, f"{{{WSU}}}Created").text = created
    return security
