"""Two middlewares: errors become JSON for the API, and the API wants a Bearer token (or a
dashboard login, which the session middleware has already turned into a viewer).

The simulator's own API (/api/sim/) is open: it stands in for WeChat itself, where anyone in a
group can post, and it only exists when the simulator transport is on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.web.keys import ROLE, VIEWER
from bot.web.session import in_session
from bot.web.texts import api_text
from bot.web.viewer import Viewer, token_viewer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PREFIXES = ("/api/sim/", "/api/openapi.json")


def json_response(body: Any, status: int = 200) -> web.Response:
    """JSON with Chinese left readable (no \\u escapes)."""
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


#: the machine code of an error when the caller names none: one per status
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "unprocessable", 429: "too_many_requests",
               500: "internal_error"}


def json_error(status: int, message: str, code: str | None = None) -> web.Response:
    """``{"error": "中文说明", "code": "machine_code"}``: the sentence for people, the code for
    programs (it does not change when the wording does)."""
    return json_response({"error": message, "code": code or ERROR_CODES.get(status, "error")},
                         status=status)


_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _has_nul(request: web.Request) -> bool:
    return "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.query.items())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _has_nul(request):
        # PostgreSQL refuses NUL in any text, so a filter or a path carrying one would reach the
        # database and fail there; it is never part of a real name, number or search
        if request.path.startswith("/api/"):
            return json_error(400, api_text("nul_in_request"), "invalid_input")
        raise web.HTTPBadRequest(text=api_text("nul_in_request"))
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            # our own refusals carry a Chinese sentence; aiohttp's ("405: Method Not Allowed",
            # "Maximum request body size … exceeded.") are replaced by one
            text = exc.text if exc.text and _CHINESE.search(exc.text) else \
                api_text("http_error", status=exc.status)
            return json_error(exc.status, text, getattr(exc, "error_code", None))
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return json_error(500, api_text("internal_error"))
        raise


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path.startswith(OPEN_PREFIXES):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if not header and VIEWER in request:  # logged in to the dashboard
        return await handler(request)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorised(api_text("token_missing"), "token_missing")
    found = await authenticate_token(request, token.strip())
    if found is None:
        return _unauthorised(api_text("token_invalid"), "token_invalid")
    return await handler(request)


async def authenticate_token(request: web.Request, token: str) -> Viewer | None:
    """Look a token up and remember its role and viewer on the request; None if it is not a
    live token. Open311 calls it too, for its ``api_key`` parameter."""
    found = await in_session(request.app, lambda session: token_viewer(session, token))
    if found is None:
        return None
    request[ROLE], request[VIEWER] = found
    return found[1]


def _unauthorised(message: str, code: str) -> web.Response:
    resp = json_error(401, message, code)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="gridbot"'
    return resp
