"""Logging in and out, the session cookie on every dashboard request, and CSRF.

Pages need a login (except the login page); the JSON API takes a Bearer token or, for the
dashboard's own scripts and downloads, the same session cookie. Every state-changing request
that relies on the cookie must carry the session's CSRF token, in the form field ``csrf`` or the
``X-CSRF-Token`` header, else it is refused with 403 before any handler runs.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web

from bot.web.dashboard.common import now, page, redirect, safe_next, say
from bot.web.keys import CODEC, SESSION, SETTINGS, VIEWER
from bot.web.middleware import Handler, json_error, json_response
from bot.web.session import in_session
from bot.web.viewer import CookieSession, SessionCodec, session_viewer
from handlers.accounts import LoginOutcome, authenticate
from storage import queries

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: paths the dashboard session plays no part in: static files, the simulator (WeChat itself
#: has no dashboard login), and Open311 (tokens only)
NO_SESSION_PREFIXES = ("/static/", "/sim", "/api/sim/", "/open311/", "/healthz", "/readyz",
                       "/metrics")
PUBLIC_PAGES = frozenset({"/login"})
SECRET_NAME = "session_key"


async def codec_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cookie key: ``[web] secret``, or one generated once and kept in the database."""
    settings = app[SETTINGS]
    secret = settings.web.secret or await in_session(
        app, lambda session: queries.app_secret(session, name=SECRET_NAME))
    app[CODEC] = SessionCodec(secret, timedelta(hours=settings.web.session_hours))
    yield


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    is_api = path.startswith("/api/")
    if path.startswith(NO_SESSION_PREFIXES) or (is_api and "Authorization" in request.headers):
        return await handler(request)  # a token call: the cookie is not the authority
    codec = request.app[CODEC]
    raw = request.cookies.get(SessionCodec.COOKIE)
    cookie = (codec.decode(raw, now(request)) if raw else None) or CookieSession()
    if cookie.account_id is not None:
        viewer = await in_session(request.app, lambda session: session_viewer(session, cookie))
        if viewer is None:
            cookie = CookieSession()  # the account was disabled or its password changed
        else:
            request[VIEWER] = viewer
    request[SESSION] = cookie
    # An API call with neither a token nor a login is the token check's to refuse (401); CSRF
    # guards what a cookie would authorise.
    cookie_acts = not is_api or VIEWER in request
    if request.method not in SAFE_METHODS and cookie_acts and not await _csrf_ok(request, cookie):
        response: web.StreamResponse = _refuse_csrf(request)
    elif not is_api and VIEWER not in request and path not in PUBLIC_PAGES:
        response = redirect("/login?next=" + quote(request.path_qs, safe=""))
    else:
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            if is_api:
                raise
            response = page("error.html", request, {"title": say(request, "page_missing_title"),
                                                    "message": say(request, "page_missing")},
                            status=404)
    final = request[SESSION]  # login, logout and flash notices replace it
    if final.changed and not is_api:
        response.set_cookie(SessionCodec.COOKIE, codec.encode(final), httponly=True,
                            samesite="Lax", secure=request.secure, path="/",
                            max_age=int(codec.max_age.total_seconds())
                            if final.account_id is not None else None)
    return response


async def _csrf_ok(request: web.Request, cookie: CookieSession) -> bool:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                 "multipart/form-data"):
        field = (await request.post()).get("csrf")
        sent = field if isinstance(field, str) else None
    return bool(sent) and not cookie.changed and _equal(sent or "", cookie.csrf)


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _refuse_csrf(request: web.Request) -> web.Response:
    message = say(request, "csrf_failed")
    if request.path.startswith("/api/"):
        return json_error(403, message, "csrf_failed")
    return page("error.html", request, {"title": say(request, "csrf_title"), "message": message},
                status=403)


# --- routes -------------------------------------------------------------------------------------


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    if VIEWER in request:
        return redirect(safe_next(request.query.get("next")))
    return _login_form(request, error=None, status=200)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not username or not password:
        return _login_form(request, error=say(request, "login_empty"), status=400,
                           username=username)
    moment = now(request)
    result = await in_session(request.app, lambda session: authenticate(
        session, username=username, password=password, now=moment,
        remote=request.remote or ""))
    if result.outcome == LoginOutcome.LOCKED:
        minutes = max(1, math.ceil((result.retry_after or timedelta()).total_seconds() / 60))
        return _login_form(request, error=say(request, "login_locked", minutes=minutes),
                           status=429, username=username)
    if result.outcome != LoginOutcome.OK or result.account is None:
        return _login_form(request, error=say(request, "login_failed"), status=401,
                           username=username)
    request[SESSION] = request[SESSION].login(result.account, moment)
    return redirect(safe_next(str(form.get("next", "")) or None))


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    request[SESSION] = request[SESSION].logout()
    return redirect("/login")


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    return redirect("/cases")


def _login_form(request: web.Request, *, error: str | None, status: int,
                username: str = "") -> web.Response:
    return page("login.html", request, {
        "error": error, "username": username,
        "next": safe_next(request.query.get("next") or None),
    }, status=status)


@api_routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    """Who the caller is and what they may do; a dashboard session also gets its CSRF token,
    for scripts that act through it."""
    viewer = request[VIEWER]
    account = viewer.account
    body = {"username": account.username if account else None, "name": viewer.name,
            "role": account.role if account else None, "role_name": viewer.role_name,
            "via": viewer.via, "can_write": viewer.can_write,
            "grids": sorted(viewer.scope.grid_ids) if viewer.scope.grid_ids is not None
            else None}
    if viewer.via == "session":
        body["csrf"] = request[SESSION].csrf
    return json_response(body)
