"""The console in the daemon: its app over the daemon's store and what the daemon knows of its dependencies.

`nsw_adapter.daemon.serve` calls `start` when `[console] enabled`; the console then listens on
its own host and port (loopback by default) until the daemon stops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from nsw_adapter.console.app import create_console_app
from nsw_adapter.console.readmodel import DependencyHealth
from nsw_adapter.console.store_model import StoreReadModel
from nsw_adapter.logging import describe_error

if TYPE_CHECKING:
    from nsw_adapter.settings import Settings
    from nsw_adapter.store import Store
    from nsw_adapter.worker import Worker

log = structlog.get_logger(__name__)
_BREAKER_STATUS = {"closed": "ok", "half_open": "degraded", "open": "failing"}
#: An event subscriber's state (delivery/health.py) as the console's statuses.
_SUBSCRIBER_STATUS = {"ok": "ok", "failing": "degraded", "unreachable": "failing", "refused": "failing"}


def dependency_health(store: Store, worker: Worker | None) -> list[DependencyHealth]:
    """The store (does it answer?), the portal and the NSW (their circuit breakers in this process),
    each event subscriber sent to (its state and last error), the loops (alive?). Without loops in
    this process, the remote ones are unknown here."""
    found: list[DependencyHealth] = []
    try:
        store.stats(datetime.now(UTC))
        found.append(DependencyHealth("store", "ok", "answers"))
    except Exception as exc:
        found.append(DependencyHealth("store", "failing", describe_error(exc)))
    context: Any = getattr(worker, "context", None)
    for name in ("portal", "nsw"):
        breaker = getattr(context, f"{name}_breaker", None)
        if breaker is None:
            found.append(DependencyHealth(name, "unknown", "no loops in this process"))
            continue
        state = str(breaker.state.value)
        found.append(DependencyHealth(name, _BREAKER_STATUS.get(state, "unknown"), f"circuit {state}"))
    health = getattr(context, "health", None)
    views = health.subscriber_views().values() if health is not None else ()
    for seen in sorted(views, key=lambda view: view.name):
        detail = seen.state.value if seen.last_error is None else f"{seen.state.value}: {seen.last_error}"
        found.append(DependencyHealth(seen.name, _SUBSCRIBER_STATUS.get(seen.state, "unknown"), detail))
    if worker is not None:
        alive = worker.alive()
        status, detail = ("ok", "running") if alive else ("failing", "stopped")
        found.append(DependencyHealth("loops", status, detail))
    return found


def console_app(settings: Settings, store: Store, worker: Worker | None) -> web.Application:
    """The console over the daemon's store, its model closed with the app."""
    model = StoreReadModel(store, settings.store.url)
    runs_loops = "worker" in settings.roles
    app = create_console_app(
        settings.console, model, health=lambda: dependency_health(store, worker if runs_loops else None)
    )

    async def close(_app: web.Application) -> None:
        model.close()

    app.on_cleanup.append(close)
    return app


async def start(settings: Settings, store: Store, worker: Worker | None) -> web.AppRunner:
    """Serve the console on [console] host:port; the caller cleans the runner up at shutdown."""
    console = settings.console
    if not console.users:
        log.warning("console.no_users")  # it serves the login form, and nobody can log in
    runner = web.AppRunner(console_app(settings, store, worker), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, console.host, console.port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1] if runner.addresses else console.port
    log.info("console.listening", host=console.host, port=port)
    return runner
