"""Two middlewares: errors become JSON for the API, and the API wants a Bearer token.

The simulator's own API (/api/sim/) is open: it stands in for WeChat itself, where anyone in a
group can post, and it only exists when the simulator transport is on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.web.keys import ROLE
from bot.web.session import in_session
from storage import queries

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PREFIXES = ("/api/sim/",)


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
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorised("需要访问令牌：请在请求头中提供 Authorization: Bearer <令牌>")
    role = await in_session(request.app,
                            lambda session: queries.token_role(session, token=token.strip()))
    if role is None:
        return _unauthorised("访问令牌无效或已停用")
    request[ROLE] = role
    return await handler(request)


def _unauthorised(message: str) -> web.Response:
    resp = json_error(401, message)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="gridbot"'
    return resp
