"""Settings: a TOML file plus NSW_ADAPTER_* environment variables (nested with `__`).

Environment wins over the file, the file over defaults. Secrets are SecretStr so they never
print in logs, reprs or `nsw-adapter status`. Every section refuses keys it does not know and
every value is checked (ranges, choices, URLs): a typo is an error, never a silent default.
examples/adapter.toml lists every setting with its default (tests/unit/test_settings_strict.py
keeps it in step with this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nsw_adapter.console.config import ConsoleSettings
from nsw_adapter.events.config import Subscribers

#: The simulators' user and password (`nsw-adapter simulate`, `make demo`): the defaults here, so a
#: demo needs no file, and refused by `nsw-adapter run` unless allow_demo_credentials says otherwise.
DEMO_PASSWORD = "demo"  # noqa: S105 - the published demo password, refused outside the demo


def _http_url(value: str) -> str:
    """an http:// or https:// URL with a host"""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not echoed: a URL may carry a password.
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _store_url(value: str) -> str:
    """sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"must be a sqlite or postgresql URL, not {backend}")
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("a SQLite store needs a file: sqlite:///PATH (three slashes, then the path)")
    return value


def _log_level(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
StoreUrl = Annotated[str, AfterValidator(_store_url)]
Port = Annotated[int, Field(ge=0, le=65535)]  # 0: any free port (tests)
Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_log_level)]


class Section(BaseModel):
    """A table of the settings file: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Section):
    """A WS-Security UsernameToken identity."""

    username: str = Field(default="demo", min_length=1)  # the UsernameToken's user name
    password: SecretStr = Field(default=SecretStr(DEMO_PASSWORD), min_length=1)  # never printed or logged

    def is_demo(self) -> bool:
        """The simulators' password (the default)."""
        return self.password.get_secret_value() == DEMO_PASSWORD


class IntakeSettings(Section):
    """The receiveMessage endpoint the NSW pushes to."""

    host: str = Field(default="127.0.0.1", min_length=1)  # the address it listens on (0.0.0.0: every one)
    port: Port = 8800  # the port it listens on
    path: str = Field(default="/nsw/agency", pattern=r"^/")  # the URL path of receiveMessage
    max_message_bytes: Count = 32 * 1024 * 1024  # a longer push is answered 413 before it is read
    credentials: Credentials = Field(default_factory=Credentials)  # what the NSW must present
    # Rotation: the password being replaced, still accepted beside `credentials` until the NSW uses
    # the new one (then remove it). The same user name, or another one.
    previous_credentials: Credentials | None = None
    # The UsernameToken's Created: at most this far in the future (the NSW's clock may run ahead) and
    # at most token_max_age_seconds old, as WSS4J accepts by default. Used nonces are kept in the
    # store for that window, so a token is accepted once by any daemon on it, restarts included.
    clock_skew_seconds: float = Field(default=60.0, ge=0)
    token_max_age_seconds: Seconds = 300.0
    # Threads for parsing and the store's commits (off the event loop). Each push waits in one until its
    # commit, so this bounds pushes in flight and, on SQLite, how many share one group commit.
    threads: Count = 32
    # Bodies larger than one 64 KiB chunk are read only once their sender is authenticated from the
    # head, at most max_bodies at once, from reading to answering (a 29 MiB push peaks at about
    # 340 MB while its envelope is parsed and validated: benchmarks/intake_memory.py), and each
    # must arrive within body_timeout_seconds (32 MiB at 4 Mbit/s takes about 70 s).
    max_bodies: Count = 2
    body_timeout_seconds: Seconds = 120.0
    # The declarant's ds:Signature (contract README, "Signed declarations"; nsw_adapter/signature.py):
    # "off" reads none, "verify-if-present" checks one when there is one, "required" also refuses an
    # unsigned message (22 E-SIGNATURE). The contract leaves the choice to the agency; checking what
    # arrives signed costs little and keeps who vouched for each message in the audit trail.
    signature_policy: Literal["off", "verify-if-present", "required"] = "verify-if-present"
    # A PEM file of the CA certificates signers must chain to. None trusts no CA: with checking on,
    # every signed message is then refused (fail closed), and the daemon warns at start.
    trust_store: Path | None = None
    # HTTPS (nsw_adapter/tls.py): a PEM certificate (its chain after it) and its key (None: in the same
    # file). Without a certificate the intake serves plain HTTP, e.g. behind a reverse proxy that
    # terminates TLS (README). With tls_client_ca, every caller must present a certificate chaining
    # to one of its CAs, or the handshake fails.
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None


class StoreSettings(Section):
    """Where state lives: SQLite by default, PostgreSQL by DSN."""

    url: StoreUrl = "sqlite:///var/nsw-adapter.db"  # or postgresql+psycopg://user@host/db
    deadline_minutes: Seconds = 30.0  # a dossier still incomplete then is rejected E-INCOMPLETE
    retention_days: int = Field(default=90, ge=0)  # payloads (personal data) older than this are purged
    lease_seconds: Seconds = 30.0  # how long a claimed dossier or Result stays a daemon's without a heartbeat
    # At start, an unreachable store (PostgreSQL restarting with the host) is tried again this long,
    # saying so, before the daemon gives up (exit 4).
    start_wait_seconds: float = Field(default=60.0, ge=0)


class PortalSettings(Section):
    """The E-Border Guard Procedures Portal the adapter submits to."""

    url: HttpUrl = "http://127.0.0.1:8802/bgp/portal"  # the portal's SOAP endpoint
    credentials: Credentials = Field(default_factory=Credentials)  # our UsernameToken at the portal
    timeout_seconds: Seconds = 10.0  # for one call: connecting, and each read of its answer
    # How much time a dossier's transient portal failures may cost before it is dead-lettered: each
    # deferral counts its in-process retries and its wait before the next try (loops/delivery.py
    # budget_spent); time crashed or waiting for a lease counts nothing.
    retry_budget_seconds: Seconds = 3600.0
    # How it is reached (nsw_adapter/clients/transport.py, Network): the CAs its certificate must chain
    # to (None: the system's), our client certificate and its key when it requires one (None: in the
    # certificate's file), an http:// proxy (HTTPS through it with CONNECT). The environment's
    # HTTPS_PROXY and CA variables are never read.
    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None
    proxy: HttpUrl | None = None
    poll_batch: Count = 100  # receipts asked for in one GetProcessingStatus (the contract allows 100)
    # GetProcessingStatus calls one daemon makes per minute at most, however many polls fall due
    # (after an outage, thousands at once): each asks about up to poll_batch receipts.
    status_calls_per_minute: Count = 60


class NswSettings(Section):
    """The NSW gateway the adapter sends results to."""

    url: HttpUrl = "http://127.0.0.1:8801/nsw/gateway"  # the NSW gateway's SOAP endpoint
    credentials: Credentials = Field(default_factory=Credentials)  # our UsernameToken at the NSW
    timeout_seconds: Seconds = 10.0  # for one call: connecting, and each read of its answer
    # How much time a Result's transient NSW failures may cost before it is dead-lettered (counted
    # as the portal's budget is).
    retry_budget_seconds: Seconds = 3600.0
    # How it is reached (nsw_adapter/clients/transport.py, Network): the CAs its certificate must chain
    # to (None: the system's), our client certificate and its key when it requires one (None: in the
    # certificate's file), an http:// proxy (HTTPS through it with CONNECT). The environment's
    # HTTPS_PROXY and CA variables are never read.
    ca_bundle: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None
    proxy: HttpUrl | None = None


class WorkerSettings(Section):
    """The daemon's loops: threads, batch sizes, pacing and in-process retry budgets."""

    submit_threads: Count = 4  # portal calls are I/O-bound: a few threads overlap them
    outbox_threads: Count = 4  # threads sending Results to the NSW
    # Dossiers / Results leased per claim. A claim's items share their commits (SQLite has one
    # writer): 32 against 8 measured 10-20% more dossiers/s end to end; a thread works through
    # its batch in order, each item under the lease the heartbeat renews.
    claim_batch: Count = 32
    # A claim takes no more than about this many seconds of work at the loop's recent pace (items
    # x seconds per item): few items while calls fail and are retried, so a daemon killed soon
    # after its claim leaves little of it undone; claim_batch while calls are quick.
    claim_seconds: Seconds = 2.0
    # A loop that found nothing to do sleeps this long, doubling up to 8x, unless work arriving
    # rings it awake first (nsw_adapter/wakeup.py); a worker-only process on SQLite never doubles.
    idle_seconds: Seconds = 0.2
    # After a claim that was not full, wait this long so the next claim takes more at once:
    # fewer commits (SQLite's one write lock) and fewer GetProcessingStatus calls per dossier.
    gather_seconds: float = Field(default=0.1, ge=0)
    # Polls wait as a person would: the first this long after the receipt, then twice as long
    # after each PENDING answer (5, 10, 20, 40 s ...) up to poll_max_interval_seconds. Officers
    # decide within an hour (the contract): about 20 asks in that hour, shared by up to
    # poll_batch receipts a call; a decision in the first minutes is heard within seconds.
    poll_interval_seconds: Seconds = 5.0
    poll_max_interval_seconds: Seconds = 300.0
    # How often dossiers still incomplete at their deadline are looked for (each then rejected
    # E-INCOMPLETE, its 22 sent): a deadline is kept to within this much.
    expiry_interval_seconds: Seconds = 10.0
    # Retry in the thread this long, then defer via the store.
    in_process_retry_seconds: float = Field(default=3.0, ge=0)
    defer_initial_seconds: Seconds = 2.0
    defer_max_seconds: Seconds = 120.0
    breaker_failures: Count = 5  # consecutive transient failures that open a circuit
    breaker_reset_seconds: Seconds = 5.0  # how long it stays open before a probe
    # While the portal or the NSW refuses our credentials, one call tests them again this often
    # (each test is one failed login at the other side; nothing is dead-lettered meanwhile).
    auth_probe_seconds: Seconds = 60.0
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)  # at a stop: to finish the items in hand


class ObservabilitySettings(Section):
    """/healthz and /metrics, and the log format (of the daemon and of every command)."""

    host: str = Field(default="127.0.0.1", min_length=1)  # where /healthz and /metrics listen
    port: Port = 9108  # 0: any free port (tests)
    log_format: Literal["json", "console"] = "json"  # one JSON object per line, or text for a terminal
    log_level: LogLevel = "INFO"  # the least severe level logged (any case)


#: What one `nsw-adapter run` process does: serve the NSW's pushes, run the worker loops, or both.
Role = Literal["intake", "worker"]
ROLES: tuple[Role, ...] = ("intake", "worker")


class Settings(BaseSettings):
    """Everything `nsw-adapter run` needs."""

    model_config = SettingsConfigDict(env_prefix="NSW_ADAPTER_", env_nested_delimiter="__", extra="forbid")

    worker_id: str | None = Field(default=None, min_length=1)  # host:pid by default; leases add a token
    # The simulators' password ("demo", every default) is refused by `nsw-adapter run` unless this
    # says the daemon runs against the simulators on purpose.
    allow_demo_credentials: bool = False
    # The language of every text agents read: the Results sent to the NSW and the intake's answers
    # (nsw_adapter/texts): "vi" Vietnamese, "en" English. Codes and XPaths are the same in both.
    agent_language: Literal["vi", "en"] = "vi"
    # Both in one process by default. Split, an intake process and worker processes share the
    # store and each use a core of their own (one Python process uses one core at a time).
    roles: tuple[Role, ...] = Field(default=ROLES, min_length=1)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    nsw: NswSettings = Field(default_factory=NswSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)  # the operator console (off by default)
    # [[subscribers]]: the agencies' systems that receive the event feed (nsw_adapter/events), none by default
    subscribers: Subscribers = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment, and explicit overrides (highest)."""

    class _FromFile(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})

    loaded = _FromFile(**overrides)
    return Settings.model_validate(loaded.model_dump())


def demo_credentials(settings: Settings) -> list[str]:
    """The settings that hold the simulators' password, e.g. ["intake.credentials", "nsw.credentials"]."""
    held = {
        "intake.credentials": settings.intake.credentials,
        "intake.previous_credentials": settings.intake.previous_credentials,
        "portal.credentials": settings.portal.credentials,
        "nsw.credentials": settings.nsw.credentials,
    }
    return [name for name, credentials in held.items() if credentials is not None and credentials.is_demo()]
