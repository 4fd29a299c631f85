"""The intake on a server thread for tests, and its answers read (bodies: nsw_adapter.testing.pushes)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from lxml import etree

from nsw_adapter.intake import create_intake_app
from nsw_adapter.metrics import Metrics
from nsw_adapter.namespaces import AGENCY_NS
from nsw_adapter.settings import IntakeSettings
from nsw_adapter.store import Store
from nsw_adapter.testing.pushes import PASSWORD, USER
from nsw_adapter.texts import Language


def answer_of(soap_response: bytes) -> etree._Element:
    """The answer Envelope inside a receiveMessageResponse."""
    root = etree.fromstring(soap_response)
    returned = root.find(f".//{{{AGENCY_NS}}}receiveMessageReturn")
    assert returned is not None
    assert returned.text
    return etree.fromstring(returned.text.encode())


def settings(**overrides: object) -> IntakeSettings:
    """Intake settings for tests: loopback, port 0, the test credentials."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "credentials": {"username": USER, "password": PASSWORD},
    }
    values.update(overrides)
    return IntakeSettings.model_validate(values)


@contextmanager
def running_intake(
    store: Store,
    intake_settings: IntakeSettings | None = None,
    metrics: Metrics | None = None,
    *,
    language: Language = "en",
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Serve receiveMessage in a background thread (counting into `metrics` if given), answering in
    `language` (English, which the tests read; the daemon's default is Vietnamese), over HTTPS with
    `ssl_context`; yields its URL."""
    config = intake_settings or settings()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        app = create_intake_app(store, config, metrics=metrics, language=language)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, 0, ssl_context=ssl_context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        holder["runner"] = runner
        scheme = "http" if ssl_context is None else "https"
        holder["url"] = f"{scheme}://{config.host}:{server.sockets[0].getsockname()[1]}{config.path}"
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    started.wait(10)
    try:
        yield str(holder["url"])
    finally:
        runner = holder["runner"]
        assert isinstance(runner, web.AppRunner)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
