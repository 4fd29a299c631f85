"""`nsw-adapter run`: intake, every worker loop, /healthz and /metrics in one process.

The asyncio loop in the main thread serves HTTP (intake, observability); the worker loops
run on threads (zeep and SQLAlchemy are blocking). SIGTERM / SIGINT stop intake first (the
NSW re-pushes what was not answered 99), then the loops, which release their leases.

`roles` splits the two: an intake process (`--role intake`) and worker processes
(`--role worker`) share the store, each with its own /healthz and /metrics. One Python
process runs on one core at a time, so a split daemon uses the machine's other cores.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from nsw_adapter.busy import CountingExecutor
from nsw_adapter.log_limits import limit_server_errors
from nsw_adapter.logging import configure_logging, describe_error, get_logger
from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import ROLES, Settings
from nsw_adapter.store.base import Store, StoreStats
from nsw_adapter.worker import Worker, build_context

log = get_logger("nsw_adapter.daemon")


def observability_app(
    metrics: Metrics,
    store: Store,
    worker: Worker,
    roles: Sequence[str] = ROLES,
    *,
    intake_pool: CountingExecutor | None = None,
) -> web.Application:
    """/healthz (the store answers, the loops run where this process runs them, the intake has a
    free thread) and /metrics (Prometheus text format).

    Every intake thread busy is `degraded`, HTTP 200: new pushes wait (a burst of legitimate ones
    does that too, so a liveness probe must not restart the daemon for it), and an operator or a
    load balancer reading the status can send pushes elsewhere meanwhile.
    """

    runs_loops = "worker" in roles

    async def refreshed_stats() -> StoreStats:
        """The store's counts, read off the event loop, and the gauges set from them."""
        stats = await asyncio.get_running_loop().run_in_executor(None, store.stats, datetime.now(UTC))
        metrics.update_stats(stats)
        return stats

    async def healthz(_request: web.Request) -> web.Response:
        try:
            stats = await refreshed_stats()
        except Exception as exc:
            failing = {"status": "failing", "error": describe_error(exc)}
            return web.json_response(failing, status=503)
        loops_alive = worker.alive() if runs_loops else None
        ok = loops_alive is not False
        degraded = intake_pool is not None and intake_pool.exhausted()
        body: dict[str, Any] = {
            "status": "failing" if not ok else "degraded" if degraded else "ok",
            "roles": list(roles),
            "loops_alive": loops_alive,
            "dead_letters": stats.dead_letters,
        }
        if intake_pool is not None:
            body["intake_threads"] = {"busy": intake_pool.busy, "of": intake_pool.threads}
        return web.json_response(body, status=200 if ok else 503, dumps=json.dumps)

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
    settings: Settings, store: Store, executor: CountingExecutor | None = None
) -> web.Application | None:
    """The receiveMessage endpoint from the intake module (None when it is not available), on
    `executor` when given (the daemon's, which /healthz watches)."""
    try:
        intake: Any = importlib.import_module("nsw_adapter.intake")
    except ImportError:  # pragma: no cover - only while the intake module is being built
        log.warning("daemon.no_intake")
        return None
    create: Callable[..., Any] = intake.create_intake_app
    app: web.Application = create(store=store, settings=settings.intake, executor=executor)
    return app


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
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
) -> None:
    """Serve intake and observability until SIGTERM / SIGINT (or until `until` returns)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("daemon.signal", signal=sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    runners: list[web.AppRunner] = []
    pool: CountingExecutor | None = None
    if "intake" in settings.roles:
        pool = CountingExecutor(settings.intake.threads, thread_name_prefix="intake")
    intake = intake_app(settings, store, pool) if pool is not None else None
    if intake is not None:
        runner, port = await _start(intake, settings.intake.host, settings.intake.port)
        runners.append(runner)
        log.info("daemon.intake_listening", host=settings.intake.host, port=port, path=settings.intake.path)
    obs = settings.observability
    app = observability_app(metrics, store, worker, settings.roles, intake_pool=pool)
    runner, port = await _start(app, obs.host, obs.port)
    runners.insert(0, runner)
    log.info("daemon.observability_listening", host=obs.host, port=port)
    if settings.console.enabled:  # the operator console (nsw_adapter.console), off by default
        from nsw_adapter.console import serve as console

        runners.insert(0, await console.start(settings, store, worker))
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


def run(settings: Settings) -> int:
    """The daemon's main: returns the process exit code."""
    obs = settings.observability
    configure_logging(obs.log_level, obs.log_format)
    limit_server_errors()  # abandoned connections and malformed requests: a few per minute logged
    from nsw_adapter.store import open_store

    store = open_store(settings.store.url, deadline_minutes=settings.store.deadline_minutes, migrate=True)
    metrics = Metrics()
    worker = Worker.from_settings(settings, build_context(settings, store, metrics=metrics))
    runs_loops = "worker" in settings.roles
    log.info(
        "daemon.starting",
        worker_id=worker.context.worker_id,
        store=store_kind(settings.store.url),
        roles=list(settings.roles),
    )
    if runs_loops:
        worker.start()
    try:
        asyncio.run(serve(settings, store, worker, metrics))
    finally:
        if runs_loops:
            worker.stop(settings.worker.shutdown_grace_seconds)
        store.close()
        log.info("daemon.stopped")
    return 0


def store_kind(url: str) -> str:
    """The store's dialect only (a DSN may carry a password)."""
    return url.split(":", 1)[0]
