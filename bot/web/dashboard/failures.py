"""The "发送与处理异常" page (/failures) and ``GET /api/failures``: messages the bot parked after
their retries ran out and sends that kept failing, with a button to try each again. The rules
(who sees which rows, what may be retried) are in handlers/failures.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.web.dashboard.common import page, redirect, say
from bot.web.keys import RUNTIME, SESSION, VIEWER
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.viewer import Viewer
from handlers import failures
from handlers.failures import FailureError
from storage import queries

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()


def _may_read(viewer: Viewer) -> bool:
    """Those who manage grids, and the township's read-only integration tokens."""
    return viewer.may_manage or (viewer.account is None and viewer.scope.everything)


def _forbidden(request: web.Request) -> web.Response:
    return page("error.html", request, {"title": say(request, "forbidden_title"),
                                        "message": say(request, "failures_forbidden")},
                status=403)


@routes.get("/failures")
async def failures_page(request: web.Request) -> web.Response:
    viewer = request[VIEWER]
    if not viewer.may_manage:
        return _forbidden(request)
    found = await in_session(request.app,
                             lambda session: failures.list_failures(session, viewer.scope))
    flash, request[SESSION] = request[SESSION].take_flash()
    return page("failures.html", request, {"f": found, "flash": flash})


@api_routes.get("/api/failures")
async def failures_api(request: web.Request) -> web.Response:
    viewer = request[VIEWER]
    if not _may_read(viewer):
        return json_error(403, say(request, "failures_forbidden"), "role")
    found = await in_session(request.app,
                             lambda session: failures.list_failures(session, viewer.scope))
    return json_response(found.as_dict())


Retry = Callable[[Session, Viewer, int, web.Request], Any]


def _retry_message(session: Session, viewer: Viewer, row_id: int, request: web.Request) -> Any:
    return failures.retry_message(session, viewer.scope, row_id)


def _retry_send(session: Session, viewer: Viewer, row_id: int, request: web.Request) -> Any:
    return failures.retry_send(session, viewer.scope, row_id)


async def _run(request: web.Request, fn: Retry) -> str | None:
    """Retry one row; the refusal's message name, or None when it was done."""
    viewer = request[VIEWER]
    row_id = queries.as_id(request.match_info["id"])
    if row_id is None:
        return "failure_not_found"
    try:
        await in_session(request.app, lambda session: fn(session, viewer, row_id, request))
    except FailureError as exc:
        return f"failure_{exc.reason}"
    runtime = request.app[RUNTIME]
    if runtime.sender is not None:
        runtime.sender.wake()
    return None


def _form(fn: Retry, done: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if not request[VIEWER].may_manage:
            return _forbidden(request)
        refusal = await _run(request, fn)
        request[SESSION] = request[SESSION].with_flash(say(request, refusal or done))
        return redirect("/failures")
    return handler


def _api(fn: Retry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        if not viewer.may_manage:
            return json_error(403, say(request, "failures_forbidden"), "role")
        if not viewer.can_write:
            return json_error(403, say(request, "read_only"), "read_only")
        refusal = await _run(request, fn)
        if refusal is not None:
            missing = refusal == "failure_not_found"
            return json_error(404 if missing else 409, say(request, refusal),
                              "not_found" if missing else "state")
        return json_response({"ok": True})
    return handler


routes.post("/failures/messages/{id}/retry")(_form(_retry_message, "message_requeued"))
routes.post("/failures/sends/{id}/retry")(_form(_retry_send, "send_requeued"))
api_routes.post("/api/failures/messages/{id}/retry")(_api(_retry_message))
api_routes.post("/api/failures/sends/{id}/retry")(_api(_retry_send))
