"""The adapter in-process (intake + worker on one store) for the demo, end-to-end tests and benchmarks.

`nsw-adapter run` is the production shape; this runs the same pieces (the intake app, the
Worker and its loops) inside the calling process, with its HTTP server on a background
thread and an ephemeral port, so a test can start the simulators, the adapter and look at
everything over real sockets.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from aiohttp import web

from nsw_adapter.metrics import Metrics
from nsw_adapter.settings import Settings
from nsw_adapter.simulators.http import BackgroundServer
from nsw_adapter.worker import Worker, build_context


class AdapterStack:
    """Store, intake endpoint and worker of one adapter process."""

    def __init__(self, settings: Settings, *, with_intake: bool = True, **context_options: Any) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._with_intake = with_intake
        self._context_options = context_options
        self.store: Any = None
        self.worker: Worker | None = None
        self._server: BackgroundServer | None = None

    @property
    def intake_url(self) -> str:
        """Where the NSW pushes (receiveMessage)."""
        assert self._server is not None
        intake = self.settings.intake
        return f"http://{intake.host}:{self._server.port}{intake.path}"

    def start(self) -> Self:
        """Open (creating and migrating: a demo's or a test's fresh store) and start everything."""
        from nsw_adapter.intake import create_intake_app
        from nsw_adapter.store import open_store

        self.store = open_store(
            self.settings.store.url, deadline_minutes=self.settings.store.deadline_minutes, migrate=True
        )
        context = build_context(self.settings, self.store, metrics=self.metrics, **self._context_options)
        self.worker = Worker.from_settings(self.settings, context)
        if self._with_intake:
            store, intake, metrics = self.store, self.settings.intake, self.metrics

            async def make() -> web.Application:
                return create_intake_app(
                    store, intake, metrics=metrics, language=self.settings.agent_language
                )

            self._server = BackgroundServer(make, host=intake.host, port=intake.port, name="adapter-intake")
            self._server.start()
        self.worker.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.worker is not None:
            self.worker.stop(self.settings.worker.shutdown_grace_seconds)
            self.worker = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def fast_settings(
    store_url: str,
    portal_url: str,
    nsw_url: str,
    *,
    subscribers: list[dict[str, Any]] | None = None,
    **worker: Any,
) -> Settings:
    """Settings for a quick local run: short polls, short backoffs, ephemeral intake port; the
    event feed's `subscribers` ([[subscribers]] tables) if any."""
    from nsw_adapter.settings import load_settings

    worker_options: dict[str, Any] = {
        "poll_interval_seconds": 0.3,
        "idle_seconds": 0.05,
        "in_process_retry_seconds": 1.0,
        "defer_initial_seconds": 0.2,
        "defer_max_seconds": 2.0,
        "breaker_failures": 8,
        "breaker_reset_seconds": 1.0,
        "expiry_interval_seconds": 1.0,
        "shutdown_grace_seconds": 5.0,
    }
    worker_options.update(worker)
    return load_settings(
        None,
        worker_id=None,
        intake={"host": "127.0.0.1", "port": 0},
        store={"url": store_url, "lease_seconds": 15.0},
        portal={"url": portal_url, "timeout_seconds": 5.0, "retry_budget_seconds": 300.0},
        nsw={"url": nsw_url, "timeout_seconds": 5.0, "retry_budget_seconds": 300.0},
        worker=worker_options,
        subscribers=subscribers or [],
    )
