"""The reference subscriber: an agency's webhook receiver (and AMQP consumer) for the event feed.

* ``POST /hooks/nsw``: one event, signed the Standard Webhooks way. The signature (and its
  timestamp, within five minutes) is checked with the subscriber's secret by the
  `standardwebhooks` library: a bad one is answered 401 and not kept; a body that is not a
  CloudEvents 1.0 JSON event, 400. A kept event is answered 204; a redelivery (an id already
  kept) too, counted as a duplicate. Faults (`--faults`, the simulators' grammar: `unavailable`
  answers 500, `http503` 503, `reset`, `hang`, `latency`, `outage`) apply here only.
* With an AMQP URL, a durable queue bound to the feed's exchange is consumed into the same state.
* ``GET /admin/state``: {"events": [{"via": "webhook"|"amqp", "event": {...CloudEvent...}}, ...]
  (first arrivals, in order), "counts": {"deliveries", "webhook", "amqp", "duplicates",
  "conflicts" (an id seen again with other bytes), "bad_signatures", "malformed"},
  "injected": {fault kind: count}}. ``POST /admin/reset`` forgets everything. Never faulted.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from nsw_adapter.events.config import DEFAULT_EXCHANGE
from nsw_adapter.simulators.faults import FaultInjector, FaultSpec, parse_fault_spec
from nsw_adapter.simulators.http import SimulatorHandle, apply_fault, new_app
from nsw_adapter.simulators.subscriber_amqp import AmqpConsumer
from nsw_adapter.simulators.subscriber_state import SubscriberState, read_event

PATH = "/hooks/nsw"
#: The demo's published signing secret (`make demo`, `simulate subscriber` without --secret).
DEMO_SECRET = "whsec_" + base64.b64encode(b"nsw-adapter demo secret!").decode()


@dataclass(frozen=True)
class AmqpSource:
    """Where the subscriber consumes the feed over AMQP: a queue of its own on the exchange."""

    url: str
    queue: str
    exchange: str = DEFAULT_EXCHANGE
    bindings: tuple[str, ...] = ("#",)


@dataclass
class SubscriberConfig:
    """What the reference subscriber checks and injects."""

    secret: str = DEMO_SECRET
    faults: FaultSpec = field(default_factory=FaultSpec)
    amqp: AmqpSource | None = None


class SubscriberService:
    """The subscriber's state, its signature checker and its fault injector."""

    def __init__(self, config: SubscriberConfig) -> None:
        self.config = config
        self.verifier = Webhook(config.secret)
        self.state = SubscriberState()
        self.injector = FaultInjector(config.faults)
        self.consumer: AmqpConsumer | None = None

    def snapshot(self) -> dict[str, Any]:
        return {**self.state.snapshot(), "injected": self.injector.snapshot()}

    def reset(self) -> None:
        self.state.reset()
        self.injector.reset()


SERVICE: web.AppKey[SubscriberService] = web.AppKey("subscriber", SubscriberService)


async def make_subscriber_app(config: SubscriberConfig) -> web.Application:
    """The reference subscriber's aiohttp application (the AMQP consumer starts and stops with it)."""
    service = SubscriberService(config)
    app = new_app()
    app[SERVICE] = service
    app.router.add_post(PATH, _hook)
    app.router.add_get("/admin/state", _admin_state)
    app.router.add_post("/admin/reset", _admin_reset)

    async def started(_: web.Application) -> None:
        service.injector.start()
        source = config.amqp
        if source is not None:
            consumer = AmqpConsumer(source.url, source.exchange, source.queue, source.bindings, service.state)
            consumer.start()
            service.consumer = consumer

    async def stopped(_: web.Application) -> None:
        if service.consumer is not None:
            service.consumer.stop()

    app.on_startup.append(started)
    app.on_cleanup.append(stopped)
    return app


def _unavailable() -> bytes:
    return b"Internal Server Error (simulated)"


async def _hook(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    early = await apply_fault(request, service.injector.decide(), _unavailable)
    if early is not None:
        return early
    body = await request.read()
    try:
        service.verifier.verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError:
        service.state.refused("bad_signatures")
        return web.Response(status=401, text="signature does not verify")
    try:
        event = read_event(body)
    except ValueError:
        service.state.refused("malformed")
        return web.Response(status=400, text="not a CloudEvents 1.0 JSON event")
    service.state.record(body, event, "webhook")
    return web.Response(status=204)


async def _admin_state(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[SERVICE].snapshot())


async def _admin_reset(request: web.Request) -> web.StreamResponse:
    request.app[SERVICE].reset()
    return web.json_response({"reset": True})


class SubscriberSimulator(SimulatorHandle):
    """The reference subscriber on an ephemeral loopback port in a background thread (a context manager).

    >>> with SubscriberSimulator(secret=DEMO_SECRET) as customs:  # doctest: +SKIP
    ...     ...  # a subscriber with url=customs.url; then customs.admin_state()["events"]
    """

    def __init__(
        self,
        *,
        secret: str = DEMO_SECRET,
        faults: FaultSpec | str | None = None,
        amqp: AmqpSource | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        spec = faults if isinstance(faults, FaultSpec) else parse_fault_spec(faults)
        self.config = SubscriberConfig(secret=secret, faults=spec, amqp=amqp)
        super().__init__(self._make, host=host, port=port, name="subscriber simulator", path=PATH)

    async def _make(self) -> web.Application:
        return await make_subscriber_app(self.config)

    @property
    def service(self) -> SubscriberService:
        return self._app()[SERVICE]

    def admin_state(self) -> dict[str, Any]:
        """The same JSON as GET /admin/state."""
        return self.service.snapshot()

    def events(self, via: str | None = None) -> list[dict[str, Any]]:
        """The events kept (first arrivals, in order), from one side or both."""
        return [e["event"] for e in self.admin_state()["events"] if via is None or e["via"] == via]

    def set_faults(self, faults: FaultSpec | str | None) -> None:
        """Inject other faults from now on (a flapping subscriber)."""
        spec = faults if isinstance(faults, FaultSpec) else parse_fault_spec(faults)
        self.service.injector = FaultInjector(spec)

    def reset(self) -> None:
        self.service.reset()
