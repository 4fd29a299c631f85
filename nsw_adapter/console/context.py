"""What the console's handlers share: the application's keys, rendering, and running blocking calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from nsw_adapter.console.auth import Guard, Session
from nsw_adapter.console.readmodel import DependencyHealth, ReadModel

T = TypeVar("T")

GUARD = web.AppKey("console_guard", Guard)
MODEL: web.AppKey[ReadModel] = web.AppKey("console_model")
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
HEALTH: web.AppKey[Callable[[], list[DependencyHealth]]] = web.AppKey("console_health")
SESSION = web.RequestKey("console_session", Session)  # the browser's session (replaced at log in/out)
FORM: web.RequestKey[MultiDictProxy[Any]] = web.RequestKey("console_form")  # a POST's fields
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("console_clock")


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    session = request[SESSION]
    page = request.app[TEMPLATES].get_template(template)
    body = page.render(session=session, path=request.path, **values)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def blocking(request: web.Request, call: Callable[..., T], *args: Any) -> T:
    """A read model call (blocking: SQL) on the default executor, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(call, *args))
