"""Logging: JSON lines with bound ids, and no personal data from exceptions or stray keys."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from nsw_adapter.clients.errors import RemoteTransientError
from nsw_adapter.errors import EnvelopeError, Problem
from nsw_adapter.logging import REDACTED, configure_logging, describe_error, get_logger

SECRET_NAME = "Nguyễn Văn Đức"
SECRET_DOC = "B7654321"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("INFO", "json", buffer)
    yield buffer
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_events_are_json_with_their_ids(stream: io.StringIO) -> None:
    """A bound logger writes one JSON object per event, with level, timestamp and the bound ids."""
    get_logger("t").bind(reference="HPH-2026-000123", message_id="BQP1").info("submit.receipt", attempts=1)
    [event] = lines(stream)
    assert event["event"] == "submit.receipt"
    assert event["reference"] == "HPH-2026-000123"
    assert event["level"] == "info"
    assert "timestamp" in event


def test_unknown_keys_are_redacted(stream: io.StringIO) -> None:
    """A key outside the allow-list (it may hold a name or a payload) is written as [redacted]."""
    get_logger("t").info(
        "oops", family_name=SECRET_NAME, payload=f"<PassportNumber>{SECRET_DOC}</PassportNumber>"
    )
    [event] = lines(stream)
    assert event["family_name"] == REDACTED
    assert SECRET_NAME not in stream.getvalue()
    assert SECRET_DOC not in stream.getvalue()


def test_exception_text_and_locals_never_reach_the_log(stream: io.StringIO) -> None:
    """An exception whose message and locals hold personal data is logged by type and frames only."""
    passport = SECRET_DOC  # a local in the failing frame

    try:
        raise ValueError(f"value '{passport}' of {SECRET_NAME} is not valid")
    except ValueError:
        get_logger("t").exception("translation.failed")
    text = stream.getvalue()
    assert SECRET_DOC not in text
    assert SECRET_NAME not in text
    [event] = lines(stream)
    assert event["error_type"] == "ValueError"
    frames = event["exception"]
    assert isinstance(frames, list)
    assert any("test_logging.py" in frame for frame in frames)


def test_standard_library_records_are_redacted_too(stream: io.StringIO) -> None:
    """A third-party logger's exception (zeep, lxml, aiohttp) goes through the same redaction."""
    try:
        raise RuntimeError(f"body: <FamilyName>{SECRET_NAME}</FamilyName>")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    assert SECRET_NAME not in stream.getvalue()


def test_zeep_debug_logging_is_held_back(stream: io.StringIO) -> None:
    """zeep's DEBUG output (whole SOAP bodies) is not emitted even when the root logs DEBUG."""
    configure_logging("DEBUG", "json", stream)
    logging.getLogger("zeep.transports").debug("HTTP Post to x: <FamilyName>%s</FamilyName>", SECRET_NAME)
    assert SECRET_NAME not in stream.getvalue()


def test_describe_error_keeps_our_text_and_drops_foreign_text() -> None:
    """Our transport errors keep their (data-free) text; others, even EnvelopeError, only their type."""
    assert (
        describe_error(RemoteTransientError("portal HTTP 503", status=503))
        == "RemoteTransientError: portal HTTP 503"
    )
    envelope = EnvelopeError([Problem("E-ENVELOPE", f"{SECRET_NAME} is wrong")])
    assert SECRET_NAME not in describe_error(envelope)
    assert describe_error(KeyError(SECRET_DOC)) == "KeyError"


def test_capture_logs_sees_bound_events() -> None:
    """Tests can assert on log events with structlog's capture_logs."""
    with capture_logs() as captured:
        get_logger("t").bind(dossier_id=1).warning("submit.deferred", delay=2.0)
    assert captured == [{"dossier_id": 1, "delay": 2.0, "event": "submit.deferred", "log_level": "warning"}]
