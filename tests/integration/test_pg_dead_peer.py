"""PostgreSQL connections notice a database host that vanished (store/engine.py DEAD_PEER): every
pooled connection, the name lock's and the wake channel's carry libpq's keepalive and
tcp_user_timeout settings, and a URL that sets its own keeps them."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from nsw_adapter.store import open_store
from nsw_adapter.store.engine import DEAD_PEER
from nsw_adapter.store.wake_channel import driver_dsn

pytestmark = pytest.mark.postgres


def _live_settings(url: str) -> dict[str, str]:
    """The libpq parameters the store's pooled connection was opened with."""
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            return raw.info.get_parameters()
    finally:
        store.close()


def test_every_connection_gives_up_on_a_vanished_database_within_a_minute(pg_url: str) -> None:
    found = _live_settings(pg_url)
    assert {name: found.get(name) for name in DEAD_PEER} == {n: str(v) for n, v in DEAD_PEER.items()}
    listener = psycopg.conninfo.conninfo_to_dict(driver_dsn(pg_url))
    assert listener["tcp_user_timeout"] == "30000"
    assert listener["keepalives_idle"] == "30"


def test_a_url_of_its_own_keeps_its_settings(pg_url: str) -> None:
    own = f"{pg_url}{'&' if '?' in pg_url else '?'}keepalives_idle=5&tcp_user_timeout=1000"
    found = _live_settings(own)
    assert (found["keepalives_idle"], found["tcp_user_timeout"]) == ("5", "1000")
    assert found["keepalives_count"] == "3"  # the rest still ours
    listener = psycopg.conninfo.conninfo_to_dict(driver_dsn(own))
    assert (listener["keepalives_idle"], listener["tcp_user_timeout"]) == ("5", "1000")
