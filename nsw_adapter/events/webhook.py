"""Webhook delivery: an HTTP POST of the event, signed the Standard Webhooks way.

Headers: `webhook-id` (the event id, the same on every attempt), `webhook-timestamp` (this
attempt's, in seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
`id.timestamp.body` with the subscriber's `whsec_` secret), signed by the `standardwebhooks`
library. The body is the structured-mode CloudEvent. Any 2xx answer means delivered; 408, 425,
429 and 5xx (and no answer at all) are tried again; 401 and 403 are the subscriber refusing our
signature (its secret changed, say): the subscriber is paused, not its events given up on
(AuthenticationRefused, loops/delivery.py); any other answer is the subscriber refusing the event
for good (a dead letter, which `nsw-adapter events replay` can send again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from nsw_adapter.clients.errors import (
    AUTH_HTTP,
    RemotePermanentError,
    RemoteTransientError,
    classify_exception,
    refused,
)
from nsw_adapter.clients.transport import Network, pool_manager
from nsw_adapter.errors import ConfigurationError
from nsw_adapter.events.config import SubscriberSettings
from nsw_adapter.events.event import CONTENT_TYPE
from nsw_adapter.events.publisher import OutgoingEvent

#: Answers that say "not now" rather than "never".
RETRY_STATUSES = frozenset({408, 425, 429})


class WebhookPublisher:
    """POSTs events to one webhook subscriber over a kept-alive connection (TLS and proxy as set)."""

    def __init__(self, subscriber: SubscriberSettings, clock: Callable[[], float] = time.time) -> None:
        if subscriber.secret is None:
            raise ConfigurationError(f"subscriber {subscriber.name}: a webhook needs its signing secret")
        self.name = subscriber.name
        self._url = subscriber.url
        self._signer = Webhook(subscriber.secret.get_secret_value())
        self._clock = clock
        network = Network(
            ca_bundle=subscriber.ca_bundle,
            client_certificate=subscriber.client_certificate,
            client_key=subscriber.client_key,
            proxy=subscriber.proxy,
        )
        self._pool = pool_manager(network, subscriber.timeout_seconds)

    def headers(self, event: OutgoingEvent) -> dict[str, str]:
        """The request's headers, signed now."""
        now = datetime.fromtimestamp(int(self._clock()), UTC)
        return {
            "Content-Type": CONTENT_TYPE,
            "webhook-id": event.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(event.event_id, now, event.body),
            "User-Agent": "nsw-adapter",
        }

    def publish(self, event: OutgoingEvent) -> None:
        target = f"webhook {self.name}"
        try:
            response = self._pool.urlopen(
                "POST", self._url, body=event.body, headers=self.headers(event), redirect=False
            )
        except Exception as exc:  # connection, TLS, timeout, proxy: classified at the boundary
            raise classify_exception(exc, None, target) from None
        status = response.status
        if 200 <= status < 300:
            return
        if status >= 500 or status in RETRY_STATUSES:
            raise RemoteTransientError(f"{target} answered HTTP {status}", status=status)
        if status in AUTH_HTTP:
            raise refused(f"subscriber {self.name}", None, status)
        raise RemotePermanentError(f"{target} answered HTTP {status}", code=f"HTTP-{status}", status=status)

    def close(self) -> None:
        self._pool.clear()
