"""Two middlewares: errors become JSON for the API, and the API wants a Bearer token (or a
dashboard login, which the session middleware has already turned into a viewer).

The simulator's own API (/api/sim/) is open: it stands in for WeChat itself, where anyone in a
group can post, and it only exists when the simulator transport is on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.web.keys import ROLE, VIEWER
from bot.web.session import in_session
from bot.web.viewer import Viewer, token_viewer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PREFIXES = ("/api/sim/", "/api/openapi.json")


def json_response(body: Any, status: int = 200) -> web.Response:
    """JSON with Chinese left readable (no \\u escapes)."""
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def json_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            messages = {404: "没有找到", 405: "不支持这个请求方法", 413: "请求内容太大"}
            return json_error(exc.status, exc.text if exc.text and not exc.text.startswith(
                str(exc.status)) else messages.get(exc.status, exc.reason))
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return json_error(500, "服务器内部错误，请稍后再试")
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
        return _unauthorised("需要访问令牌：请在请求头中提供 Authorization: Bearer <令牌>")
    found = await authenticate_token(request, token.strip())
    if found is None:
        return _unauthorised("访问令牌无效或已停用")
    return await handler(request)


async def authenticate_token(request: web.Request, token: str) -> Viewer | None:
    """Look a token up and remember its role and viewer on the request; None if it is not a
    live token. Open311 calls it too, for its ``api_key`` parameter."""
    found = await in_session(request.app, lambda session: token_viewer(session, token))
    if found is None:
        return None
    request[ROLE], request[VIEWER] = found
    return found[1]


def _unauthorised(message: str) -> web.Response:
    resp = json_error(401, message)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="gridbot"'
    return resp
