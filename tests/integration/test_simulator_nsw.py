"""The NSW simulator over real loopback HTTP: pushes to a small test agency, and its sendAndGetMessage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from lxml import etree
from zeep.exceptions import Fault

from nsw_adapter.envelope import new_message_id, read_message
from nsw_adapter.fixtures import generate_dossier
from nsw_adapter.simulators import NswSimulator, all_final
from tests.support.daemons import free_port
from tests.support.e2e import sent_at
from tests.support.nsw_gateway import (
    SAMPLES,
    FakeAgency,
    answer_of,
    gateway,
    result,
)

pytestmark = pytest.mark.timeout(30)

CARGO = "HPH-2026-000123"
CARGO_GD = "NSW2026031209142700001"


def dossier(name: str) -> list[tuple[str, bytes]]:
    """A sample dossier's documents as (file name, bytes)."""
    return [(path.name, path.read_bytes()) for path in sorted((SAMPLES / "valid" / name).glob("*.xml"))]


@pytest.fixture
def agency() -> Iterator[FakeAgency]:
    """A test agency that answers 99 at once."""
    with FakeAgency() as started:
        yield started


# --- pushing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["503", "fault", "reset"])
def test_pushes_are_retried_until_acknowledged(how: str) -> None:
    """Each document is pushed again after an HTTP error, a SOAP fault or a reset until a 99 comes back."""
    with (
        FakeAgency(fail_first=3, how=how) as agency,
        NswSimulator(agency_url=agency.url, backoff_initial=0.02) as nsw,
    ):
        reference = nsw.push_dossier(dossier("arrival-general-cargo"))
        state = nsw.wait_pushed(timeout=10)
    record = state["dossiers"][reference]
    assert reference == CARGO
    assert sorted(record["acknowledged"]) == sorted(record["pushed"])
    assert len(record["acknowledged"]) == 3
    assert state["counters"]["push_failures"] == 3
    assert state["counters"]["pushes"] == 6
    assert sorted(agency.received) == sorted(record["acknowledged"])
    assert all(item["answer"] == "99" for item in record["pushed"].values())


def test_push_timeout_is_retried() -> None:
    """A push the agency does not answer within the push timeout is pushed again."""
    with FakeAgency(fail_first=1, how="hang") as agency:
        with NswSimulator(agency_url=agency.url, push_timeout=0.3, backoff_initial=0.02) as nsw:
            nsw.push_dossier(dossier("arrival-general-cargo"))
            state = nsw.wait_pushed(timeout=10)
        assert state["counters"]["push_failures"] == 1
        assert state["counters"]["acknowledged"] == 3


def test_several_agency_urls_share_the_dossiers_each_whole(agency: FakeAgency) -> None:
    """Given two intake URLs, every dossier's documents go to one of them, and both get dossiers."""
    with FakeAgency() as second, NswSimulator(agency_urls=[agency.url, second.url]) as nsw:
        pushed = {
            nsw.push_dossier(
                generate_dossier(crew=2, seed=i, reference=f"HPH-2026-{i:06d}", sent_at=sent_at(i))
            )
            for i in range(12)
        }
        state = nsw.wait_pushed(timeout=20)
    by_message = {
        message_id: reference for reference in pushed for message_id in state["dossiers"][reference]["pushed"]
    }
    first = {by_message[m] for m in agency.received}
    other = {by_message[m] for m in second.received}
    assert first | other == pushed
    assert first
    assert other
    assert not first & other  # no dossier split between the two


def test_a_dossier_moves_to_the_next_url_when_its_own_refuses_connections(agency: FakeAgency) -> None:
    """A push refused at the connection level (nothing listens: a daemon down) goes at once to the
    next intake URL, as a load balancer routes around a dead backend; every dossier pinned to the
    dead URL arrives whole at the live one without waiting out the backoff."""
    dead = f"http://127.0.0.1:{free_port()}/nsw/agency"  # nothing listens there
    with NswSimulator(agency_urls=[dead, agency.url], backoff_initial=5, backoff_max=5) as nsw:
        started = time.monotonic()
        pushed = {
            nsw.push_dossier(
                generate_dossier(crew=2, seed=i, reference=f"HPH-2026-{i:06d}", sent_at=sent_at(i))
            )
            for i in range(12)
        }
        state = nsw.wait_pushed(timeout=20)
        elapsed = time.monotonic() - started
    for reference in pushed:
        record = state["dossiers"][reference]
        assert sorted(record["acknowledged"]) == sorted(record["pushed"])
    moved = state["counters"]["push_moves"]
    assert moved >= 1  # some dossiers were pinned to the dead URL (the 12 spread over both)
    assert moved == state["counters"]["push_failures"]  # each refused push moved, once per dossier
    assert elapsed < 4  # none waited the 5 s backoff


def test_an_http_error_is_retried_at_the_same_url() -> None:
    """An HTTP answer (here 503) is no connection-level refusal: the push is retried where it went."""
    with (
        FakeAgency(fail_first=3, how="503") as first,
        FakeAgency(fail_first=3, how="503") as second,
        NswSimulator(agency_urls=[first.url, second.url], backoff_initial=0.02) as nsw,
    ):
        reference = nsw.push_dossier(dossier("arrival-general-cargo"))
        state = nsw.wait_pushed(timeout=10)
    assert state["counters"]["push_moves"] == 0
    assert state["counters"]["push_failures"] == 3
    assert len(state["dossiers"][reference]["acknowledged"]) == 3
    assert not (first.received and second.received)  # the dossier stayed at its URL


def test_22_answer_stops_retrying(agency: FakeAgency) -> None:
    """A 22 answer ends the pushes of that message; it is recorded as rejected with its codes."""
    agency.refuse_types = {"64"}
    with NswSimulator(agency_url=agency.url) as nsw:
        reference = nsw.push_dossier(dossier("arrival-general-cargo"))
        state = nsw.wait_pushed(timeout=10)
    record = state["dossiers"][reference]
    assert record["rejected"] == ["NSW2026031209143500003"]
    assert record["pushed"]["NSW2026031209143500003"]["answer"] == "22"
    assert record["pushed"]["NSW2026031209143500003"]["errors"] == ["E-ENVELOPE"]
    assert record["pushed"]["NSW2026031209143500003"]["attempts"] == 1
    assert len(record["acknowledged"]) == 2


def test_duplicates_push_each_message_twice_but_acknowledge_once(agency: FakeAgency) -> None:
    """With duplicates=1 every message is pushed twice; acknowledged lists it once."""
    with NswSimulator(agency_url=agency.url, duplicates=1.0) as nsw:
        reference = nsw.push_dossier(dossier("arrival-passenger-ferry"))
        state = nsw.wait_pushed(timeout=10)
    record = state["dossiers"][reference]
    assert len(agency.received) == 8
    assert len(set(agency.received)) == 4
    assert len(record["acknowledged"]) == len(set(record["acknowledged"])) == 4
    assert state["counters"]["duplicate_pushes"] == 4


def test_shuffle_is_seeded_and_unshuffled_follows_send_date() -> None:
    """Without --shuffle documents go in sendDate order; with it, in an order fixed by the seed."""

    def order(**options: Any) -> list[str]:
        with FakeAgency() as agency, NswSimulator(agency_url=agency.url, **options) as nsw:
            nsw.push_dossier(dossier("arrival-passenger-ferry"))
            nsw.wait_pushed(timeout=10)
            return list(agency.received)

    in_order = order()
    assert in_order == sorted(in_order)  # the sample messageIds grow with sendDate
    shuffled = {tuple(order(shuffle=True, seed=seed)) for seed in range(4)}
    assert len(shuffled) > 1
    assert order(shuffle=True, seed=2) == order(shuffle=True, seed=2)


def test_wrong_agency_password_keeps_retrying() -> None:
    """A push refused with a fault is retried; max_attempts bounds it and the record says why."""
    with FakeAgency() as agency:
        with NswSimulator(
            agency_url=agency.url, agency_password="wrong", max_attempts=3, backoff_initial=0.01
        ) as nsw:
            reference = nsw.push_dossier(dossier("arrival-general-cargo")[:1])
            state = nsw.wait_pushed(timeout=10)
        pushed = next(iter(state["dossiers"][reference]["pushed"].values()))
        assert (pushed["attempts"], pushed["answer"]) == (3, None)
        assert "fault" in pushed["last_failure"]
        assert agency.auth_failures == 3


def test_amendment_and_cancellation_are_valid_nsw_messages(agency: FakeAgency) -> None:
    """Amendments (02) and cancellations (03) carry new ids, later sendDates and the right preReference."""
    with NswSimulator(agency_url=agency.url) as nsw:
        reference = nsw.push_dossier(dossier("arrival-general-cargo"))
        nsw.wait_pushed(timeout=10)
        amendment_id = nsw.push_amendment(reference, "51")
        cancellation_id = nsw.push_cancellation(reference, "Owners cancelled the call.")
        state = nsw.wait_pushed(timeout=10)
        documents = {d.message_id: d for d in nsw.service.state.dossiers[reference].documents()}
    amendment = read_message(documents[amendment_id].data)
    cancellation = read_message(documents[cancellation_id].data)
    assert amendment.problems == ()
    assert (amendment.header.function, amendment.header.type) == ("02", "51")
    assert amendment.header.pre_reference == "NSW2026031209143100002"
    assert amendment.header.send_date > documents["NSW2026031209143500003"].send_date
    assert (cancellation.header.function, cancellation.header.type) == ("03", "50")
    assert cancellation.header.pre_reference == CARGO_GD
    assert cancellation.content.tag == "Cancellation"
    assert cancellation.header.send_date > amendment.header.send_date
    record = state["dossiers"][reference]
    assert record["cancelled"] is True
    assert record["acknowledged"][-2:] == [amendment_id, cancellation_id]


# --- sendAndGetMessage ------------------------------------------------------------------------


@pytest.fixture
def nsw_with_cargo(agency: FakeAgency) -> Iterator[NswSimulator]:
    """An NSW simulator that pushed the cargo arrival and the cancelled dossier."""
    with NswSimulator(agency_url=agency.url) as nsw:
        nsw.push_dossier(dossier("arrival-general-cargo"))
        nsw.push_dossier(dossier("cancellation"))
        nsw.wait_pushed(timeout=10)
        yield nsw


def test_valid_results_are_acknowledged_and_recorded(nsw_with_cargo: NswSimulator) -> None:
    """Results 21, 23 and 24 that follow the contract are answered 99 and counted by function."""
    service = gateway(nsw_with_cargo.url)
    for name in ("result-21-accepted", "result-23-completed", "result-24-cancelled"):
        assert answer_of(service.sendAndGetMessage(requestMessage=result(name))) == ("99", [])
    state = nsw_with_cargo.admin_state()
    assert state["dossiers"][CARGO]["results"] == {"21": 1, "23": 1}
    assert state["dossiers"][CARGO]["final"] == "23"
    assert state["dossiers"]["HPH-2026-000402"]["results"] == {"24": 1}
    assert state["dossiers"]["HPH-2026-000402"]["final"] == "24"


def test_repeated_message_id_is_a_duplicate(nsw_with_cargo: NswSimulator) -> None:
    """A repeated messageId is answered 99 again, counted as a duplicate and recorded once."""
    service = gateway(nsw_with_cargo.url)
    for _ in range(3):
        assert answer_of(service.sendAndGetMessage(requestMessage=result("result-21-accepted")))[0] == "99"
    record = nsw_with_cargo.admin_state()["dossiers"][CARGO]
    assert record["results"] == {"21": 1}
    assert record["result_duplicates"] == 2
    assert record["result_message_ids"] == ["BQP2026031209163100065"]


def test_same_result_under_another_message_id_is_refused(nsw_with_cargo: NswSimulator) -> None:
    """A second 21 for the same receipt under a new messageId is refused with R-STATE."""
    service = gateway(nsw_with_cargo.url)
    answer_of(service.sendAndGetMessage(requestMessage=result("result-21-accepted")))
    again = result("result-21-accepted", messageId=new_message_id())
    assert answer_of(service.sendAndGetMessage(requestMessage=again)) == ("22", ["R-STATE"])


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        (result("result-21-accepted", reference="HPH-2026-000999"), ["R-UNKNOWN-DOSSIER"]),
        (result("result-21-accepted", ApprovalStatus="1"), ["R-STATUS"]),
        (result("result-21-accepted", preReference="NSW2026031209143100002"), ["R-PREREFERENCE"]),
        (result("result-21-accepted", documentType="2"), ["R-MISMATCH"]),
        (result("result-21-accepted", function="99"), ["R-FUNCTION"]),
        (result("result-21-accepted", identity="NSW"), ["R-ADDRESS"]),
        (result("result-23-completed", ClearanceNumber="X"), []),  # a valid reference number
        (result("result-21-accepted", ApprovalDate="12/03/2026"), ["R-SCHEMA"]),
        ("<Envelope><Header/>", ["R-ENVELOPE"]),
        ('<!DOCTYPE x [<!ENTITY e "x">]><Envelope/>', ["R-ENVELOPE"]),
    ],
)
def test_results_breaking_the_contract_are_refused(
    nsw_with_cargo: NswSimulator, text: str, codes: list[str]
) -> None:
    """A Result breaking the contract is answered 22 with a Reject naming the rule, and not recorded."""
    function, given = answer_of(gateway(nsw_with_cargo.url).sendAndGetMessage(requestMessage=text))
    if not codes:
        assert function == "99"
        return
    assert (function, given) == ("22", codes)
    record = nsw_with_cargo.admin_state()["dossiers"][CARGO]
    assert record["results"] == {}


def test_wrong_gateway_password_is_a_fault(nsw_with_cargo: NswSimulator) -> None:
    """sendAndGetMessage with a wrong password is a soap:Client fault, and counted."""
    with pytest.raises(Fault) as caught:
        gateway(nsw_with_cargo.url, password="wrong").sendAndGetMessage(
            requestMessage=result("result-21-accepted")
        )
    assert caught.value.code.endswith("Client")
    assert nsw_with_cargo.admin_state()["counters"]["auth_failures"] == 1


def test_stale_created_on_the_gateway_is_an_auth_fault(nsw_with_cargo: NswSimulator) -> None:
    """A token created ten minutes ago is a soap:Client authentication fault; the Result is not recorded."""
    stale = gateway(nsw_with_cargo.url, created=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(Fault) as caught:
        stale.sendAndGetMessage(requestMessage=result("result-21-accepted"))
    assert caught.value.code.endswith("Client")
    assert "Authentication failed" in caught.value.message
    state = nsw_with_cargo.admin_state()
    assert state["counters"]["auth_failures"] == 1
    assert state["dossiers"][CARGO]["results"] == {}


def test_replayed_nonce_on_the_gateway_is_an_auth_fault(nsw_with_cargo: NswSimulator) -> None:
    """The same nonce and Created sent twice is answered the first time and refused the second as a replay."""
    replaying = gateway(nsw_with_cargo.url, nonce="c2ltdWxhdG9yLW5vbmNl", created=datetime.now(UTC))
    assert answer_of(replaying.sendAndGetMessage(requestMessage=result("result-21-accepted")))[0] == "99"
    with pytest.raises(Fault) as caught:
        replaying.sendAndGetMessage(requestMessage=result("result-23-completed"))
    assert caught.value.code.endswith("Client")
    assert "replayed nonce" in caught.value.message
    state = nsw_with_cargo.admin_state()
    assert state["counters"]["auth_failures"] == 1
    assert state["dossiers"][CARGO]["results"] == {"21": 1}


def test_admin_state_and_reset_over_http(nsw_with_cargo: NswSimulator) -> None:
    """GET /admin/state shows pushes per dossier; POST /admin/reset forgets them."""
    state = requests.get(f"{nsw_with_cargo.base_url}/admin/state", timeout=5).json()
    assert set(state["dossiers"]) == {CARGO, "HPH-2026-000402"}
    assert state["counters"]["acknowledged"] == 7
    requests.post(f"{nsw_with_cargo.base_url}/admin/reset", timeout=5)
    assert requests.get(f"{nsw_with_cargo.base_url}/admin/state", timeout=5).json()["dossiers"] == {}


def test_wait_until_times_out() -> None:
    """wait_until raises TimeoutError when the condition never holds."""
    with NswSimulator() as nsw:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            nsw.wait_until(lambda state: False, timeout=0.3)
        assert time.monotonic() - started < 2


def test_generated_dossiers_are_pushed(agency: FakeAgency) -> None:
    """generate() makes valid dossiers with fresh numbers, which the agency accepts."""
    from nsw_adapter.simulators.dossiers import generate

    dossiers = generate(3, seed=5)
    assert len({d[0].reference for d in dossiers}) == 3
    with NswSimulator(agency_url=agency.url) as nsw:
        for documents in dossiers:
            nsw.push_documents(documents)
        state = nsw.wait_pushed(timeout=10)
    assert state["counters"]["acknowledged"] == sum(len(d) for d in dossiers)
    for documents in dossiers:
        for document in documents:
            assert read_message(document.data).problems == ()


def test_all_final_needs_every_dossier_settled_and_finished() -> None:
    """all_final: every dossier's pushes answered and its final Result received (24 if cancelled)."""

    def dossier(**overrides: Any) -> dict[str, Any]:
        base = {"settled": True, "rejected": [], "acknowledged": ["m1"], "cancelled": False, "final": "23"}
        return {**base, **overrides}

    assert not all_final({"dossiers": {}})
    assert all_final({"dossiers": {"A": dossier(), "B": dossier(final="22")}})
    assert not all_final({"dossiers": {"A": dossier(), "B": dossier(final=None)}})
    assert not all_final({"dossiers": {"A": dossier(settled=False)}})
    assert not all_final({"dossiers": {"A": dossier(cancelled=True, final="23")}})
    assert all_final({"dossiers": {"A": dossier(cancelled=True, final="24")}})
    assert all_final({"dossiers": {"A": dossier(rejected=["m1"], acknowledged=[], final=None)}})


def test_rejection_of_a_dossier_without_general_declaration(agency: FakeAgency) -> None:
    """A 22 Result for a lone cancellation (E-UNKNOWN-DOSSIER) may point at that cancellation."""
    lone = SAMPLES / "invalid" / "E-UNKNOWN-DOSSIER" / "50-cancellation.xml"
    with NswSimulator(agency_url=agency.url) as nsw:
        reference = nsw.push_dossier([(lone.name, lone.read_bytes())])
        nsw.wait_pushed(timeout=10)
        (message_id,) = nsw.admin_state()["dossiers"][reference]["pushed"]
        text = result(
            "result-22-local", reference=reference, preReference=message_id, messageId=new_message_id()
        )
        assert answer_of(gateway(nsw.url).sendAndGetMessage(requestMessage=text)) == ("99", [])
        assert nsw.admin_state()["dossiers"][reference]["final"] == "22"


def test_a_decision_before_an_amendment_is_not_final(nsw_with_cargo: NswSimulator) -> None:
    """Once the agent amends a decided dossier, only a decision given after the amendment is final."""
    service = gateway(nsw_with_cargo.url)
    for name in ("result-21-accepted", "result-23-completed"):
        assert answer_of(service.sendAndGetMessage(requestMessage=result(name)))[0] == "99"
    assert nsw_with_cargo.admin_state()["dossiers"][CARGO]["final"] == "23"

    nsw_with_cargo.push_amendment(CARGO, "51")
    nsw_with_cargo.wait_pushed(timeout=10)
    assert nsw_with_cargo.admin_state()["dossiers"][CARGO]["final"] is None

    new_receipt = "CKCHPG-2026-004599"
    for name, message_id in (("result-21-accepted", "BQP900001"), ("result-23-completed", "BQP900002")):
        text = result(name, messageId=message_id, ReceiptNumber=new_receipt)
        assert answer_of(service.sendAndGetMessage(requestMessage=text))[0] == "99"
    assert nsw_with_cargo.admin_state()["dossiers"][CARGO]["final"] == "23"


def test_progress_counts_what_all_final_judges(nsw_with_cargo: NswSimulator) -> None:
    """The cheap progress summary says done exactly when all_final does on the whole state, also over HTTP."""

    def agree() -> dict[str, Any]:
        progress = nsw_with_cargo.progress()
        assert progress["all_final"] == all_final(nsw_with_cargo.admin_state())
        return progress

    service = gateway(nsw_with_cargo.url)
    assert agree() == {"dossiers": 2, "done": 0, "all_final": False, "pending_pushes": 0, "results": 0}
    assert answer_of(service.sendAndGetMessage(requestMessage=result("result-21-accepted")))[0] == "99"
    assert agree()["done"] == 0
    assert answer_of(service.sendAndGetMessage(requestMessage=result("result-23-completed")))[0] == "99"
    assert agree()["done"] == 1
    assert answer_of(service.sendAndGetMessage(requestMessage=result("result-24-cancelled")))[0] == "99"
    assert agree() == {"dossiers": 2, "done": 2, "all_final": True, "pending_pushes": 0, "results": 3}
    over_http = requests.get(nsw_with_cargo.url.replace("/nsw/gateway", "/admin/progress"), timeout=5)
    assert over_http.json()["all_final"] is True

    nsw_with_cargo.push_amendment(CARGO, "51")
    nsw_with_cargo.wait_pushed(timeout=10)
    assert agree()["done"] == 1
    with pytest.raises(TimeoutError):
        nsw_with_cargo.wait_all_final(timeout=0.3)


# --- supplement requests (Result 25) ----------------------------------------------------------


@pytest.mark.parametrize("answering", [True, False])
def test_a_result_25_is_accepted_and_answered_with_amendments_of_the_documents_it_names(
    agency: FakeAgency, answering: bool
) -> None:
    """Acting as the agent, the NSW answers a 25 by amending the Crew List its item names; else nothing."""
    with NswSimulator(agency_url=agency.url, answer_supplements=answering, answer_delay=0.1) as nsw:
        nsw.push_dossier(dossier("arrival-general-cargo"))
        nsw.wait_pushed(timeout=10)
        pushed_before = len(agency.received)
        service = gateway(nsw.url)
        assert answer_of(
            service.sendAndGetMessage(requestMessage=result("result-25-supplement-requested"))
        ) == (
            "99",
            [],
        )
        time.sleep(0.5)
        nsw.wait_pushed(timeout=10)
        state = nsw.admin_state()
    pushed = state["dossiers"][CARGO]["pushed"].values()
    amendments = [(p["type"], p["function"], p["answer"]) for p in pushed if p["function"] == "02"]
    assert amendments == ([("51", "02", "99")] if answering else [])
    assert len(agency.received) == pushed_before + len(amendments)
    assert state["dossiers"][CARGO]["results"] == {"25": 1}
    assert state["dossiers"][CARGO]["final"] is None  # a 25 is not a decision
    assert state["counters"]["supplements_answered"] == (1 if answering else 0)


def test_a_25_without_its_request_number_and_a_23_with_one_are_refused(nsw_with_cargo: NswSimulator) -> None:
    """RequestNumber and RespondBy come with a 25 and only with a 25 (R-CONTENT)."""
    service = gateway(nsw_with_cargo.url)
    bare = etree.fromstring(result("result-25-supplement-requested").encode())
    for tag in ("RequestNumber", "RespondBy"):
        element = next(bare.iter(tag))
        element.getparent().remove(element)  # type: ignore[union-attr]
    assert answer_of(service.sendAndGetMessage(requestMessage=etree.tostring(bare, encoding="unicode"))) == (
        "22",
        ["R-CONTENT"],
    )
    completed = etree.fromstring(result("result-23-completed").encode())
    comment = completed.find("Body/Content/Result/Comment")
    anchor = comment if comment is not None else completed.find("Body/Content/Result/ShorePass")
    assert anchor is not None
    request_number = etree.Element("RequestNumber")
    request_number.text = "CKCHPG-2026-YC000123"
    respond_by = etree.Element("RespondBy")
    respond_by.text = "2026-03-13 17:00:00"
    if anchor.tag == "Comment":
        anchor.addprevious(request_number)
    else:
        last_pass = list(completed.iterfind("Body/Content/Result/ShorePass"))[-1]
        last_pass.addnext(request_number)
    request_number.addnext(respond_by)
    text = etree.tostring(completed, encoding="unicode")
    assert answer_of(service.sendAndGetMessage(requestMessage=text)) == ("22", ["R-CONTENT"])


def test_the_supplement_expired_22_is_accepted_as_a_final_result(nsw_with_cargo: NswSimulator) -> None:
    """The contract's 22 for BG-SUPP-EXPIRED is a valid final Result."""
    service = gateway(nsw_with_cargo.url)
    assert answer_of(service.sendAndGetMessage(requestMessage=result("result-22-supplement-expired"))) == (
        "99",
        [],
    )
    assert nsw_with_cargo.admin_state()["dossiers"][CARGO]["final"] == "22"
