"""HTTP plumbing shared by both simulators: fault application, a background-thread server, the CLI loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from nsw_adapter.simulators.faults import Decision

_log = logging.getLogger(__name__)
T = TypeVar("T")

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stopping", asyncio.Event)


def soap_reply(body: bytes, status: int = 200) -> web.Response:
    """A SOAP 1.1 HTTP answer (faults go out with status 500, as SOAP 1.1 over HTTP requires)."""
    return web.Response(body=body, status=status, headers={"Content-Type": SOAP_CONTENT_TYPE})


async def apply_fault(
    request: web.Request, decision: Decision, unavailable: Callable[[], bytes]
) -> web.StreamResponse | None:
    """Carry out a fault decision: None to go on and answer normally, else the response to send.

    latency sleeps first; http503 and outage answer 503; unavailable answers the SOAP fault
    `unavailable()` builds; reset aborts the connection; hang waits `hang_seconds` (or until the
    server stops) and then aborts the connection without an answer. lost-reply goes on (the
    request is processed; `serve_soap` drops the answer).
    """
    stopping = request.app[STOPPING]
    if decision.delay:
        await asyncio.sleep(decision.delay)
    kind = decision.kind
    if kind in ("none", "lost-reply"):
        return None
    if kind in ("http503", "outage"):
        return web.Response(status=503, text="Service Unavailable (simulated)", headers={"Retry-After": "1"})
    if kind == "unavailable":
        return soap_reply(unavailable(), status=500)
    if kind == "hang":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=decision.hang_seconds)
    raise _drop(request)


def _drop(request: web.Request) -> asyncio.CancelledError:
    """Drop the connection without a word (reset, the end of a hang, a lost reply, a caller gone);
    the handler then raises what this returns: aiohttp treats a cancelled handler on a closed
    connection quietly."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return asyncio.CancelledError()


async def serve_soap(
    request: web.Request,
    decision: Decision,
    unavailable: Callable[[], bytes],
    process: Callable[[bytes], Awaitable[tuple[bytes, bool]]],
) -> web.StreamResponse:
    """Answer one SOAP request under a fault decision, as a real server would.

    The body is read first; from then on the request is carried out to the end even if its caller
    goes away meanwhile (during a latency, say): the work runs shielded from the handler's
    cancellation, and only the answer is lost. A disconnect is logged at INFO, without a traceback.
    `process(body)` returns (answer, is_fault).
    """
    try:
        body = await request.read()
    except (ConnectionError, asyncio.IncompleteReadError):
        _log.info("simulator: the caller went away before its request was read")
        raise _drop(request) from None

    async def carry_out() -> web.StreamResponse:
        early = await apply_fault(request, decision, unavailable)
        if early is not None:
            return early
        answer, is_fault = await process(body)
        if decision.kind == "lost-reply":
            _log.info("simulator: a processed request's answer dropped (lost-reply)")
            raise _drop(request)
        return soap_reply(answer, status=500 if is_fault else 200)

    work = asyncio.ensure_future(carry_out())
    try:
        reply = await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():  # the handler was cancelled (caller gone): the work still finishes
            work.add_done_callback(_quiet)
        raise
    transport = request.transport
    if transport is None or transport.is_closing():
        _log.info("simulator: the caller went away before its answer was sent")
        raise _drop(request)
    return reply


def _quiet(task: asyncio.Future[Any]) -> None:
    """Collect a shielded task's outcome without 'exception never retrieved' noise."""
    if not task.cancelled():
        task.exception()


async def read_credentials(request: web.Request) -> dict[str, str]:
    """The body of POST /admin/credentials: a JSON object of user name -> password (HTTP 400 otherwise)."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="a JSON object of user name -> password") from None
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise web.HTTPBadRequest(text="a JSON object of user name -> password")
    return {str(user): password for user, password in body.items()}


def new_app() -> web.Application:
    """An aiohttp application with the shared `stopping` event (set when shutdown begins)."""
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app[STOPPING] = asyncio.Event()
    return app


async def start_site(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start serving `app` (HTTPS with `ssl_context`, nsw_adapter.tls); return the runner and the
    port actually bound (port 0: ephemeral)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, ssl_context=ssl_context)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound


async def stop_site(app: web.Application, runner: web.AppRunner) -> None:
    """Wake hanging handlers, then stop accepting and close connections."""
    stopping = app.get(STOPPING)
    if stopping is not None:
        stopping.set()
    await runner.cleanup()


class BackgroundServer:
    """Runs an aiohttp application on its own event loop in a daemon thread (for in-process use)."""

    def __init__(
        self,
        make_app: Callable[[], Awaitable[web.Application]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "simulator",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._make_app = make_app
        self._ssl_context = ssl_context
        self._host = host
        self._port = port
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (running while the server is started)."""
        if self._loop is None:
            raise RuntimeError(f"the {self._name} is not running")
        return self._loop

    def start(self, timeout: float = 10.0) -> None:
        """Start the loop thread and wait until the server listens."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the {self._name} did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the {self._name} failed to start") from self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.app = loop.run_until_complete(self._make_app())
            self._runner, self.port = loop.run_until_complete(
                start_site(self.app, self._host, self._port, self._ssl_context)
            )
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the server's loop from another thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, cancel what is left on the loop, and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self.app is not None and self._runner is not None:
            try:
                self.call(stop_site(self.app, self._runner), timeout)
            except Exception:  # keep shutting down; a failed cleanup must not leak the thread
                _log.exception("simulator cleanup failed")

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(cancel_rest(), timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = None
            self._thread = None


def serve_until_interrupted(
    make_app: Callable[[], Awaitable[web.Application]],
    host: str,
    port: int,
    announce: Callable[[int], None],
    after_start: Callable[[web.Application], Awaitable[None]] | None = None,
    done: Callable[[web.Application], Awaitable[None]] | None = None,
) -> int:
    """Serve in the foreground until SIGINT / SIGTERM (or until `done` returns); exit code 0."""

    async def main() -> None:
        app = await make_app()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)  # before the announcement a caller may act on
        runner, bound = await start_site(app, host, port)
        announce(bound)
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if after_start is not None:
            await after_start(app)
        if done is not None:
            waiters.append(asyncio.ensure_future(done(app)))
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await stop_site(app, runner)

    asyncio.run(main())
    return 0


class SimulatorHandle:
    """What both in-process simulators share: a BackgroundServer, its URLs, start/stop, `with`."""

    def __init__(
        self,
        make_app: Callable[[], Awaitable[web.Application]],
        *,
        host: str,
        port: int,
        name: str,
        path: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._path = path
        self._name = name
        self._scheme = "http" if ssl_context is None else "https"
        self._server = BackgroundServer(make_app, host=host, port=port, name=name, ssl_context=ssl_context)

    @property
    def url(self) -> str:
        """The SOAP endpoint, e.g. http://127.0.0.1:41234/bgp/portal."""
        return f"{self.base_url}{self._path}"

    @property
    def base_url(self) -> str:
        """http(s)://host:port (admin endpoints live under /admin)."""
        return f"{self._scheme}://{self._host}:{self._server.port}"

    def _app(self) -> web.Application:
        app = self._server.app
        if app is None:
            raise RuntimeError(f"the {self._name} is not running")
        return app

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
