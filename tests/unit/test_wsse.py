"""The UsernameToken verifier's timestamp window (WSS4J's defaults) and its replay cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from nsw_adapter.soap import MemoryReplayCache, UsernameTokenVerifier, WsseError, username_token_header
from nsw_adapter.soap.wsse import nonce_key

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def header(created: datetime) -> etree._Element:
    """A SOAP Header holding a fresh token for demo/demo created at `created`."""
    root = etree.Element("Header")
    root.append(username_token_header("demo", "demo", now=created))
    return root


def verifier() -> UsernameTokenVerifier:
    return UsernameTokenVerifier({"demo": "demo"}, clock=NOW.timestamp)


@pytest.mark.parametrize(("offset", "accepted"), [(59, True), (61, False), (-299, True), (-301, False)])
def test_created_is_accepted_60_s_ahead_and_300_s_behind(offset: int, accepted: bool) -> None:
    """By default Created may be at most 60 s in the future and 300 s in the past."""
    token = header(NOW + timedelta(seconds=offset))
    if accepted:
        assert verifier().verify(token) == "demo"
    else:
        with pytest.raises(WsseError):
            verifier().verify(token)


def test_the_memory_cache_forgets_a_nonce_once_it_expires() -> None:
    """The in-memory cache refuses a key while it is held and accepts it again after it expired."""
    now = [NOW.timestamp()]
    cache = MemoryReplayCache(clock=lambda: now[0])
    key = nonce_key("demo", b"0123456789abcdef")
    assert cache.remember_nonce(key, NOW + timedelta(seconds=10))
    assert not cache.remember_nonce(key, NOW + timedelta(seconds=10))
    now[0] += 11
    assert cache.remember_nonce(key, NOW + timedelta(seconds=30))


def test_the_same_nonce_from_two_users_is_two_keys() -> None:
    """The replay key depends on the user as well as the nonce, and never contains the nonce itself."""
    nonce = b"0123456789abcdef"
    assert nonce_key("a", nonce) != nonce_key("b", nonce)
    assert nonce.hex() not in nonce_key("a", nonce)
