"""What agents read follows `agent_language`: Vietnamese by default, English on request; codes and
XPaths the same in both, officers' words passed on as written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import requests
from lxml import etree

from nsw_adapter.clients.portal import PortalState, Reason, Status
from nsw_adapter.intake import Intake
from nsw_adapter.results import ResultContext, decided, rejected_locally, rejection_factory_in
from nsw_adapter.settings import Settings
from nsw_adapter.store import SqlStore
from nsw_adapter.testing.pushes import XML, soap_body
from nsw_adapter.texts import problem
from nsw_adapter.worker import build_context
from tests.support.intake_client import answer_of, running_intake, settings

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "samples" / "nsw" / "valid"
CONTEXT = ResultContext("HPH-2026-000123", "1", "NSW2026031209142700001")


def errors(payload: bytes, where: str = "Body/Content/Result/Error") -> list[tuple[str, str, str]]:
    root = etree.fromstring(payload)
    return [
        (e.findtext("Code") or "", e.findtext("Description") or "", e.findtext("Field") or "")
        for e in root.iterfind(where)
    ]


def test_the_daemon_speaks_vietnamese_unless_told_otherwise() -> None:
    """agent_language defaults to vi, and reaches the loops that write the Results."""
    assert Settings().agent_language == "vi"
    assert build_context(Settings(), store=None).agent_language == "vi"  # type: ignore[arg-type]
    english = Settings.model_validate({"agent_language": "en"})
    assert build_context(english, store=None).agent_language == "en"  # type: ignore[arg-type]


def test_a_refused_push_is_answered_in_the_intakes_language(store: SqlStore) -> None:
    """The same unusable envelope gets the same code and field, its description in Vietnamese or English."""
    envelope = (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_text("utf-8")
    wrong = envelope.replace("<identity>BQP</identity>", "<identity>XYZ</identity>", 1)
    answers = {}
    for language in ("vi", "en"):
        with running_intake(store, language=language) as url:
            reply = requests.post(url, data=soap_body(wrong), headers=XML, timeout=10)
        answers[language] = errors(
            etree.tostring(answer_of(reply.content)), "Body/Content/Acknowledgement/Error"
        )
    (vi_code, vi_text, vi_field), (en_code, en_text, en_field) = answers["vi"][0], answers["en"][0]
    assert (vi_code, vi_field) == (en_code, en_field) == ("E-ENVELOPE", "/Envelope/Header/To/identity")
    assert en_text == "the message is not addressed to BQP: To/identity must be BQP"
    assert vi_text == "Thông điệp không gửi đến BQP: To/identity phải là BQP"


def test_the_intake_answers_in_vietnamese_by_default(store: SqlStore) -> None:
    """An Intake made without a language (as create_intake_app makes it) writes Vietnamese descriptions."""
    envelope = (VALID / "arrival-general-cargo" / "50-general-declaration.xml").read_text("utf-8")
    intake = Intake(store, settings())
    try:
        answer = intake.handle(
            soap_body(envelope.replace("<identity>NSW</identity>", "<identity>X</identity>", 1))
        )
    finally:
        intake.close()
    [(_, text, _)] = errors(etree.tostring(answer_of(answer.body)), "Body/Content/Acknowledgement/Error")
    assert text == "Thông điệp không đến từ NSW: From/identity phải là NSW"


def test_a_local_rejection_follows_the_language() -> None:
    """rejected_locally renders each problem in the language given; code, field and document type stay."""
    found = [
        problem(
            "E-IMO",
            "E-IMO",
            "/Envelope/Body/Content/GeneralDeclaration/IMONumber",
            "50",
            document="@doc.50",
            value="9074721",
        )
    ]
    vi = errors(rejected_locally(CONTEXT, found, language="vi").payload)
    en = errors(rejected_locally(CONTEXT, found, language="en").payload)
    assert vi[0][0] == en[0][0] == "E-IMO"
    assert vi[0][2] == en[0][2]
    assert en[0][1].startswith("the General Declaration's IMO number 9074721 fails its check digit")
    assert vi[0][1].startswith("Số IMO 9074721 trong Bản khai chung sai chữ số kiểm tra")
    expired = rejection_factory_in("vi")(
        "HPH-2026-000123",
        "1",
        None,
        [problem("E-INCOMPLETE", "E-INCOMPLETE.deadline", None, "50", document="@doc.50")],
    )
    assert errors(expired.payload)[0][1] == "Chưa nhận được Bản khai chung trong thời hạn của hồ sơ"


def test_an_officers_reasons_are_passed_on_as_written() -> None:
    """A portal rejection's reasons have no key: their text is the same whatever the language."""
    reason = Reason("BG-REJ-WATCHLIST", "Thuyền viên số 3 thuộc danh sách theo dõi.", None)
    status = Status(
        "CKCHPG-2026-004517", PortalState.REJECTED, datetime(2026, 3, 12, tzinfo=UTC), reasons=(reason,)
    )
    for language in ("vi", "en"):
        result = decided(CONTEXT, status, language=language)
        assert result is not None
        assert errors(result.payload)[0][1] == reason.text
