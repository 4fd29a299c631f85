"""`nsw-adapter run`: intake, every worker loop, /healthz and /metrics in one process.

The asyncio loop in the main thread serves HTTP (intake, observability); the worker loops
run on threads (zeep and SQLAlchemy are blocking). SIGTERM, SIGINT and SIGHUP stop intake first
(the NSW re-pushes what was not answered 99), then the loops, which release their leases: a
supervisor restarts the daemon to apply changed settings (SIGHUP does not reload in place).

Start-up, in order: the settings are checked (the simulators' demo password is refused unless
allow_demo_credentials), the store is opened as it is (never created or migrated here: an older
schema says to run `nsw-adapter db migrate`, a newer one refuses to start; an unreachable server
is tried again for store.start_wait_seconds, saying so), both ports are bound, and only then do
the loops start.

`roles` splits the two: an intake process (`--role intake`) and worker processes
(`--role worker`) share the store, each with its own /healthz and /metrics. One Python
process runs on one core at a time, so a split daemon uses the machine's other cores.
"""

from __future__ import annotations

import asyncio
import errno
import json
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from nsw_adapter.build import adapter_version
from nsw_adapter.busy import CountingExecutor
from nsw_adapter.envelope import CANCELLATION
from nsw_adapter.errors import CannotListen, ConfigurationError, StoreUnreachable
from nsw_adapter.intake import create_intake_app
from nsw_adapter.lifecycle import IntakeOutcome
from nsw_adapter.log_limits import limit_server_errors
from nsw_adapter.logging import configure_logging, describe_error, get_logger
from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import ROLES, Settings, demo_credentials
from nsw_adapter.store import IncomingMessage, Store, StoreStats, SubscriberFigures
from nsw_adapter.tls import intake_context
from nsw_adapter.wakeup import Bell, Topic
from nsw_adapter.worker import Worker, build_context

if TYPE_CHECKING:
    from nsw_adapter.store import SqlStore
    from nsw_adapter.store.wake_channel import WakeListener, WakeSender

#: The signals that stop the daemon gracefully (SIGHUP too: a closed terminal or a supervisor's
#: reload request; settings are read at start only, so a restart applies them).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

log = get_logger("nsw_adapter.daemon")


def observability_app(
    metrics: Metrics,
    store: Store,
    worker: Worker,
    roles: Sequence[str] = ROLES,
    *,
    intake_pool: CountingExecutor | None = None,
) -> web.Application:
    """/healthz (the store answers, the loops run where this process runs them, the portal and the NSW
    reachable and accepting our credentials, the intake has a free thread) and /metrics (Prometheus
    text format).

    `dependencies` reports the store, the portal and the NSW (the store only, in an intake-only
    process) as this process's loops last saw them: state, last success, last error (health.py; no
    call is made for it). HTTP 503 (what load balancers and probes read as "not ready") when the
    store fails or a loop died (`failing`), or when the portal or the NSW is unreachable or refuses
    our credentials (`degraded`, `degraded_by` naming them). Each event subscriber's backlog, and
    its state as this process's senders last saw it (a refusal of our credentials shows there; it
    does not make the adapter degraded: the NSW and the portal are served all the same).

    Every intake thread busy is `degraded` too, but HTTP 200: new pushes wait (a burst of legitimate
    ones does that too, so a liveness probe must not restart the daemon for it), and an operator or a
    load balancer reading the status can send pushes elsewhere meanwhile.
    """

    runs_loops = "worker" in roles
    health = worker.context.health
    dependency_names = ("store", "portal", "nsw") if runs_loops else ("store",)

    async def refreshed_stats() -> StoreStats:
        """The store's counts, read off the event loop, and the gauges set from them."""
        try:
            stats = await asyncio.get_running_loop().run_in_executor(None, store.stats, datetime.now(UTC))
        except Exception as exc:
            health.store.failed(describe_error(exc), unreachable=False)
            raise
        health.store.succeeded()
        metrics.update_stats(stats)
        return stats

    async def healthz(_request: web.Request) -> web.Response:
        try:
            stats = await refreshed_stats()
        except Exception as exc:
            failing = {
                "status": "failing",
                "error": describe_error(exc),
                "dependencies": health.report(dependency_names),
            }
            return web.json_response(failing, status=503)
        loops_alive = worker.alive() if runs_loops else None
        ok = loops_alive is not False
        unavailable = health.degraded() if runs_loops else []
        degraded = bool(unavailable) or (intake_pool is not None and intake_pool.exhausted())
        body: dict[str, Any] = {
            "status": "failing" if not ok else "degraded" if degraded else "ok",
            "roles": list(roles),
            "loops_alive": loops_alive,
            "dead_letters": stats.dead_letters,
            "dependencies": health.report(dependency_names),
        }
        names = sorted({*metrics.subscribers, *stats.subscribers})
        if names:  # the event feed's backlog per subscriber (configured, or with events waiting)
            seen = health.subscriber_views()  # as this process's senders last saw each
            body["subscribers"] = {
                name: {
                    "pending": figures.pending,
                    "oldest_pending_seconds": figures.oldest_pending_seconds,
                    "dead": figures.dead,
                    **({} if name not in seen else seen[name].as_dict()),
                }
                for name in names
                for figures in [stats.subscribers.get(name, SubscriberFigures())]
            }
        if unavailable:
            body["degraded_by"] = unavailable
        if intake_pool is not None:
            body["intake_threads"] = {"busy": intake_pool.busy, "of": intake_pool.threads}
        status = 200 if ok and not unavailable else 503
        return web.json_response(body, status=status, dumps=json.dumps)

    async def metrics_view(_request: web.Request) -> web.Response:
        if not runs_loops:
            # No housekeeping loop here refreshes the store's gauges: read them for this scrape.
            try:
                await refreshed_stats()
            except Exception as exc:  # the last values stay; /healthz reports the store failing
                log.warning("daemon.stats_failed", error=describe_error(exc))
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app


def intake_app(
    settings: Settings,
    store: Store,
    executor: CountingExecutor | None = None,
    metrics: Metrics | None = None,
    bell: Bell | None = None,
) -> web.Application:
    """The receiveMessage endpoint, on `executor` when given (the daemon's, which /healthz
    watches), counting into `metrics`, ringing `bell` for the loops after each stored message."""

    def on_stored(message: IncomingMessage, outcome: IntakeOutcome) -> None:
        if bell is not None:
            bell.ring(*rings_for(message, outcome))

    return create_intake_app(
        store,
        settings.intake,
        executor=executor,
        metrics=metrics,
        language=settings.agent_language,
        on_stored=None if bell is None else on_stored,
    )


def rings_for(message: IncomingMessage, outcome: IntakeOutcome) -> tuple[Topic, ...]:
    """The loops a new message has work for: a cancellation's; the submit loop's only when the
    push made its dossier ready (a ring for each of its other pushes would wake it for nothing, and
    cost more than a wasted look: each claim it woke for would take one dossier, not a batch)."""
    if message.function == CANCELLATION:
        return (Topic.CANCEL, Topic.EVENTS)
    if outcome is IntakeOutcome.READY:
        return (Topic.SUBMIT, Topic.EVENTS)
    return (Topic.EVENTS,)


def intake_tls(settings: Settings) -> ssl.SSLContext | None:
    """The intake's TLS context: HTTPS when [intake] tls_certificate is set (nsw_adapter/tls.py), else
    None (plain HTTP, e.g. behind a reverse proxy terminating TLS)."""
    return intake_context(settings.intake)


async def _start(
    app: web.Application, host: str, port: int, what: str, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port, or CannotListen saying in one line why not."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise CannotListen(f"cannot listen on {host}:{port} ({what}): {reason}") from None
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    return runner, int(bound)


async def serve(
    settings: Settings,
    store: Store,
    worker: Worker,
    metrics: Metrics,
    *,
    until: Callable[[], Awaitable[None]] | None = None,
    listening: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Serve intake and observability until SIGTERM / SIGINT / SIGHUP (or until `until` returns).

    Both ports are bound before `listening` is called with their URLs (the daemon starts its
    loops there): a port in use is CannotListen before any work begins.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("daemon.signal", signal=sig.name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    runners: list[web.AppRunner] = []
    pool: CountingExecutor | None = None
    endpoints: dict[str, str] = {}
    try:
        if "intake" in settings.roles:
            pool = CountingExecutor(settings.intake.threads, thread_name_prefix="intake")
        intake = intake_app(settings, store, pool, metrics, worker.context.bell) if pool is not None else None
        if intake is not None:
            tls = intake_tls(settings)
            host = settings.intake.host
            runner, port = await _start(intake, host, settings.intake.port, "intake", tls)
            runners.append(runner)
            scheme = "https" if tls is not None else "http"
            endpoints["intake"] = f"{scheme}://{host}:{port}{settings.intake.path}"
            log.info("daemon.intake_listening", host=host, port=port, path=settings.intake.path)
        obs = settings.observability
        app = observability_app(metrics, store, worker, settings.roles, intake_pool=pool)
        runner, port = await _start(app, obs.host, obs.port, "observability")
        runners.insert(0, runner)
        endpoints["observability"] = f"http://{obs.host}:{port}"
        log.info("daemon.observability_listening", host=obs.host, port=port)
        if settings.console.enabled:  # the operator console (nsw_adapter.console), off by default
            from nsw_adapter.console import serve as console

            runners.insert(0, await console.start(settings, store, worker))
    except BaseException:
        for started in runners:
            await started.cleanup()
        if pool is not None:
            pool.shutdown(wait=True)
        raise
    if listening is not None:
        listening(endpoints)
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
    if until is not None:
        waiters.append(asyncio.ensure_future(until()))
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    # Intake first: a push that is not answered 99 is pushed again by the NSW.
    for runner in reversed(runners):
        await runner.cleanup()
    if pool is not None:  # waits for intake jobs still running (a commit under way finishes)
        pool.shutdown(wait=True)


def run(settings: Settings, *, config: Path | None = None) -> int:
    """The daemon's main: returns the process exit code. Expected failures raise (one line each,
    cli/__init__.py): ConfigurationError (NameInUse among them), StoreNotReady, StoreUnreachable,
    CannotListen."""
    obs = settings.observability
    configure_logging(obs.log_level, obs.log_format)
    limit_server_errors()  # abandoned connections and malformed requests: a few per minute logged
    refuse_demo_credentials(settings)
    store = open_store_waiting(settings)
    metrics = Metrics()
    worker = Worker.from_settings(settings, build_context(settings, store, metrics=metrics))
    runs_loops = "worker" in settings.roles
    started = False
    if runs_loops:  # before serving: a name another live daemon holds is a clean refusal
        try:
            worker.hold_name()
        except BaseException:
            store.close()
            raise

    def listening(endpoints: dict[str, str]) -> None:
        nonlocal started
        log.info(
            "daemon.started",
            version=adapter_version(),
            worker_id=worker.context.worker_id,
            roles=list(settings.roles),
            store=store_location(settings.store.url),
            config=str(config) if config is not None else "none (defaults and environment)",
            intake=endpoints.get("intake"),
            observability=endpoints.get("observability"),
        )
        if runs_loops:
            worker.start()
        started = True

    channel = wake_channel(settings, worker.context.bell)
    try:
        asyncio.run(serve(settings, store, worker, metrics, listening=listening))
    finally:
        if runs_loops and started:
            worker.stop(settings.worker.shutdown_grace_seconds)
        if channel is not None:
            channel.close()
        store.close()
        if started:
            log.info("daemon.stopped")
    return 0


def wake_channel(settings: Settings, bell: Bell) -> WakeSender | WakeListener | None:
    """Rings carried between an intake process and worker processes (roles split) on PostgreSQL:
    the intake sends, a worker listens (store/wake_channel.py). A process running both roles rings
    its own loops; on SQLite a worker-only process polls instead (worker.unrung_topics)."""
    roles = set(settings.roles)
    if not settings.store.url.startswith("postgresql") or roles == {"intake", "worker"}:
        return None
    # Imported here: psycopg costs ~0.1 s of a start-up, and only PostgreSQL stores need it.
    from nsw_adapter.store.wake_channel import WakeListener, WakeSender

    channel: WakeSender | WakeListener
    if "intake" in roles:
        channel = WakeSender(settings.store.url)
        bell.relay_to(channel.send)
    else:

        def heard(topic: str) -> None:
            if topic in {member.value for member in Topic}:  # from a newer version: ignored
                bell.ring_here(Topic(topic))

        channel = WakeListener(settings.store.url, heard)
    channel.start()
    return channel


def refuse_demo_credentials(settings: Settings) -> None:
    """ConfigurationError when a credential holds the simulators' password, unless allowed."""
    demo = demo_credentials(settings)
    if demo and not settings.allow_demo_credentials:
        raise ConfigurationError(
            f"{', '.join(demo)}: the simulators' demo password; set real credentials, or "
            "allow_demo_credentials = true (NSW_ADAPTER_ALLOW_DEMO_CREDENTIALS=true) for the simulators"
        )


def open_store_waiting(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> SqlStore:
    """The store as it is (never created or migrated here). An unreachable server is tried again,
    each wait logged, until store.start_wait_seconds have passed; then StoreUnreachable."""
    from nsw_adapter.store import open_store

    deadline = time.monotonic() + settings.store.start_wait_seconds
    delay = 1.0
    while True:
        try:
            return open_store(
                settings.store.url, existing=True, deadline_minutes=settings.store.deadline_minutes
            )
        except StoreUnreachable as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("daemon.store_unreachable", error=str(exc), retry_in=delay)
            sleep(delay)
            delay = min(delay * 2, 10.0)


def store_location(url: str) -> str:
    """The store's URL without its password (a DSN may carry one)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
