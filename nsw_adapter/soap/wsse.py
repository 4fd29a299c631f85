"""WS-Security UsernameToken (PasswordDigest) checking for our servers, and making one for raw clients.

Digest = Base64(SHA-1(nonce + created + password)), per the OASIS WSS 1.0 UsernameToken
Profile. A token is refused when the user is unknown, the digest is wrong, `Created` is
outside the allowed skew, or its nonce was seen within that window (a replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

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


class UsernameTokenVerifier:
    """Checks UsernameTokens against known credentials, with a skew window and a nonce cache."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        max_skew_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = dict(credentials)
        self._max_skew = max_skew_seconds
        self._clock = clock
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

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
        now = self._clock()
        if abs(now - created_at.timestamp()) > self._max_skew:
            raise WsseError("stale or future Created timestamp")
        password = self._credentials.get(user)
        expected = digest(nonce, created, password or "")
        if password is None or not hmac.compare_digest(expected, (password_element.text or "").strip()):
            raise WsseError("wrong user name or password")
        self._remember(nonce, now)
        return user

    def _remember(self, nonce: bytes, now: float) -> None:
        with self._lock:
            if now >= self._next_purge:
                horizon = now - 2 * self._max_skew
                self._seen = {n: t for n, t in self._seen.items() if t >= horizon}
                self._next_purge = now + self._max_skew
            if nonce in self._seen:
                raise WsseError("replayed nonce")
            self._seen[nonce] = now


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
