"""What every dashboard page shares: the clock, the sentences, redirects, the template context
(who is logged in, the CSRF token, whether the simulator is on) and the display filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.web.keys import MESSAGES, RUNTIME, SESSION, SETTINGS, VIEWER
from handlers.context import Context
from handlers.texts import formats


def context(request: web.Request) -> Context:
    ctx = request.app[RUNTIME].context
    assert ctx is not None, "the runtime is not started"
    return ctx


def now(request: web.Request) -> datetime:
    """The domain clock (tests move it), for session ages, the lockout and "overdue"."""
    return context(request).now()


def say(request: web.Request, name: str, /, **variables: Any) -> str:
    return request.app[MESSAGES](name, **variables)


def redirect(location: str) -> web.Response:
    """A 303 "see other" (after a form, the browser GETs the next page), returned rather than
    raised so the session middleware can still set its cookie on it."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cases"


def page(template: str, request: web.Request, variables: dict[str, Any], *,
         status: int = 200) -> web.Response:
    """Render a page with what every page template may use: who is logged in, the CSRF token
    for its forms, whether the simulator is on, the bot's name, the current path."""
    settings = request.app[SETTINGS]
    session = request.get(SESSION)
    common = {
        "viewer": request.get(VIEWER),
        "csrf": session.csrf if session else "",
        "sim_on": settings.transport.kind == "sim",
        "bot_name": settings.general.bot_name,
        "path": request.path,
    }
    return aiohttp_jinja2.render_template(template, request, {**common, **variables},
                                          status=status)


def install_filters(env: jinja2.Environment, request_tz: Any) -> None:
    """Display filters: local times, percentages, hours."""

    def dt(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(request_tz).strftime(fmt) if moment else ""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    def hours(value: float | None) -> str:
        return formats("duration", hours=value, spaced=True)

    env.filters.update(dt=dt, pct=pct, hours=hours)
