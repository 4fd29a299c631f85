"""The console's aiohttp application: security headers, sessions, CSRF, login, and its routes.

Every response carries a strict Content-Security-Policy (nothing but this origin's stylesheet;
no script at all), frame-ancestors 'none' and X-Frame-Options DENY, Referrer-Policy no-referrer
and nosniff. Every page but the login form needs a logged-in session; every POST needs the
session's CSRF token, the login form's included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import structlog
from aiohttp import web

from nsw_adapter.console import pages
from nsw_adapter.console.auth import Guard, Session, csrf_ok
from nsw_adapter.console.config import ConsoleSettings
from nsw_adapter.console.context import CLOCK, FORM, GUARD, HEALTH, MODEL, SESSION, TEMPLATES, render
from nsw_adapter.console.readmodel import DependencyHealth, ReadModel

log = structlog.get_logger(__name__)
R = TypeVar("R", bound=web.StreamResponse)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "nswa_console"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_OPEN = ("/login", "/static/")  # reachable without logging in


def create_console_app(
    settings: ConsoleSettings,
    model: ReadModel,
    *,
    health: Callable[[], list[DependencyHealth]] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """The console over `model`; `health` tells what the daemon knows of its dependencies."""
    app = web.Application(middlewares=[security_headers, sessions], client_max_size=64 * 1024)
    app[GUARD] = Guard.from_settings(settings)
    app[MODEL] = model
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("nsw_adapter.console", "templates"),
        autoescape=True,  # every value is escaped unless a template marks it safe (the SVG charts)
        undefined=jinja2.StrictUndefined,
    )
    app[HEALTH] = health or (lambda: [])
    app[CLOCK] = clock
    app.router.add_get("/login", pages.login_form)
    app.router.add_post("/login", pages.log_in)
    app.router.add_post("/logout", pages.log_out)
    app.router.add_get("/", pages.overview)
    app.router.add_get("/dossiers", pages.dossiers)
    app.router.add_get("/dossiers/{reference}/{document_type}", pages.dossier)
    app.router.add_get("/dead-letters", pages.dead_letters)
    app.router.add_post("/dead-letters/{kind}/{id}/retry", pages.retry)
    app.router.add_post("/dead-letters/{kind}/{id}/discard", pages.discard)
    app.router.add_get("/statistics", pages.statistics)
    app.router.add_get("/statistics.csv", pages.statistics_csv)
    app.router.add_static("/static/", STATIC, show_index=False)
    return app


@web.middleware
async def security_headers(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        response.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


@web.middleware
async def sessions(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
    """Find (or start) the browser's session; send anyone not logged in to the login form; refuse
    a POST whose form lacks the session's CSRF token."""
    guard = request.app[GUARD]
    session = guard.sessions.get(request.cookies.get(COOKIE))
    fresh = session is None
    if session is None:
        session = guard.sessions.new()
    request[SESSION] = session
    is_open = request.path == "/login" or request.path.startswith("/static/")
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf")
        if not csrf_ok(session, token if isinstance(token, str) else None):
            log.warning("console.csrf_refused", path=request.path)
            response: web.StreamResponse = render(
                request, "error.html", status=403, title="Refused", message="The form had expired: try again."
            )
            return with_cookie(request, response, session) if fresh else response
        request[FORM] = form
    if session.user is None and not is_open:
        raise (
            with_cookie(request, web.HTTPSeeOther("/login"), session) if fresh else web.HTTPSeeOther("/login")
        )
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects after a POST
        raise _renewed(request, exc, session, fresh) from None
    return _renewed(request, response, session, fresh)


def _renewed(request: web.Request, response: R, session: Session, fresh: bool) -> R:
    """The response, with the session's cookie when it is new or was replaced (log in, log out)."""
    current: Session = request[SESSION]
    if fresh or current is not session:
        with_cookie(request, response, current)
    return response


def with_cookie(request: web.Request, response: R, session: Session) -> R:
    guard = request.app[GUARD]
    response.set_cookie(
        COOKIE, session.id, httponly=True, samesite="Strict", secure=guard.secure_cookies, path="/"
    )
    return response
