"""The National Single Window simulator: pushes dossiers to the agency and serves sendAndGetMessage.

* Pushes (`nsw_push`): each dossier's documents to the agency's receiveMessage
  (schemas/nsw/agency.wsdl), WS-Security UsernameToken digest with the agency credentials,
  retried until a 99 answer (a 22 answer ends it), shuffled and duplicated on request;
  amendments (function 02) and cancellations (type 50 function 03) of dossiers pushed before.
* ``POST /nsw/gateway``: sendAndGetMessage (schemas/nsw/nsw.wsdl). Checks WS-Security, then
  judges each Result by the contract (`nsw_messages.judge_contract`) and answers an
  Acknowledgement envelope: 99, or 22 with Reject items. A repeated messageId of an accepted
  Result is answered 99 again and counted as a duplicate, never recorded twice; a second
  Result with the same function and ReceiptNumber under another messageId is refused R-STATE.
  Fault injection applies here only (UNAVAILABLE is a soap:Server fault).
* With ``answer_supplements``, it acts as the agent on a supplement request: about a second
  after accepting a Result 25 it pushes again, as amendments (02, a new messageId, preReference
  the replaced one, a later sendDate), the documents the 25's Error items name (their
  DocumentType; the General Declaration when no item names one).
* ``GET /admin/state``, ``GET /admin/progress``, ``POST /admin/reset``: JSON, never faulted.
  ``POST /admin/credentials`` with a JSON object of user name -> password: the gateway accepts those
  from now on (a password changed at the NSW while the adapter runs).
  The progress is counts only (``dossiers``, ``done``, ``all_final``, ``pending_pushes``,
  ``results``), cheap to poll during a long run; the state is everything, and costs
  milliseconds per thousand dossiers.

Admin state (``GET /admin/state``)::

    {
      "dossiers": {
        "<reference>": {
          "document_type": "1",
          "pushed": {"<messageId>": {"file", "type", "function", "send_date", "attempts", "failures",
                                      "last_failure", "answer": "99" | "22" | null, "errors": [codes],
                                      "duplicate_pushes"}},
          "acknowledged": ["<messageId>", ...],   # answered 99, in order, each once
          "rejected": ["<messageId>", ...],       # answered 22
          "results": {"21": 1, "23": 1},          # accepted Results by function (distinct messageIds)
          "result_message_ids": [...], "receipts": [...],
          "result_duplicates": 0,                 # repeated messageIds answered 99 again
          "result_rejects": ["R-..."],            # codes of Results refused with 22
          "cancelled": false, "final": "23" | "22" | "24" | null, "settled": true
        }
      },
      "counters": {"pushes", "push_failures", "push_moves", "acknowledged", "push_rejected",
                   "duplicate_pushes", "requests", "auth_failures", "results", "result_duplicates",
                   "result_rejects", "supplements_answered", "dossiers", "pending_pushes"},
      "injected": {"http503", "unavailable", "reset", "hang", "lost-reply", "outage", "latency"}
    }
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from lxml import etree

from nsw_adapter.envelope import collapse
from nsw_adapter.simulators.dossiers import read_documents
from nsw_adapter.simulators.faults import FaultInjector, FaultSpec, parse_fault_spec
from nsw_adapter.simulators.http import SimulatorHandle, new_app, read_credentials, serve_soap
from nsw_adapter.simulators.nsw_messages import (
    Document,
    ResultInfo,
    answer_envelope,
    judge_contract,
    later_than,
    make_amendment,
    make_cancellation,
    read_result,
)
from nsw_adapter.simulators.nsw_push import PLAIN, Pusher, PushSettings, StringStyle
from nsw_adapter.simulators.nsw_state import NswDossier, NswState, ResultRecord, finished
from nsw_adapter.soap import (
    SoapFault,
    UsernameTokenVerifier,
    WsseError,
    fault_response,
    parse_request,
    response,
)

_log = logging.getLogger(__name__)
GATEWAY_NS = "urn:vn:nsw:gateway:1"
PATH = "/nsw/gateway"
DEFAULT_CREDENTIALS: Mapping[str, str] = {"demo": "demo"}
MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class NswConfig:
    """How the NSW simulator behaves."""

    push: PushSettings = field(default_factory=PushSettings)
    credentials: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CREDENTIALS))
    faults: FaultSpec = field(default_factory=FaultSpec)
    max_skew_seconds: float = 300.0
    answer_supplements: bool = False
    answer_delay: float = 1.0  # seconds from accepting a 25 to pushing its answer


class NswService:
    """The NSW's state, pushes and gateway judgement (runs on the simulator's loop)."""

    def __init__(self, config: NswConfig) -> None:
        self.config = config
        self.state = NswState()
        self.pusher = Pusher(config.push, self.state)
        self.verifier = UsernameTokenVerifier(config.credentials, max_skew_seconds=config.max_skew_seconds)
        self.injector = FaultInjector(config.faults)

    # --- pushing ------------------------------------------------------------------------------

    def push(self, documents: Sequence[Document]) -> list[str]:
        """Push documents (of one or more dossiers); return their dossier numbers."""
        groups: dict[str, list[Document]] = {}
        for document in documents:
            groups.setdefault(document.reference, []).append(document)
        for group in groups.values():
            self.pusher.push(group)
        return list(groups)

    def _dossier_documents(self, reference: str) -> list[Document]:
        dossier = self.state.dossiers.get(reference)
        if dossier is None:
            raise KeyError(f"dossier {reference} was never pushed")
        return dossier.documents()

    def amend(self, reference: str, type: str = "51") -> Document:
        """Push an amendment (02) of the dossier's latest document of `type`; return it."""
        documents = self._dossier_documents(reference)
        candidates = [d for d in documents if d.type == type and d.function in ("01", "02")]
        if not candidates:
            raise KeyError(f"dossier {reference} has no document of type {type}")
        replaced = max(candidates, key=lambda d: d.send_date)
        amendment = make_amendment(replaced, send_date=later_than([d.send_date for d in documents]))
        self.pusher.push([amendment])
        return amendment

    def cancel(self, reference: str, reason: str = "Voyage cancelled by the owners.") -> Document:
        """Push a cancellation (type 50, function 03) of the dossier; return it."""
        documents = self._dossier_documents(reference)
        declarations = [d for d in documents if d.type == "50" and d.function in ("01", "02")]
        if not declarations:
            raise KeyError(f"dossier {reference} has no General Declaration to cancel")
        first = min(declarations, key=lambda d: d.send_date)
        cancellation = make_cancellation(
            first, send_date=later_than([d.send_date for d in documents]), reason=reason
        )
        self.pusher.push([cancellation])
        return cancellation

    # --- the gateway --------------------------------------------------------------------------

    def unavailable(self) -> bytes:
        return fault_response(SoapFault("Server", "The NSW is temporarily unavailable; send again later."))

    def handle(self, body: bytes) -> tuple[bytes, bool]:
        """Answer one sendAndGetMessage request: (response, False) or (fault, True)."""
        self.state.count("requests")
        try:
            request = parse_request(body, max_bytes=MAX_REQUEST_BYTES)
            try:
                self.verifier.verify(request.header)
            except WsseError as exc:
                self.state.count("auth_failures")
                _log.info("NSW gateway refused a request: %s", exc)
                raise SoapFault("Client", f"Authentication failed: {exc}.") from None
            payload = request.payload
            if payload.tag not in (f"{{{GATEWAY_NS}}}sendAndGetMessage", "sendAndGetMessage"):
                raise SoapFault("Client", "Unknown operation: this endpoint serves sendAndGetMessage.")
            message = payload.find(f"{{{GATEWAY_NS}}}requestMessage")
            if message is None:
                message = payload.find("requestMessage")
            if message is None or not message.text:
                raise SoapFault("Client", "sendAndGetMessage needs a requestMessage.")
        except SoapFault as fault:
            return fault_response(fault), True
        answer = self.judge(message.text)
        wrapper = etree.Element(f"{{{GATEWAY_NS}}}sendAndGetMessageResponse", nsmap={"gw": GATEWAY_NS})
        etree.SubElement(wrapper, f"{{{GATEWAY_NS}}}sendAndGetMessageReturn").text = answer.decode("utf-8")
        return response(wrapper), False

    def judge(self, text: str) -> bytes:
        """Judge one Result envelope and return the answer envelope (99 or 22)."""
        root, info, rejects = read_result(text)
        state = self.state
        if info is not None and info.message_id in state.results_by_id:
            known = state.dossiers[state.results_by_id[info.message_id]]
            known.result_duplicates += 1
            state.count("result_duplicates")
            _log.info("NSW gateway: duplicate Result %s for %s", info.message_id, known.reference)
            return answer_envelope(function="99", answered=info)
        dossier = None if info is None or info.reference is None else state.dossiers.get(info.reference)
        if not rejects and root is not None and info is not None:
            rejects = judge_contract(
                root,
                info,
                dossier_document_type=None if dossier is None else dossier.document_type,
                general_declarations=set() if dossier is None else dossier.general_declarations(),
                cancellations=set() if dossier is None else dossier.cancellations(),
                others=set() if dossier is None else set(dossier.pushed),
            )
            if not rejects and dossier is not None and info.receipt and _conflicts(dossier, info):
                rejects.append(
                    (
                        "R-STATE",
                        f"Dossier {dossier.reference} already has a function {info.function} Result for "
                        f"receipt {info.receipt} under another messageId.",
                    )
                )
        if rejects:
            state.count("result_rejects")
            if dossier is not None:
                dossier.result_rejects.extend(code for code, _ in rejects)
            _log.info(
                "NSW gateway refused a Result (%s): %s",
                info.message_id if info else "unreadable",
                ",".join(code for code, _ in rejects),
            )
            return answer_envelope(function="22", answered=info, rejects=rejects)
        assert info is not None
        assert dossier is not None
        dossier.results.append(
            ResultRecord(info.message_id, info.function or "", info.receipt, dossier.amendments)
        )
        state.results_by_id[info.message_id] = dossier.reference
        state.touch(dossier.reference)
        state.count("results")
        _log.info(
            "NSW gateway: Result %s function %s for %s", info.message_id, info.function, dossier.reference
        )
        if info.function == "25" and self.config.answer_supplements and root is not None:
            self._answer_supplement(dossier.reference, root)
        return answer_envelope(function="99", answered=info)

    def _answer_supplement(self, reference: str, result: etree._Element) -> None:
        """Acting as the agent: amend the documents a 25 names, `answer_delay` seconds from now."""
        named = {collapse(e.findtext("DocumentType")) for e in result.iterfind("Body/Content/Result/Error")}
        types = sorted(t for t in named if t) or ["50"]
        self.state.count("supplements_answered")

        def answer() -> None:
            for type_ in types:
                self.amend(reference, type_)

        asyncio.get_running_loop().call_later(self.config.answer_delay, answer)

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.state.snapshot(pending_pushes=self.pusher.pending),
            "injected": self.injector.snapshot(),
        }

    def progress(self) -> dict[str, Any]:
        return self.state.progress(pending_pushes=self.pusher.pending)

    def reset(self) -> None:
        self.state.reset()
        self.injector.reset()


def _conflicts(dossier: NswDossier, info: ResultInfo) -> bool:
    """Whether the dossier has a Result of this function and receipt under another messageId."""
    return any(
        r.function == info.function and r.receipt == info.receipt and r.message_id != info.message_id
        for r in dossier.results
    )


# --- HTTP -------------------------------------------------------------------------------------

SERVICE: web.AppKey[NswService] = web.AppKey("nsw", NswService)


async def make_nsw_app(config: NswConfig) -> web.Application:
    """The NSW simulator's aiohttp application."""
    service = NswService(config)
    app = new_app()
    app[SERVICE] = service
    app.router.add_post(PATH, _gateway)
    app.router.add_get("/admin/state", _admin_state)
    app.router.add_get("/admin/progress", _admin_progress)
    app.router.add_post("/admin/reset", _admin_reset)
    app.router.add_post("/admin/credentials", _admin_credentials)

    async def started(_: web.Application) -> None:
        service.injector.start()

    async def cleanup(_: web.Application) -> None:
        await service.pusher.close()

    app.on_startup.append(started)
    app.on_cleanup.append(cleanup)
    return app


async def _gateway(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]

    async def process(body: bytes) -> tuple[bytes, bool]:
        return service.handle(body)

    return await serve_soap(request, service.injector.decide(), service.unavailable, process)


async def _admin_state(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[SERVICE].snapshot())


async def _admin_progress(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[SERVICE].progress())


async def _admin_reset(request: web.Request) -> web.StreamResponse:
    request.app[SERVICE].reset()
    return web.json_response({"reset": True})


async def _admin_credentials(request: web.Request) -> web.StreamResponse:
    credentials = await read_credentials(request)
    request.app[SERVICE].verifier.replace_credentials(credentials)
    return web.json_response({"users": sorted(credentials)})


def all_final(state: Mapping[str, Any]) -> bool:
    """Whether every dossier is settled (all pushes answered) and has its final Result (24 if cancelled)."""
    dossiers = state.get("dossiers", {})
    return bool(dossiers) and all(
        finished(
            settled=dossier["settled"],
            refused_outright=bool(dossier["rejected"] and not dossier["acknowledged"]),
            cancelled=dossier["cancelled"],
            final=dossier["final"],
        )
        for dossier in dossiers.values()
    )


# --- in-process use ---------------------------------------------------------------------------


class NswSimulator(SimulatorHandle):
    """The NSW simulator on an ephemeral loopback port in a background thread (a context manager).

    >>> with NswSimulator(agency_url=adapter_url) as nsw:  # doctest: +SKIP
    ...     reference = nsw.push_dossier(generate_dossier(crew=12))
    ...     nsw.wait_until(lambda s: s["dossiers"][reference]["final"] == "23", timeout=30)
    """

    def __init__(
        self,
        *,
        agency_url: str = "",
        agency_urls: Sequence[str] = (),
        agency_user: str = "demo",
        agency_password: str = "demo",  # noqa: S107 - the documented demo default
        credentials: Mapping[str, str] | None = None,
        faults: FaultSpec | str | None = None,
        duplicates: float = 0.0,
        shuffle: bool = False,
        seed: int = 0,
        push_timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 2.0,
        max_attempts: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_skew_seconds: float = 300.0,
        ssl_context: ssl.SSLContext | None = None,
        style: StringStyle = PLAIN,
        answer_supplements: bool = False,
        answer_delay: float = 1.0,
    ) -> None:
        spec = faults if isinstance(faults, FaultSpec) else parse_fault_spec(faults)
        self.config = NswConfig(
            push=PushSettings(
                agency_url=agency_url,
                agency_urls=tuple(agency_urls),
                user=agency_user,
                password=agency_password,
                timeout=push_timeout,
                backoff_initial=backoff_initial,
                backoff_max=backoff_max,
                max_attempts=max_attempts,
                duplicates=duplicates,
                shuffle=shuffle,
                seed=seed,
                style=style,
            ),
            credentials=dict(credentials or DEFAULT_CREDENTIALS),
            faults=spec,
            max_skew_seconds=max_skew_seconds,
            answer_supplements=answer_supplements,
            answer_delay=answer_delay,
        )
        super().__init__(
            self._make, host=host, port=port, name="NSW simulator", path=PATH, ssl_context=ssl_context
        )

    async def _make(self) -> web.Application:
        return await make_nsw_app(self.config)

    @property
    def agency_url(self) -> str:
        """Where pushes go (may be set after start, e.g. once the adapter listens)."""
        return self.config.push.agency_url

    @agency_url.setter
    def agency_url(self, value: str) -> None:
        self.config.push.agency_url = value

    @property
    def agency_urls(self) -> tuple[str, ...]:
        """Several intake URLs: each dossier goes to one of them (see PushSettings.agency_url_for)."""
        return self.config.push.agency_urls

    @agency_urls.setter
    def agency_urls(self, value: Sequence[str]) -> None:
        self.config.push.agency_urls = tuple(value)

    @property
    def service(self) -> NswService:
        """The running simulator's state and logic (for tests that look inside)."""
        return self._app()[SERVICE]

    def _on_loop(self, work: Callable[[NswService], Any]) -> Any:
        service = self.service

        async def run() -> Any:
            return work(service)

        return self._server.call(run())

    def push_dossier(self, documents: Sequence[tuple[str, bytes]]) -> str:
        """Push one dossier's (file name, envelope bytes) documents; return its dossier number."""
        parsed = read_documents(documents)
        references = self._on_loop(lambda service: service.push(parsed))
        if len(references) != 1:
            raise ValueError(f"the documents belong to {len(references)} dossiers, not one")
        return str(references[0])

    def push_documents(self, documents: Sequence[Document]) -> list[str]:
        """Push already-read documents of any number of dossiers; return their dossier numbers."""
        return list(self._on_loop(lambda service: service.push(list(documents))))

    def push_amendment(self, reference: str, type: str = "51") -> str:
        """Push an amendment (02) of the dossier's latest document of `type`; return its messageId."""
        return str(self._on_loop(lambda service: service.amend(reference, type)).message_id)

    def push_cancellation(self, reference: str, reason: str = "Voyage cancelled by the owners.") -> str:
        """Push a cancellation of the dossier; return its messageId."""
        return str(self._on_loop(lambda service: service.cancel(reference, reason)).message_id)

    def admin_state(self) -> dict[str, Any]:
        """The same JSON as GET /admin/state."""
        result: dict[str, Any] = self._on_loop(lambda service: service.snapshot())
        return result

    def progress(self) -> dict[str, Any]:
        """The same JSON as GET /admin/progress."""
        result: dict[str, Any] = self._on_loop(lambda service: service.progress())
        return result

    def wait_all_final(self, *, timeout: float = 30.0, interval: float = 0.1) -> dict[str, Any]:
        """Wait until every dossier is final (see `all_final`); return the whole state."""
        return self._wait_progress(lambda p: bool(p["all_final"]), timeout, interval)

    def _wait_progress(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, interval: float
    ) -> dict[str, Any]:
        """Poll the cheap progress until `predicate` holds, then return the whole state."""
        deadline = time.monotonic() + timeout
        while not predicate(self.progress()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the NSW simulator's progress did not reach the condition in {timeout} s")
            time.sleep(interval)
        return self.admin_state()

    def reset(self) -> None:
        """The same as POST /admin/reset."""
        self._on_loop(lambda service: service.reset())

    def set_credentials(self, credentials: Mapping[str, str]) -> None:
        """The same as POST /admin/credentials: the gateway accepts these user names and passwords
        from now on (the agency's credentials; the pushes' own are unchanged)."""
        self._on_loop(lambda service: service.verifier.replace_credentials(dict(credentials)))

    def wait_until(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 30.0, interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll the admin state until `predicate(state)` holds; return that state or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.admin_state()
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the NSW simulator's state did not reach the condition in {timeout} s")
            time.sleep(interval)

    def wait_pushed(self, *, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until every push so far was answered (99 or 22) or gave up."""
        return self._wait_progress(lambda p: p["pending_pushes"] == 0, timeout, 0.05)
