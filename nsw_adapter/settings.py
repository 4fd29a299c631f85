"""Settings: a TOML file plus NSW_ADAPTER_* environment variables (nested with `__`).

Environment wins over the file, the file over defaults. Secrets are SecretStr so they never
print in logs, reprs or `nsw-adapter status`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nsw_adapter.console.config import ConsoleSettings


class Credentials(BaseModel):
    """A WS-Security UsernameToken identity."""

    username: str = "demo"
    password: SecretStr = SecretStr("demo")


class IntakeSettings(BaseModel):
    """The receiveMessage endpoint the NSW pushes to."""

    host: str = "127.0.0.1"
    port: int = 8800
    path: str = "/nsw/agency"
    max_message_bytes: int = 32 * 1024 * 1024
    credentials: Credentials = Field(default_factory=Credentials)  # what the NSW must present
    # The UsernameToken's Created: at most this far in the future (the NSW's clock may run ahead) and
    # at most token_max_age_seconds old, as WSS4J accepts by default. Used nonces are kept in the
    # store for that window, so a token is accepted once by any daemon on it, restarts included.
    clock_skew_seconds: float = 60.0
    token_max_age_seconds: float = 300.0
    # Threads for parsing and the store's commits (off the event loop). Each push waits in one until its
    # commit, so this bounds pushes in flight and, on SQLite, how many share one group commit.
    threads: int = 32
    # Bodies larger than one 64 KiB chunk are read only once their sender is authenticated from the
    # head, at most max_bodies at once, from reading to answering (a 29 MiB push peaks at about
    # 340 MB while its envelope is parsed and validated: benchmarks/intake_memory.py), and each
    # must arrive within body_timeout_seconds (32 MiB at 4 Mbit/s takes about 70 s).
    max_bodies: int = 2
    body_timeout_seconds: float = 120.0
    # The declarant's ds:Signature (contract README, "Signed declarations"; nsw_adapter/signature.py):
    # "off" reads none, "verify-if-present" checks one when there is one, "required" also refuses an
    # unsigned message (22 E-SIGNATURE). The contract leaves the choice to the agency; checking what
    # arrives signed costs little and keeps who vouched for each message in the audit trail.
    signature_policy: Literal["off", "verify-if-present", "required"] = "verify-if-present"
    # A PEM file of the CA certificates signers must chain to. None trusts no CA: with checking on,
    # every signed message is then refused (fail closed), and the daemon warns at start.
    trust_store: Path | None = None


class StoreSettings(BaseModel):
    """Where state lives: SQLite by default, PostgreSQL by DSN."""

    url: str = "sqlite:///var/nsw-adapter.db"  # or postgresql+psycopg://user@host/db
    deadline_minutes: float = 30.0  # a dossier still incomplete then is rejected E-INCOMPLETE
    retention_days: int = 90  # payloads (personal data) older than this are purged
    lease_seconds: float = 30.0


class PortalSettings(BaseModel):
    """The E-Border Guard Procedures Portal the adapter submits to."""

    url: str = "http://127.0.0.1:8802/bgp/portal"
    credentials: Credentials = Field(default_factory=Credentials)
    timeout_seconds: float = 10.0
    retry_budget_seconds: float = 3600.0
    poll_batch: int = 100


class NswSettings(BaseModel):
    """The NSW gateway the adapter sends results to."""

    url: str = "http://127.0.0.1:8801/nsw/gateway"
    credentials: Credentials = Field(default_factory=Credentials)
    timeout_seconds: float = 10.0
    retry_budget_seconds: float = 3600.0


class WorkerSettings(BaseModel):
    """The daemon's loops: threads, batch sizes, pacing and in-process retry budgets."""

    submit_threads: int = 4  # portal calls are I/O-bound: a few threads overlap them
    outbox_threads: int = 4
    # Dossiers / Results leased per claim. A claim's items share their commits (SQLite has one
    # writer): 32 against 8 measured 10-20% more dossiers/s end to end; a thread works through
    # its batch in order, each item under the lease the heartbeat renews.
    claim_batch: int = 32
    idle_seconds: float = 0.2  # sleep when a loop found nothing to do
    # After a claim that was not full, wait this long so the next claim takes more at once:
    # fewer commits (SQLite's one write lock) and fewer GetProcessingStatus calls per dossier.
    gather_seconds: float = 0.1
    poll_interval_seconds: float = 30.0  # first poll after a receipt, and between PENDING answers
    poll_max_interval_seconds: float = 300.0
    expiry_interval_seconds: float = 10.0
    in_process_retry_seconds: float = 3.0  # retry in the thread this long, then defer via the store
    defer_initial_seconds: float = 2.0
    defer_max_seconds: float = 120.0
    breaker_failures: int = 5  # consecutive transient failures that open a circuit
    breaker_reset_seconds: float = 5.0  # how long it stays open before a probe
    shutdown_grace_seconds: float = 10.0


class ObservabilitySettings(BaseModel):
    """/healthz and /metrics, and the log format."""

    host: str = "127.0.0.1"
    port: int = 9108
    log_format: str = "json"  # or "console"
    log_level: str = "INFO"


#: What one `nsw-adapter run` process does: serve the NSW's pushes, run the worker loops, or both.
Role = Literal["intake", "worker"]
ROLES: tuple[Role, ...] = ("intake", "worker")


class Settings(BaseSettings):
    """Everything `nsw-adapter run` needs."""

    model_config = SettingsConfigDict(env_prefix="NSW_ADAPTER_", env_nested_delimiter="__", extra="forbid")

    worker_id: str | None = None  # defaults to host:pid; leases add a per-process token
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
