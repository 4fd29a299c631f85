"""The envelope's header as intake and translate() read it (envelope.py): every field, the send
date strictly as the contract writes it, and a date the calendar lacks refused as E-ENVELOPE."""

from __future__ import annotations

from datetime import datetime

import pytest

from nsw_adapter.envelope import VIETNAM, parse_send_date, read_message
from nsw_adapter.errors import EnvelopeError
from nsw_adapter.fixtures import generate_dossier


def test_every_header_field_is_read() -> None:
    _, gd = generate_dossier(crew=2, seed=4, reference="HPH-2026-000321")[0]
    header = read_message(gd).header
    assert (header.from_identity, header.to_identity) == ("NSW", "BQP")
    assert (header.type, header.function, header.reference) == ("50", "01", "HPH-2026-000321")
    assert header.message_id.startswith("NSW")
    assert header.document_type is not None
    assert header.document_year == "2026"
    assert header.send_date.tzinfo is VIETNAM


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-12 09:14:27", datetime(2026, 3, 12, 9, 14, 27, tzinfo=VIETNAM)),
        ("2024-02-29 23:59:59", datetime(2024, 2, 29, 23, 59, 59, tzinfo=VIETNAM)),
    ],
)
def test_a_send_date_is_vietnam_local_time(text: str, expected: datetime) -> None:
    assert parse_send_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2026-02-30 10:00:00", "2026-13-01 10:00:00", "2026-03-12 24:00:00", "2026-3-12 09:14:27",
     "2026-03-12T09:14:27", "2026-03-12 09:14:27+07:00", " 2026-03-12 09:14:27", "", "٢٠٢٦-03-12 09:14:27"],
)  # fmt: skip
def test_anything_else_is_not_a_send_date(text: str) -> None:
    with pytest.raises(ValueError, match=r"yyyy-MM-dd HH:mm:ss|out of range|must be in"):
        parse_send_date(text)


def test_a_send_date_the_calendar_lacks_is_an_envelope_problem() -> None:
    _, gd = generate_dossier(crew=2, seed=4, reference="HPH-2026-000321")[0]
    text = gd.decode("utf-8")
    start = text.index("<sendDate>") + len("<sendDate>")
    broken = text[:start] + "2026-02-31 10:00:00" + text[start + 19 :]
    with pytest.raises(EnvelopeError) as refused:
        read_message(broken.encode("utf-8"))
    assert [p.code for p in refused.value.problems] == ["E-ENVELOPE"]
    assert refused.value.problems[0].xpath == "/Envelope/Header/Subject/sendDate"
