"""Who may use what: every route of the web app and every chat command, against every role.

The route table is read from the app's router, so a route added without a line in ``ROUTES``
fails ``test_every_route_is_in_the_matrix``. Each line states, for every caller (no credentials,
a bad token, a township-wide read token, and each dashboard account by read token, write token
and login cookie), what must happen: used (not refused), 401, a redirect to the login page, 403,
or 404 for what lies outside the caller's scope. The allowed calls are made so that they reach
the handler's own input checks (an empty form, an already cancelled notice) and change nothing,
so the one world built for the module stays the same for every line.

The chat side runs every command word as every role against a case of 幸福里第一网格: the
wrong ones get the polite refusal of templates/chat/refusals.j2 and leave the database as it was;
the right ones, on a fresh case each, are not refused.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa
from yarl import URL

from bot.config import LimitsSettings
from handlers.commands.permissions import refusal
from storage.db import session_scope
from storage.models import Community, Grid, Person, Role, Street
from tests.auxil.chat import ROOM, report, say
from tests.auxil.dashboard import ACCOUNTS, Browsers, WebUser, add_account, token_for
from tests.conftest import Harness, running_gridbot

pytestmark = pytest.mark.asyncio(loop_scope="module")

OTHER_ROOM = "hepingyuan@chatroom"  # 和平苑社区: wu's; zhou, lina and zhangqiang cannot see it
LATER = "2026-11-30T09:00:00+08:00"  # a week after the test clock's start: notices stay queued

# --- outcomes -----------------------------------------------------------------------------------

OK = "used"  # reached the handler (2xx, or its own 4xx about the input or the state)
UNAUTHORISED = "401"
LOGIN = "redirected to the login page"
FORBIDDEN = "403"
HIDDEN = "404 (outside the caller's scope)"


def outcome(resp: aiohttp.ClientResponse) -> str:
    if resp.status >= 500:
        return f"server error {resp.status}"
    if resp.status == 401:
        return UNAUTHORISED
    if resp.status == 403:
        return FORBIDDEN
    if resp.status == 404:
        return HIDDEN
    if resp.status in (302, 303) and resp.headers.get("Location", "").startswith("/login?next="):
        return LOGIN
    return OK


# --- callers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    via: str  # "anonymous" (a browser not logged in), "bad token", "token" or "session"
    account: str | None = None  # the dashboard account behind a token or a login
    write: bool = False  # a write token (a login acts as its account)

    @property
    def anonymous(self) -> bool:
        return self.via in ("anonymous", "bad token")

    @property
    def acts(self) -> bool:
        """May act as an account: a login, or a write token of an account."""
        return self.via == "session" or (self.via == "token" and self.write
                                         and self.account is not None)

    @property
    def cookie(self) -> bool:
        return self.via in ("anonymous", "session")

    def __str__(self) -> str:
        if self.via == "token":
            return f"token({self.account or '全街道'}, {'write' if self.write else 'read'})"
        return f"{self.via}({self.account})" if self.account else self.via


CALLERS = [Caller("anonymous"), Caller("bad token"), Caller("token")] + [
    c for name in ACCOUNTS for c in (Caller("token", name), Caller("token", name, write=True),
                                     Caller("session", name))]
#: admin; zhou (幸福里社区) and wu (和平苑社区); lina, worker, and zhangqiang, leader, of grid 1
NAMES = tuple(ACCOUNTS)

Expect = Callable[[Caller], str]


def each(default: str = OK, **accounts: str) -> dict[str | None, str]:
    """An outcome per account (None: a token without an account), ``default`` unless named."""
    return {None: default, **{name: accounts.get(name, default) for name in NAMES}}


def public() -> Expect:
    return lambda c: OK


def api_read(default: str = OK, **accounts: str) -> Expect:
    """A JSON read: any token or login, within its scope."""
    table = each(default, **accounts)
    return lambda c: UNAUTHORISED if c.anonymous else table[c.account]


def api_act(acting: Mapping[str | None, str], reading: Mapping[str | None, str]) -> Expect:
    """A JSON write: ``acting`` for logins and write tokens, ``reading`` for the rest."""
    return lambda c: (UNAUTHORISED if c.anonymous
                      else acting[c.account] if c.acts else reading[c.account])


def tokens_only(default: str = OK, **accounts: str) -> Expect:
    """Open311: a token (Bearer or api_key), never the dashboard cookie."""
    table = each(default, **accounts)
    return lambda c: table[c.account] if c.via == "token" else UNAUTHORISED


def page_get(default: str = OK, **accounts: str) -> Expect:
    table = each(default, **accounts)
    return lambda c: table[c.account] if c.via == "session" else LOGIN


def page_post(default: str = OK, **accounts: str) -> Expect:
    """A form: a login within its rights; a visitor is sent to log in; a caller without the
    session's CSRF token (a token, which pages ignore) is refused before anything runs."""
    table = each(default, **accounts)
    return lambda c: (table[c.account] if c.via == "session"
                      else LOGIN if c.via == "anonymous" else FORBIDDEN)


# --- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    bot: Harness
    browsers: Browsers
    plain: aiohttp.ClientSession  # no cookies: for token callers
    sessions: dict[str, WebUser]
    anonymous: WebUser
    tokens: dict[tuple[str | None, bool], str]
    ids: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> URL:
        return URL(str(self.bot.client.make_url("/"))).join(URL(path))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_stores: Callable[[], str], classifier: Any) -> AsyncIterator[World]:
    async with running_gridbot(module_stores(), classifier,
                               limits=LimitsSettings(messages_per_minute=100_000)) as bot:
        for name in NAMES:
            add_account(bot, name)
        tokens = {(None, False): token_for(bot, None)}
        for name in NAMES:
            tokens[(name, False)] = token_for(bot, name)
            tokens[(name, True)] = token_for(bot, name, scope="write")
        browsers = Browsers(bot)
        sessions = {name: await browsers.logged_in(name) for name in NAMES}
        anonymous = browsers.new()
        await anonymous.page("/login")  # a visitor's session, with a CSRF token
        w = World(bot, browsers, aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()),
                  sessions, anonymous, tokens)
        w.ids["case"] = await report(bot)  # 幸福里第一网格
        w.ids["other_case"] = await report(bot, "楼下广场舞天天放到十点，吵死了", sender="马先生",
                                           room=OTHER_ROOM)
        w.ids["notice"] = await _publish(w, "zhou", {"grids": ["幸福里第一网格"]})
        w.ids["other_notice"] = await _publish(w, "wu", {"grids": ["和平苑网格"]})
        w.ids["cancelled"] = await _publish(w, "zhou", {"grids": ["幸福里第一网格"]}, cancel=True)
        w.ids["township_cancelled"] = await _publish(w, "admin", {"all": True}, cancel=True)
        with session_scope(bot.runtime.engine) as session:
            w.ids["street"] = session.exec(sa.select(Street.id)).scalars().one()
            for key, model, name in (("xingfuli", Community, "幸福里社区"),
                                     ("hepingyuan", Community, "和平苑社区"),
                                     ("grid", Grid, "幸福里第一网格"),
                                     ("other_grid", Grid, "和平苑网格")):
                w.ids[key] = session.exec(sa.select(model.id).where(model.name == name)
                                          ).scalars().one()
        yield w
        await browsers.close()
        await w.plain.close()


async def _publish(w: World, name: str, targets: dict[str, Any], *, cancel: bool = False) -> int:
    auth = {"Authorization": f"Bearer {w.tokens[(name, True)]}"}
    resp = await w.plain.post(w.url("/api/notices"), headers=auth, json={
        "title": "停水通知", "body": "周六停水，请提前储水。", "targets": targets,
        "send_at": LATER})
    assert resp.status == 201, await resp.text()
    notice_id = (await resp.json())["id"]
    if cancel:
        resp = await w.plain.delete(w.url(f"/api/notices/{notice_id}"), headers=auth)
        assert resp.status == 200, await resp.text()
    return int(notice_id)


async def call(w: World, c: Caller, method: str, path: str, *, json: Any = None,
               form: dict[str, str] | None = None, fresh: bool = False
               ) -> aiohttp.ClientResponse:
    """One request as ``c``: cookies and the CSRF token for a browser, a header for a token."""
    headers: dict[str, str] = {}
    http = w.plain
    if c.via == "bad token":
        headers["Authorization"] = "Bearer gbt_not_a_token"
    elif c.via == "token":
        headers["Authorization"] = f"Bearer {w.tokens[(c.account, c.write)]}"
    elif c.cookie:
        user = w.anonymous if c.account is None else w.sessions[c.account]
        if fresh and c.account:  # the call ends the session (logout): use one of its own
            user = await w.browsers.logged_in(c.account)
        http = user.http
        if method not in ("GET", "HEAD"):
            headers["X-CSRF-Token"] = user.csrf
            if form is not None:
                form = {**form, "csrf": user.csrf}
    resp = await http.request(method, w.url(path), headers=headers, json=json, data=form,
                              allow_redirects=False)
    await resp.read()
    return resp


# --- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request to a route and what each caller must get. ``path`` may name world ids:
    ``{case}``, ``{notice}``…"""

    path: str
    expect: Expect
    json: Any = None
    form: dict[str, str] | None = None
    fresh: bool = False


IN_GRID_1 = {"wu": HIDDEN}  # a case or notice of 幸福里第一网格
IN_HEPINGYUAN = {"zhou": HIDDEN, "lina": HIDDEN, "zhangqiang": HIDDEN}
NOT_MANAGERS = {"lina": FORBIDDEN, "zhangqiang": FORBIDDEN}
PUBLISH = each(FORBIDDEN, admin=OK, zhou=OK, wu=OK)  # who acts on notices
#: a case action: hidden outside the scope first, then read-only callers are refused
CASE_READING = each(FORBIDDEN, wu=HIDDEN)

FAILURE_READERS = {**each(FORBIDDEN, admin=OK, zhou=OK, wu=OK), None: OK}
RETRY = each(FORBIDDEN, admin=HIDDEN, zhou=HIDDEN, wu=HIDDEN)

ROUTES: dict[tuple[str, str], list[Probe]] = {
    # --- the JSON API -----------------------------------------------------------------------
    ("GET", "/api/me"): [Probe("/api/me", api_read())],
    ("GET", "/api/groups"): [Probe("/api/groups", api_read())],
    ("GET", "/api/grids"): [Probe("/api/grids", api_read())],
    ("GET", "/api/people"): [Probe("/api/people", api_read())],
    ("GET", "/api/cases"): [Probe("/api/cases", api_read())],
    ("GET", "/api/cases/counts"): [Probe("/api/cases/counts", api_read())],
    ("GET", "/api/cases/export.{fmt}"): [Probe("/api/cases/export.xlsx", api_read()),
                                        Probe("/api/cases/export.csv", api_read())],
    ("GET", "/api/cases/{no}"): [Probe("/api/cases/{case}", api_read(**IN_GRID_1)),
                                 Probe("/api/cases/{other_case}", api_read(**IN_HEPINGYUAN))],
    ("POST", "/api/cases/{no}/actions"): [
        # no note: an allowed caller gets 400 "请填写进展内容", after the permission
        Probe("/api/cases/{case}/actions", api_act(each(wu=HIDDEN), CASE_READING),
              json={"action": "progress"}),
        Probe("/api/cases/{case}/actions", api_act(each(wu=HIDDEN, lina=FORBIDDEN),
                                                   CASE_READING),
              json={"action": "assign"}),  # 指派: leaders and staff only
        Probe("/api/cases/{other_case}/actions",
              api_act(each(**IN_HEPINGYUAN), each(FORBIDDEN, **IN_HEPINGYUAN)),
              json={"action": "progress"}),
    ],
    ("GET", "/api/stats"): [Probe("/api/stats", api_read())],
    ("GET", "/api/stats/export.{fmt}"): [Probe("/api/stats/export.xlsx", api_read()),
                                        Probe("/api/stats/export.csv", api_read())],
    ("GET", "/api/notices"): [Probe("/api/notices", api_read())],
    ("POST", "/api/notices"): [Probe("/api/notices", api_act(PUBLISH, each(FORBIDDEN)),
                                     json={})],
    ("GET", "/api/notices/{id}"): [Probe("/api/notices/{notice}", api_read(**IN_GRID_1)),
                                   Probe("/api/notices/{other_notice}",
                                         api_read(**IN_HEPINGYUAN))],
    ("DELETE", "/api/notices/{id}"): [
        # already cancelled: an allowed caller gets 409
        Probe("/api/notices/{cancelled}", api_act(each(FORBIDDEN, admin=OK, zhou=OK,
                                                       wu=HIDDEN), each(FORBIDDEN))),
        # a township-wide notice: a community's staff may read it, not take it back
        Probe("/api/notices/{township_cancelled}",
              api_act(each(FORBIDDEN, admin=OK), each(FORBIDDEN))),
    ],
    ("POST", "/api/notices/{id}/resend"): [
        Probe("/api/notices/{cancelled}/resend",
              api_act(each(FORBIDDEN, admin=OK, zhou=OK, wu=HIDDEN), each(FORBIDDEN)),
              json={"below": 1}),
    ],
    # what the bot gave up on: those who manage grids, and the township's read-only token
    ("GET", "/api/failures"): [Probe("/api/failures", lambda c: UNAUTHORISED if c.anonymous
                                     else FAILURE_READERS[c.account])],
    # the world holds no failures: an allowed caller gets the handler's 404 for the row
    ("POST", "/api/failures/messages/{id}/retry"): [
        Probe("/api/failures/messages/999999/retry", api_act(RETRY, each(FORBIDDEN)))],
    ("POST", "/api/failures/sends/{id}/retry"): [
        Probe("/api/failures/sends/999999/retry", api_act(RETRY, each(FORBIDDEN)))],
    ("GET", "/api/openapi.json"): [Probe("/api/openapi.json", public())],
    # the simulator stands in for WeChat itself, where anyone in a group may post
    ("GET", "/api/sim/rooms"): [Probe("/api/sim/rooms", public())],
    ("GET", "/api/sim/messages"): [Probe(f"/api/sim/messages?room={ROOM}", public())],
    ("POST", "/api/sim/messages"): [Probe("/api/sim/messages", public(), json={})],
    # --- Open311 ------------------------------------------------------------------------------
    ("GET", "/open311/v2/services.json"): [Probe("/open311/v2/services.json", tokens_only())],
    ("GET", "/open311/v2/requests.json"): [Probe("/open311/v2/requests.json", tokens_only())],
    ("GET", "/open311/v2/requests/{id}.json"): [
        Probe("/open311/v2/requests/{case}.json", tokens_only(**IN_GRID_1)),
        Probe("/open311/v2/requests/{other_case}.json", tokens_only(**IN_HEPINGYUAN))],
    # --- dashboard pages and forms ------------------------------------------------------------
    ("GET", "/login"): [Probe("/login", public())],
    ("POST", "/login"): [Probe("/login", lambda c: FORBIDDEN if not c.cookie else OK,
                               form={"username": "", "password": ""})],
    ("POST", "/logout"): [Probe("/logout", page_post(), form={}, fresh=True)],
    ("GET", "/"): [Probe("/", page_get())],
    ("GET", "/cases"): [Probe("/cases", page_get())],
    ("GET", "/cases/{no}"): [Probe("/cases/{case}", page_get(**IN_GRID_1)),
                             Probe("/cases/{other_case}", page_get(**IN_HEPINGYUAN))],
    ("POST", "/cases/{no}/act"): [
        Probe("/cases/{case}/act", page_post(**IN_GRID_1), form={"action": "progress"}),
        Probe("/cases/{case}/act", page_post(**IN_GRID_1, lina=FORBIDDEN),
              form={"action": "assign"}),
        Probe("/cases/{other_case}/act", page_post(**IN_HEPINGYUAN),
              form={"action": "progress"}),
    ],
    ("GET", "/failures"): [Probe("/failures", page_get(**NOT_MANAGERS))],
    ("POST", "/failures/messages/{id}/retry"): [
        Probe("/failures/messages/999999/retry", page_post(**NOT_MANAGERS), form={})],
    ("POST", "/failures/sends/{id}/retry"): [
        Probe("/failures/sends/999999/retry", page_post(**NOT_MANAGERS), form={})],
    ("GET", "/figures"): [Probe("/figures", page_get())],
    ("GET", "/notices"): [Probe("/notices", page_get())],
    ("POST", "/notices"): [Probe("/notices", page_post(**NOT_MANAGERS), form={"title": ""})],
    ("POST", "/notices/preview"): [Probe("/notices/preview", page_post(**NOT_MANAGERS),
                                         form={"title": ""})],
    ("GET", "/notices/{id}"): [Probe("/notices/{notice}", page_get(**IN_GRID_1)),
                               Probe("/notices/{other_notice}", page_get(**IN_HEPINGYUAN))],
    ("POST", "/notices/{id}/cancel"): [
        Probe("/notices/{cancelled}/cancel", page_post(**NOT_MANAGERS, wu=HIDDEN), form={}),
        Probe("/notices/{township_cancelled}/cancel",
              page_post(FORBIDDEN, admin=OK), form={}),
    ],
    ("POST", "/notices/{id}/resend"): [
        Probe("/notices/{cancelled}/resend", page_post(**NOT_MANAGERS, wu=HIDDEN),
              form={"below": "1"}),
    ],
    ("GET", "/admin"): [Probe("/admin", page_get(**NOT_MANAGERS))],
    # existing names: the township admin is told they exist; the rest are refused first
    ("POST", "/admin/streets"): [Probe("/admin/streets", page_post(FORBIDDEN, admin=OK),
                                       form={"name": "幸福街道"})],
    ("POST", "/admin/communities"): [
        Probe("/admin/communities", page_post(FORBIDDEN, admin=OK),
              form={"street_id": "{street}", "name": "幸福里社区"})],
    ("POST", "/admin/grids"): [
        Probe("/admin/grids", page_post(**NOT_MANAGERS, zhou=FORBIDDEN),
              form={"community_id": "{hepingyuan}", "name": "和平苑网格"})],
    # binding a group again where it is, and registering a worker again as they are
    ("POST", "/admin/groups"): [
        Probe("/admin/groups", page_post(**NOT_MANAGERS, zhou=FORBIDDEN),
              form={"room_id": OTHER_ROOM, "target": "grid:{other_grid}"})],
    ("POST", "/admin/people"): [
        Probe("/admin/people", page_post(**NOT_MANAGERS, zhou=FORBIDDEN),
              form={"contact_id": "陈静", "name": "陈静", "role": "grid_worker",
                    "grid_id": "{other_grid}"})],
    ("POST", "/admin/import"): [Probe("/admin/import", page_post(**NOT_MANAGERS), form={})],
    # --- the simulator page, static files, operations -------------------------------------------
    ("GET", "/sim"): [Probe("/sim", public())],
    ("GET", "/static"): [Probe("/static/sim.js", public())],
    ("GET", "/healthz"): [Probe("/healthz", public())],
    ("GET", "/readyz"): [Probe("/readyz", public())],
    ("GET", "/metrics"): [Probe("/metrics", public())],
}


def served_routes(w: World) -> set[tuple[str, str]]:
    found = set()
    for route in w.bot.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        if route.method != "HEAD":
            found.add((route.method, re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)))
    return found


async def test_every_route_is_in_the_matrix(world: World) -> None:
    served = served_routes(world)
    assert len(served) > 40
    assert served <= set(ROUTES), f"routes without a line in ROUTES: {served - set(ROUTES)}"
    assert set(ROUTES) <= served, f"lines for routes not served: {set(ROUTES) - served}"


def _fill(template: str, w: World) -> str:
    return template.format(**w.ids)


@pytest.mark.parametrize("route", list(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_each_caller_gets_the_right_answer(world: World, route: tuple[str, str]) -> None:
    method = route[0]
    wrong = []
    for probe in ROUTES[route]:
        path = _fill(probe.path, world)
        form = {k: _fill(v, world) for k, v in probe.form.items()} \
            if probe.form is not None else None
        for caller in CALLERS:
            resp = await call(world, caller, method, path, json=probe.json, form=form,
                              fresh=probe.fresh)
            got, want = outcome(resp), probe.expect(caller)
            if got != want:
                wrong.append(f"{method} {path} {probe.json or probe.form or ''} as {caller}: "
                             f"{resp.status} ({got}), expected {want}: {(await resp.text())[:160]}")
    assert not wrong, "\n".join(wrong)


async def test_refusals_are_worded_for_people(world: World) -> None:
    """The refusals the matrix counts are explanations, not bare status codes: JSON with a
    Chinese sentence on the API, a page on the dashboard."""
    c = world.ids["case"]
    lina = Caller("token", "lina", write=True)
    resp = await call(world, lina, "POST", f"/api/cases/{c}/actions", json={"action": "assign"})
    assert resp.status == 403 and refusal("leader") in (await resp.json())["error"]
    resp = await call(world, Caller("token", "admin"), "POST", f"/api/cases/{c}/actions",
                      json={"action": "progress", "note": "x"})
    assert resp.status == 403 and "只能读取" in (await resp.json())["error"]
    resp = await call(world, Caller("bad token"), "GET", "/api/cases")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await call(world, Caller("session", "lina"), "GET", "/admin")
    assert "网格与人员由街道" in await resp.text()
    resp = await call(world, Caller("session", "zhou"), "DELETE",
                      f"/api/notices/{world.ids['township_cancelled']}")
    assert "范围" in (await resp.json())["error"]


async def test_community_staff_cannot_take_back_a_township_notice(world: World) -> None:
    """The hole the matrix found: 周主任 could cancel the township's notice to every community
    (API and page), taking back the copies queued for 和平苑 too."""
    notice_id = await _publish(world, "admin", {"all": True})
    zhou = Caller("session", "zhou")
    for caller, method, path in ((Caller("token", "zhou", write=True), "DELETE",
                                  f"/api/notices/{notice_id}"),
                                 (zhou, "DELETE", f"/api/notices/{notice_id}"),
                                 (zhou, "POST", f"/notices/{notice_id}/cancel")):
        resp = await call(world, caller, method, path, form={} if method == "POST" else None)
        assert resp.status == 403, (caller, method, await resp.text())
        assert "和平苑" in await resp.text()
    detail = await (await call(world, Caller("token", "admin"), "GET",
                               f"/api/notices/{notice_id}")).json()
    assert detail["status"] == "scheduled" and detail["cancelled_at"] is None
    own = await _publish(world, "zhou", {"communities": ["幸福里社区"]})
    resp = await call(world, zhou, "DELETE", f"/api/notices/{own}")
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"


# --- chat commands --------------------------------------------------------------------------------

#: the people of 幸福里第一网格 (the case's grid) and of 幸福里第二网格 (another grid); the staff
#: of its community (幸福里社区), of the other community (和平苑社区), of the street, and a staff
#: person registered before staff had a community (no community, no account: refused)
PEOPLE = {"reporter": "王芳", "resident": "刘大爷", "worker": "李娜", "other_worker": "王磊",
          "leader": "张强", "other_leader": "赵敏", "staff": "周主任", "other_staff": "吴主任",
          "township": "孙丽", "unset_staff": "钱干事"}
WORKING = frozenset({"worker", "leader", "staff", "township"})
STAFF_ALL = frozenset({"worker", "other_worker", "leader", "other_leader", "staff",
                       "other_staff", "township"})
EVERYONE = frozenset(PEOPLE)


@dataclass(frozen=True)
class Command:
    text: str  # {n}: the case; {m}: a second case of the same grid
    allowed: frozenset[str]
    refused_with: str | None  # the reason the wrong roles read
    in_group: bool = False  # said in the case's group rather than privately
    per_role: Mapping[str, str] = field(default_factory=dict)  # an allowed role refused anyway


def _reason(key: str) -> str:
    return refusal(key)


#: staff are refused outside their community, and everywhere until their community is set
OUTSIDE = {"other_staff": _reason("staff_other_community"),
           "unset_staff": _reason("staff_no_community")}
UNSET = {"unset_staff": _reason("staff_no_community")}


COMMANDS: dict[str, Command] = {
    "accept": Command("接单 #{n}", WORKING, _reason("worker"), per_role=OUTSIDE),
    "progress": Command("进度 #{n} 已联系物业，明天上午来修", WORKING, _reason("worker"),
                        per_role=OUTSIDE),
    "dispatch": Command("转办 #{n} 物业公司 请尽快处理", WORKING, _reason("worker"),
                        per_role=OUTSIDE),
    "resolve": Command("办结 #{n} 已更换灯泡", WORKING, _reason("worker"), per_role=OUTSIDE),
    "reject": Command("退回 #{n} 不属于社区职责范围", WORKING, _reason("worker"), per_role=OUTSIDE),
    "merge": Command("合并 #{n} #{m}", WORKING, _reason("worker"), per_role=OUTSIDE),
    "recategorize": Command("改类 #{n} 安全隐患", WORKING, _reason("worker"), per_role=OUTSIDE),
    "dismiss": Command("不是工单 #{n}", WORKING, _reason("worker"), per_role=OUTSIDE),
    "assign": Command("指派 #{n} @李娜", frozenset({"leader", "staff", "township"}),
                      _reason("leader"), per_role=OUTSIDE),
    "show": Command("查 #{n}", WORKING | {"reporter"}, _reason("viewer"), per_role=OUTSIDE),
    "query": Command("查询 #{n}", WORKING | {"reporter"}, _reason("viewer"), per_role=OUTSIDE),
    "urge": Command("催办 #{n}", frozenset({"reporter"}), _reason("reporter")),
    "rate": Command("评价 #{n} 满意", frozenset({"reporter"}), "需要由反映问题的居民本人评价"),
    "todo": Command("待办", STAFF_ALL, _reason("todo_staff_only"), per_role=UNSET),
    "mine": Command("我的工单", EVERYONE, None),
    "help": Command("帮助", EVERYONE, None),
    "bind": Command("绑定网格 幸福里第一网格", frozenset({"leader", "staff", "township"}),
                    _reason("binder"), in_group=True,
                    per_role={"other_leader": _reason("leader_own_grid"),
                              "other_staff": _reason("staff_grid_elsewhere"), **UNSET}),
    # to the whole community: 和平苑's staff may publish, but not to 幸福里's groups
    "publish": Command("发布通知 幸福里社区 停水通知\n明天8:00-17:00停水，请提前储水。",
                       frozenset({"staff", "township"}), _reason("publisher"),
                       per_role={"other_staff": "只能向您负责的网格的群发布通知", **UNSET}),
    "confirm_publish": Command("确认发布", frozenset({"staff", "other_staff", "township"}),
                               _reason("publisher"), per_role=UNSET),
    "cancel_publish": Command("取消发布", frozenset({"staff", "other_staff", "township"}),
                              _reason("publisher"), per_role=UNSET),
}
#: every reason a refusal can give, to check an allowed command got none of them
ALL_REASONS = sorted({c.refused_with for c in COMMANDS.values() if c.refused_with}
                     | {r for c in COMMANDS.values() for r in c.per_role.values()})
#: tables a refused command must leave alone (the message itself and the answer are logged in
#: inbound_messages and outbox; people.account only notes which bot account they wrote to)
UNTOUCHED = ("streets", "communities", "grids", "chat_groups", "people", "cases",
             "case_supporters", "case_events", "counters", "corrections", "notices",
             "notice_runs", "notice_deliveries", "notice_receipts", "staff_accounts")


async def test_every_command_word_is_in_the_matrix() -> None:
    from handlers.commands.parser import SPECS

    assert {s.name for s in SPECS} == set(COMMANDS)


@dataclass
class Chat:
    bot: Harness
    case: int  # 幸福里第一网格, reported by 王芳, left as reported by every refused command
    second: int  # another of the grid's cases, by 刘大爷

    async def fresh_case(self, sender: str = "王芳") -> int:
        """A new case of 幸福里第一网格; the clock moves past the duplicate windows first, so
        the same resident's report is not joined to the last one."""
        assert self.bot.clock is not None
        self.bot.clock.advance(days=3)
        return await report(self.bot, sender=sender)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chat(module_stores: Callable[[], str], classifier: Any) -> AsyncIterator[Chat]:
    # a world of its own: the allowed commands change it
    async with running_gridbot(module_stores(), classifier,
                               limits=LimitsSettings(messages_per_minute=100_000)) as bot:
        with session_scope(bot.runtime.engine) as session:  # a row from before 0008
            session.add(Person(contact_id="钱干事", name="钱干事", role=Role.STAFF))
        first = await report(bot)
        second = await report(bot, "小区门口的井盖松了，一踩就晃", sender="刘大爷")
        yield Chat(bot, first, second)


def snapshot(bot: Harness) -> dict[str, list[tuple[Any, ...]]]:
    engine = bot.runtime.engine
    assert engine is not None
    meta = sa.MetaData()
    meta.reflect(engine, only=UNTOUCHED)
    out = {}
    with engine.connect() as conn:
        for name in UNTOUCHED:
            table = meta.tables[name]
            columns = [c for c in table.columns if not (name == "people" and c.name == "account")]
            rows = conn.execute(sa.select(*columns).order_by(*table.primary_key.columns))
            out[name] = [tuple(r) for r in rows]
    return out


async def command(chat: Chat, role: str, spec: Command, n: int, m: int) -> list[str]:
    """Say the command as ``role``; the answers they got (in the group: the bot's messages)."""
    person = PEOPLE[role]
    text = spec.text.format(n=n, m=m)
    if spec.in_group:
        return await say(chat.bot, person, text, room=ROOM)
    return await say(chat.bot, person, text, room=None)


REFUSED = [(name, role) for name, spec in COMMANDS.items() for role in PEOPLE
           if role not in spec.allowed or role in spec.per_role]
ALLOWED = [(name, role) for name, spec in COMMANDS.items() for role in sorted(spec.allowed)
           if role not in spec.per_role]


@pytest.mark.parametrize(("name", "role"), REFUSED, ids=[f"{n}-{r}" for n, r in REFUSED])
async def test_the_wrong_role_is_refused_politely_and_nothing_changes(
        chat: Chat, name: str, role: str) -> None:
    spec = COMMANDS[name]
    before = snapshot(chat.bot)
    answers = await command(chat, role, spec, chat.case, chat.second)
    reason = spec.per_role.get(role, spec.refused_with)
    assert reason is not None
    mine = [a for a in answers if a.startswith(f"@{PEOPLE[role]}")] if spec.in_group else answers
    assert len(mine) == 1 and reason in mine[0], answers
    assert snapshot(chat.bot) == before


@pytest.mark.parametrize(("name", "role"), ALLOWED, ids=[f"{n}-{r}" for n, r in ALLOWED])
async def test_the_right_role_is_not_refused(chat: Chat, name: str, role: str) -> None:
    spec = COMMANDS[name]
    n = await chat.fresh_case()
    m = await chat.fresh_case(sender="陈阿姨") if name == "merge" else chat.second
    if name == "rate":  # a case waiting for its reporter's rating
        await say(chat.bot, "李娜", f"办结 #{n} 已处理", room=None)
    before = snapshot(chat.bot)
    answers = await command(chat, role, spec, n, m)
    assert answers, "no answer at all"
    assert not [a for a in answers for reason in ALL_REASONS if reason in a], answers
    assert "需要由反映问题的居民本人评价" not in "".join(answers)
    changes = name not in ("show", "query", "todo", "mine", "help", "bind", "cancel_publish",
                           "confirm_publish")
    if changes:  # the step was taken (or the draft stored)
        assert snapshot(chat.bot) != before, answers


@pytest.mark.parametrize("room", ["xingfuli-staff@chatroom", "xingfuli-2@chatroom"])
async def test_a_leader_cannot_take_another_grids_group_or_the_staff_group(
        chat: Chat, room: str) -> None:
    """张强 leads 幸福里第一网格: saying 绑定网格 in the community's working group or in the
    second grid's group would take that group away from them (escalations and the second
    grid's residents would land in his grid)."""
    before = snapshot(chat.bot)
    answers = await say(chat.bot, "张强", "绑定网格 幸福里第一网格", room=room)
    assert any(_reason("leader_taken_group") in a for a in answers), answers
    assert snapshot(chat.bot) == before


# --- the holes of the second round: staff's community, 指派 across grids, 取消发送 ---------------


async def test_staff_act_only_in_their_community_by_chat_as_on_the_dashboard(
        world: World) -> None:
    """吴主任 (和平苑社区) could 接单 / 办结 a 幸福里 case and 绑定网格 any group by chat while
    the dashboard hid the case from wu. Now chat and dashboard answer alike."""
    bot = world.bot
    n = await report(bot, "5号楼门口的路灯不亮了", sender="陈阿姨")
    before = snapshot(bot)
    for text in (f"接单 #{n}", f"办结 #{n} 已处理", f"指派 #{n} @李娜"):
        [answer] = await say(bot, "吴主任", text, room=None)
        assert _reason("staff_other_community") in answer, answer
    answers = await say(bot, "吴主任", "绑定网格 和平苑网格", room=ROOM)
    assert any(_reason("staff_taken_group") in a for a in answers), answers
    answers = await say(bot, "吴主任", "绑定网格 幸福里第一网格", room=ROOM)
    assert any(_reason("staff_grid_elsewhere") in a for a in answers), answers
    assert snapshot(bot) == before
    resp = await call(world, Caller("token", "wu", write=True), "POST",
                      f"/api/cases/{n}/actions", json={"action": "accept"})
    assert resp.status == 404  # the same case, outside wu's scope on the dashboard
    [done] = await say(bot, "周主任", f"接单 #{n}", room=None)  # the case's own community
    assert "接单" in done and _reason("staff_other_community") not in done


async def test_assigning_stays_within_the_cases_grid(world: World) -> None:
    """指派 looked a name up anywhere: 陈静 of 和平苑 or 王磊 of the second grid could be given
    a case of 幸福里第一网格, by chat or on the dashboard. Now the refusal names who can be."""
    bot = world.bot
    n = await report(bot, "3号楼电梯按钮失灵了", sender="刘大爷")
    before = snapshot(bot)
    for name in ("陈静", "王磊"):  # another community's worker; the same community, other grid
        [answer] = await say(bot, "张强", f"指派 #{n} @{name}", room=None)
        assert f"{name}不是幸福里第一网格的网格员或网格长" in answer and "李娜" in answer, answer
        [answer] = await say(bot, "周主任", f"指派 #{n} @{name}", room=None)
        assert f"{name}不是幸福里第一网格" in answer, answer
    with session_scope(bot.runtime.engine) as session:
        chenjing = session.exec(sa.select(Person.id).where(Person.name == "陈静")
                                ).scalars().one()
    for caller in (Caller("token", "zhou", write=True), Caller("session", "zhangqiang")):
        for ref in ("陈静", str(chenjing)):
            resp = await call(world, caller, "POST", f"/api/cases/{n}/actions",
                              json={"action": "assign", "assignee": ref})
            body = await resp.json()
            assert resp.status == 422 and body["code"] == "assignee_elsewhere", body
    resp = await call(world, Caller("session", "zhangqiang"), "POST", f"/cases/{n}/act",
                      form={"action": "assign", "assignee": str(chenjing)})
    assert resp.status == 422 and "陈静不是幸福里第一网格" in await resp.text()
    assert snapshot(bot) == before
    [answer] = await say(bot, "张强", f"指派 #{n} @李娜", room=None)
    assert "指派" in answer and "不是" not in answer, answer


async def test_assigning_a_name_two_of_the_grid_share_asks_to_choose(
        store_url: str, classifier: Any) -> None:
    async with running_gridbot(store_url, classifier) as bot:
        with session_scope(bot.runtime.engine) as session:
            grid = session.exec(sa.select(Grid).where(Grid.name == "幸福里第一网格")
                                ).scalars().one()
            for contact in ("wangjun-1", "wangjun-2"):
                session.add(Person(contact_id=contact, name="王军", role=Role.GRID_WORKER,
                                   grid_id=grid.id))
        n = await report(bot)
        before = snapshot(bot)
        [answer] = await say(bot, "张强", f"指派 #{n} @王军", room=None)
        assert "有 2 位叫“王军”的人员" in answer, answer
        [answer] = await say(bot, "张强", f"指派 #{n} @没这个人", room=None)
        assert "没有找到名为“没这个人”" in answer and "李娜" in answer, answer
        assert snapshot(bot) == before


async def test_the_notice_page_offers_cancel_only_to_who_may(world: World) -> None:
    """周主任 saw 取消发送 on the township's notice and got a 403 for pressing it: the button
    follows the rule cancel_notice enforces."""
    township = await _publish(world, "admin", {"all": True})
    own = await _publish(world, "zhou", {"communities": ["幸福里社区"]})
    button = 'action="/notices/{}/cancel"'
    for name, notice_id, shown in (("zhou", township, False), ("admin", township, True),
                                   ("zhou", own, True), ("wu", township, False),
                                   ("lina", own, False)):
        html = await world.sessions[name].page(f"/notices/{notice_id}")
        assert (button.format(notice_id) in html) is shown, (name, notice_id)
        assert ("取消发送" in html) is shown, (name, notice_id)
