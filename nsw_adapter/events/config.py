"""`[[subscribers]]` settings: who receives the event feed, how, and which events.

Kept apart from the publishers' code so that `nsw_adapter.settings` imports no HTTP or AMQP
client. A subscriber's URL may hold a password (amqp://user:password@host/vhost): it is kept
out of reprs, and `display_url` (no user or password) is what logs and `status` show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from nsw_adapter.events.types import EventType

#: The exchange an AMQP subscriber's events go to unless it names another.
DEFAULT_EXCHANGE = "nsw-adapter"
_SCHEMES = {"webhook": ("http", "https"), "amqp": ("amqp", "amqps")}
_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")


def _valid_secret(value: SecretStr) -> SecretStr:
    # The Standard Webhooks form: whsec_ and the base64 of 24 to 64 random bytes.
    if not _SECRET.match(value.get_secret_value()):
        raise ValueError("must be a Standard Webhooks secret: whsec_ followed by base64 (at least 12 bytes)")
    return value


WebhookSecret = Annotated[SecretStr, AfterValidator(_valid_secret)]


class SubscriberSettings(BaseModel):
    """One agency system that receives the feed: a webhook or an AMQP exchange, with its filters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")  # in metrics, status and `events list`
    kind: Literal["webhook", "amqp"]
    url: str = Field(repr=False)  # https://... for a webhook; amqp://user:password@host:5672/vhost
    secret: WebhookSecret | None = None  # webhook only: the Standard Webhooks signing secret
    exchange: str | None = Field(default=None, min_length=1, max_length=255)  # AMQP: nsw-adapter
    # AMQP: a durable queue declared and bound to the exchange for this subscriber's events, so that
    # nothing is lost while its consumer is away. Without one, the consumer binds its own queue.
    queue: str | None = Field(default=None, min_length=1, max_length=255)
    types: list[EventType] | None = Field(default=None, min_length=1)  # default: every type
    gates: list[str] | None = Field(default=None, min_length=1)  # station codes or LOCODEs; default every
    # How the webhook or broker is reached, as for the portal and the NSW (nsw_adapter/tls.py).
    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None
    proxy: str | None = Field(default=None, repr=False)  # webhook only: an http:// proxy
    timeout_seconds: float = Field(default=10.0, gt=0)
    # How much time an event's transient failures may cost before its delivery is dead-lettered
    # (counted as the portal's budget is); `nsw-adapter events replay` sends it again.
    retry_budget_seconds: float = Field(default=3600.0, gt=0)
    # Senders in parallel for this subscriber, each with its own connection: a dossier's events
    # still go one after the other (the next waits for the previous one's 2xx or confirm), so more
    # senders help when many dossiers' events wait and each delivery waits on the network.
    threads: int = Field(default=1, ge=1, le=16)

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        parts = urlsplit(self.url)
        if parts.scheme not in _SCHEMES[self.kind] or not parts.hostname:
            # The URL is not echoed: it may carry a password.
            schemes = " or ".join(f"{s}://" for s in _SCHEMES[self.kind])
            raise ValueError(f"subscriber {self.name}: url must be an {schemes} URL with a host")
        if self.kind == "webhook":
            if self.secret is None:
                raise ValueError(f"subscriber {self.name}: a webhook needs its signing secret")
            if self.exchange is not None or self.queue is not None:
                raise ValueError(f"subscriber {self.name}: exchange and queue are for AMQP subscribers")
        else:
            if self.secret is not None or self.proxy is not None:
                raise ValueError(f"subscriber {self.name}: secret and proxy are for webhook subscribers")
            if self.exchange is None:
                self.exchange = DEFAULT_EXCHANGE
        if self.client_key is not None and self.client_certificate is None:
            raise ValueError(f"subscriber {self.name}: client_key is set without client_certificate")
        return self

    @property
    def display_url(self) -> str:
        """The URL without user, password, query or fragment (for logs and `status`)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def wants(self, type_: EventType, gate: str | None, port: str | None) -> bool:
        """Whether an event of `type_` at this gate (station code) or port (LOCODE) is for us."""
        if self.types is not None and type_ not in self.types:
            return False
        return self.gates is None or bool({gate, port} & set(self.gates))


def _unique_names(subscribers: list[SubscriberSettings]) -> list[SubscriberSettings]:
    names = [s.name for s in subscribers]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"subscriber names must be unique: {', '.join(doubled)}")
    return subscribers


#: The `subscribers` field of Settings: a list of tables, names unique.
Subscribers = Annotated[list[SubscriberSettings], AfterValidator(_unique_names)]
