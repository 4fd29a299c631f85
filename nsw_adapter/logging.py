"""structlog setup: JSON lines, bound ids, and no personal data in any line, exceptions included.

Personal data (names, document numbers, whole payloads) lives in the messages the adapter
handles, and it leaks into logs through exception texts (lxml and pydantic echo values, zeep
puts whole response bodies in its errors) and through rendered locals. So:

* events carry only keys from an allow-list (ids, states, counts, timings); any other key's
  value is replaced by "[redacted]" (`PERSONAL_KEYS` names the ones passed on purpose);
* an exception is rendered as its type, our own message for our own transport errors, and
  the frames (file, line, function) — never its text otherwise, never locals;
* zeep's and urllib3's DEBUG logs (whole bodies) are held above DEBUG.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, TextIO

import structlog

from nsw_adapter.errors import NswAdapterError

SAFE_KEYS = frozenset(
    {
        "event", "level", "timestamp", "logger", "logger_name",
        "dossier_id", "reference", "message_id", "client_message_id", "receipt_number", "outbox_id",
        "version", "function", "document_type", "state", "portal_state", "outcome", "duplicate",
        "worker_id", "loop", "thread", "operation", "service", "attempts", "attempt", "count",
        "claimed", "delay", "retry_in", "seconds", "elapsed", "budget_seconds", "http_status",
        "error", "error_type", "error_code", "exception", "host", "port", "path", "url", "store",
        "released", "expired", "purged", "signal", "problems", "batch", "breaker", "kind", "id",
        "dossiers", "results", "rate", "target", "worker", "versions", "older_than", "messages", "code",
        "type", "outcome_code",
        # the names of daemons (configured worker names, e.g. "worker-2") whose leases were freed
        "workers",
        # how many events retention stripped of their body (a count)
        "events",
        # the daemon's start line (which parts this process runs: an operator needs it)
        "roles",
        # intake: byte counts, the payload's digest (what the audit row is found by), rule codes
        "size", "limit", "sha256", "codes",
        # our own WsseError texts ("replayed nonce", "wrong user name or password"): no request text
        "auth_failure",
        # signature checks: our own refusal texts (signature.py, no certificate text), the signer's
        # certificate thumbprint (not its subject, which may name a person), the policy in force
        "signature_failure", "signer_sha256", "signature_policy",
        # the operator console: who (a configured console login, staff, never crew data) did what
        "console_user", "role",
        # the daemon's start line: its settings file and the URLs it serves (no secrets in either);
        # the intake: who pushed (the NSW's account name, not a person) and from which address
        "config", "intake", "observability", "user", "peer",
        # supplement requests: the portal's request number and its deadline (never the items' words)
        "request_number", "respond_by",
        # the event feed: a configured subscriber's name, an event's UUID, its delivery row
        "subscriber", "event_id", "delivery_id",
        # a dependency refusing our credentials: which settings to check (a key name, never its value)
        "setting",
    }
)  # fmt: skip
#: Keys the code may pass knowing their values are written as "[redacted]": free text typed by
#: people (a cancellation's Reason, remarks) and anything carrying names, document numbers or
#: payloads. tests/unit/test_log_keys.py fails on a key that is in neither set, so a new key is
#: a decision (safe, or deliberately redacted) rather than an accident.
PERSONAL_KEYS = frozenset(
    {
        "reason", "remarks", "text", "payload", "body", "name", "family_name", "given_name",
        "name_as_declared", "full_name", "document_number", "passport_number",
    }
)  # fmt: skip
REDACTED = "[redacted]"
_QUIET = ("zeep", "zeep.transports", "zeep.xsd", "zeep.wsdl", "urllib3", "aiohttp.access", "sqlalchemy")


def _is_own_message(exc: BaseException) -> bool:
    # Errors whose text this codebase builds from codes and statuses only (never remote text).
    from nsw_adapter.clients.errors import RemotePermanentError, RemoteTransientError
    from nsw_adapter.delivery.breaker import BreakerOpenError

    return isinstance(exc, RemoteTransientError | RemotePermanentError | BreakerOpenError)


def describe_error(exc: BaseException) -> str:
    """A log-safe description of an exception: its type, and our own text where it is ours."""
    name = type(exc).__name__
    if _is_own_message(exc):
        return f"{name}: {exc}"
    code = getattr(exc, "code", None) if isinstance(exc, NswAdapterError) else None
    return f"{name} ({code})" if isinstance(code, str) else name


def _frames(tb: TracebackType | None) -> list[str]:
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb, limit=20)]


def safe_exception(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace exc_info by the exception's type, safe description and frames (no text, no locals)."""
    exc_info = event.pop("exc_info", None)
    event.pop("exception", None)
    event.pop("stack_info", None)
    if not exc_info:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    _type, value, tb = exc_info
    if value is not None:
        event["error_type"] = type(value).__name__
        event["error"] = describe_error(value)
        event["exception"] = _frames(tb)
    return event


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Keep allow-listed keys; replace every other value (it may be personal data)."""
    for key in list(event):
        if key not in SAFE_KEYS and not key.startswith("_"):
            event[key] = REDACTED
    return event


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        safe_exception,
        redact,
    ]


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's logging through the redacting pipeline."""
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    # Nothing rendered names the calling file, thread or process (the event dict alone): the
    # standard library's lookups of them cost 7 of 28 µs of CPU per line (benchmarks/README.md).
    # Turned off as the logging HOWTO's "Optimization" section says.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # capture_logs() in tests must see every logger
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    """A structlog logger; bind ids with `.bind(dossier_id=..., reference=...)`."""
    return structlog.get_logger(name)
