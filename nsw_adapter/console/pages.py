"""The console's pages: each handler reads the read model (off the event loop) and renders a template.

What a page can show is what the read model's records hold: references, ids, codes, counts,
times and the vessel's public particulars; never a person's name or document number.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from nsw_adapter.console.auth import Session
from nsw_adapter.console.charts import Series, bar_chart
from nsw_adapter.console.context import CLOCK, FORM, GUARD, HEALTH, MODEL, SESSION, blocking, render
from nsw_adapter.console.readmodel import GateStatistics, ReadModel, UnknownDeadLetter

log = structlog.get_logger(__name__)

WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7)}
HOURLY = (Series("received", "received"), Series("cleared", "cleared"), Series("rejected", "rejected"))
DIRECTIONS = {"1": "arrival", "2": "departure"}
KINDS = ("dossier", "outbox")
LIST_LIMIT = 200


def _model(request: web.Request) -> ReadModel:
    return request.app[MODEL]


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


def _form(request: web.Request, name: str) -> str:
    value = request[FORM].get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _error(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", status=status, title=title, message=message)


# --- login
async def login_form(request: web.Request) -> web.Response:
    if request[SESSION].user is not None:
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", title="Log in", error=None)


async def log_in(request: web.Request) -> web.StreamResponse:
    guard = request.app[GUARD]
    name, password = _form(request, "name"), request[FORM].get("password", "")
    keys = (f"user:{name}", f"address:{request.remote}")
    if guard.throttle.blocked(*keys):
        log.warning("console.login_throttled")
        error = "Too many failed attempts: wait a few minutes before trying again."
        return render(request, "login.html", status=429, title="Log in", error=error)
    user = await blocking(request, guard.users.check, name, password if isinstance(password, str) else "")
    if user is None:
        guard.throttle.failed(*keys)
        log.warning("console.login_failed")
        return render(request, "login.html", status=401, title="Log in", error="Wrong name or password.")
    guard.throttle.succeeded(keys[0])
    request[SESSION] = guard.sessions.log_in(request[SESSION], user)
    log.info("console.login", console_user=user.name, role=user.role)
    raise web.HTTPSeeOther("/")


async def log_out(request: web.Request) -> web.StreamResponse:
    session: Session = request[SESSION]
    request.app[GUARD].sessions.end(session)
    request[SESSION] = request.app[GUARD].sessions.new()
    raise web.HTTPSeeOther("/login")


# --- overview
async def overview(request: web.Request) -> web.Response:
    window = request.query.get("window", "day")
    span = WINDOWS.get(window, WINDOWS["day"])
    now = _now(request)
    model = _model(request)
    figures = await blocking(request, model.overview, now)
    hours = await blocking(request, model.hourly, now - span + timedelta(hours=1), now)
    health = await blocking(request, request.app[HEALTH])
    label = "%H:00" if span <= WINDOWS["day"] else "%a %Hh"
    chart = bar_chart(
        f"Dossiers per hour, last {window}",
        [hour.hour.strftime(label) for hour in hours],
        HOURLY,
        [(hour.received, hour.cleared, hour.rejected) for hour in hours],
    )
    return render(
        request,
        "overview.html",
        title="Overview",
        figures=figures,
        health=health,
        chart=chart,
        window=window if window in WINDOWS else "day",
        totals=(
            sum(h.received for h in hours),
            sum(h.cleared for h in hours),
            sum(h.rejected for h in hours),
        ),
    )


# --- dossiers
async def dossiers(request: web.Request) -> web.Response:
    text = request.query.get("q", "")[:100]
    rows = await blocking(request, _model(request).find_dossiers, text, LIST_LIMIT)
    return render(
        request, "dossiers.html", title="Dossiers", q=text, rows=rows, directions=DIRECTIONS, limit=LIST_LIMIT
    )


async def dossier(request: web.Request) -> web.Response:
    reference, document_type = request.match_info["reference"], request.match_info["document_type"]
    timeline = await blocking(request, _model(request).timeline, reference, document_type)
    if timeline is None:
        raise web.HTTPNotFound(text="No such dossier.")
    return render(request, "dossier.html", title=f"Dossier {reference}", t=timeline, directions=DIRECTIONS)


# --- dead letters
async def dead_letters(request: web.Request) -> web.Response:
    model = _model(request)
    letters = await blocking(request, model.dead_letters)
    notice = request.query.get("done", "")
    return render(
        request,
        "dead_letters.html",
        title="Dead letters",
        letters=letters,
        can_discard=model.can_discard(),
        notice={"retried": "Sent back to be tried again.", "discarded": "Discarded."}.get(notice),
    )


def _operator_only(request: web.Request) -> web.Response | None:
    session: Session = request[SESSION]
    if session.role == "operator":
        return None
    log.warning("console.refused", console_user=session.user, path=request.path)
    return render(
        request, "error.html", status=403, title="Refused", message="Only operators may retry or discard."
    )


def _letter(request: web.Request) -> tuple[str, int]:
    kind, raw = request.match_info["kind"], request.match_info["id"]
    if kind not in KINDS or not raw.isdigit():
        raise web.HTTPNotFound(text="No such dead letter.")
    return kind, int(raw)


async def retry(request: web.Request) -> web.StreamResponse:
    refused = _operator_only(request)
    if refused is not None:
        return refused
    kind, id = _letter(request)
    try:
        await blocking(request, _model(request).retry, kind, id, request[SESSION].user)
    except UnknownDeadLetter:
        return render(request, "error.html", status=404, title="Gone", message="No such dead letter now.")
    raise web.HTTPSeeOther("/dead-letters?done=retried")


async def discard(request: web.Request) -> web.StreamResponse:
    refused = _operator_only(request)
    if refused is not None:
        return refused
    kind, id = _letter(request)
    reason = _form(request, "reason")
    if not reason:
        return render(
            request, "error.html", status=400, title="Reason needed", message="Say why it is discarded."
        )
    model = _model(request)
    if not model.can_discard():
        return render(
            request,
            "error.html",
            status=501,
            title="Not available",
            message="Discarding needs a newer store.",
        )
    try:
        await blocking(request, model.discard, kind, id, request[SESSION].user, reason[:500])
    except UnknownDeadLetter:
        return render(request, "error.html", status=404, title="Gone", message="No such dead letter now.")
    raise web.HTTPSeeOther("/dead-letters?done=discarded")


# --- statistics
def _period(request: web.Request, today: date) -> tuple[date, date, str | None]:
    def day(name: str, default: date) -> date:
        try:
            return date.fromisoformat(request.query.get(name, ""))
        except ValueError:
            return default

    start = day("from", today - timedelta(days=30))
    end = day("to", today)
    gate = request.query.get("gate", "").strip().upper()[:20] or None
    return (start, end, gate) if start <= end else (end, start, gate)


async def statistics(request: web.Request) -> web.Response:
    start, end, gate = _period(request, _now(request).date())
    rows = list(await blocking(request, _model(request).statistics, start, end, gate))
    chart = bar_chart(
        "Dossiers by gate",
        [row.gate for row in rows],
        (Series("cleared", "cleared"), Series("rejected", "rejected"), Series("rejected locally", "local")),
        [(row.cleared, row.rejected, row.rejected_locally) for row in rows],
    )
    people = bar_chart(
        "Crew and passengers by gate",
        [row.gate for row in rows],
        (Series("crew", "crew"), Series("passengers", "passengers"), Series("shore passes", "passes")),
        [(row.crew, row.passengers, row.shore_passes) for row in rows],
    )
    query = f"from={start.isoformat()}&to={end.isoformat()}" + (f"&gate={gate}" if gate else "")
    return render(
        request,
        "statistics.html",
        title="Statistics",
        rows=rows,
        start=start,
        end=end,
        gate=gate or "",
        chart=chart,
        people=people,
        csv_query=query,
    )


CSV_COLUMNS = (
    "gate", "entries", "exits", "crew", "passengers", "shore_passes", "cleared", "rejected",
    "rejected_locally", "decision_median_seconds", "decision_p95_seconds", "result_median_seconds",
    "result_p95_seconds",
)  # fmt: skip


def statistics_rows(rows: list[GateStatistics]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "rejections_by_code"])
    for row in rows:
        values: list[Any] = [getattr(row, column) for column in CSV_COLUMNS]
        codes = " ".join(f"{code}={n}" for code, n in sorted(row.rejections_by_code.items()))
        writer.writerow([("" if v is None else v) for v in values] + [codes])
    return out.getvalue()


async def statistics_csv(request: web.Request) -> web.Response:
    start, end, gate = _period(request, _now(request).date())
    rows = list(await blocking(request, _model(request).statistics, start, end, gate))
    name = f"nsw-adapter-statistics-{start.isoformat()}-{end.isoformat()}.csv"
    return web.Response(
        text=statistics_rows(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
