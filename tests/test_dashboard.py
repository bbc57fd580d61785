"""The dashboard over HTTP, as a browser uses it (cookies, forms with CSRF tokens), against a
running gridbot with the simulator: login, the ledger, the case page and its actions relayed to
the group, role scoping, the JSON API behind the same login, and the figures."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.config import WebSettings
from bot.web.viewer import SessionCodec
from tests.auxil.chat import ROOM, report, say
from tests.auxil.dashboard import Browsers, WebUser, add_account, token_for, with_accounts
from tests.conftest import Harness

OTHER_ROOM = "hepingyuan@chatroom"  # 和平苑社区


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return with_accounts(await start_gridbot(store_url))


@pytest.fixture
async def admin(web: Browsers) -> WebUser:
    return await web.logged_in("admin")


# --- login and sessions -------------------------------------------------------------------------


async def test_pages_need_a_login(bot: Harness, web: Browsers) -> None:
    user = web.new()
    for path in ("/cases", "/cases/1", "/figures", "/admin", "/"):
        resp = await user.get(path)
        assert resp.status == 303
        assert resp.headers["Location"].startswith(("/login", "/cases"))
    html = await user.page("/login")
    assert "登录管理后台" in html and 'name="csrf"' in html


async def test_login_sets_a_signed_httponly_cookie_and_returns_to_the_page(
        bot: Harness, web: Browsers) -> None:
    user = web.new()
    await user.page("/login?next=/figures")
    resp = await user.post("/login", {"username": "admin", "password": "correct horse 1",
                                      "next": "/figures"})
    assert resp.status == 303 and resp.headers["Location"] == "/figures"
    cookie = resp.headers["Set-Cookie"]
    assert "gridbot_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "admin" in await user.page("/figures")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
async def test_login_never_redirects_off_site(bot: Harness, target: str, web: Browsers) -> None:
    user = web.new()
    await user.page("/login")
    resp = await user.post("/login", {"username": "admin", "password": "correct horse 1",
                                      "next": target})
    assert resp.headers["Location"] == "/cases"


async def test_wrong_password_is_refused_politely(bot: Harness, web: Browsers) -> None:
    user = web.new()
    await user.page("/login")
    resp = await user.post("/login", {"username": "admin", "password": "nope nope"})
    assert resp.status == 401 and "用户名或密码不正确" in await resp.text()
    assert (await user.get("/cases")).status == 303


async def test_lockout_after_five_failures_then_the_clock_frees_it(
        bot: Harness, web: Browsers) -> None:
    user = web.new()
    await user.page("/login")
    for _ in range(5):
        assert (await user.post("/login", {"username": "admin", "password": "x"})).status == 401
    resp = await user.post("/login", {"username": "admin", "password": "correct horse 1"})
    assert resp.status == 429 and "15 分钟后再试" in await resp.text()
    bot.clock.advance(minutes=16)
    resp = await user.post("/login", {"username": "admin", "password": "correct horse 1"})
    assert resp.status == 303


async def test_forms_without_the_csrf_token_are_refused(
        bot: Harness, admin: WebUser, web: Browsers) -> None:
    no = await report(bot)
    for data in ({"action": "accept"}, {"action": "accept", "csrf": "forged"}):
        resp = await admin.post(f"/cases/{no}/act", data, csrf=False)
        assert resp.status == 403 and "页面已过期" in await resp.text()
    login = web.new()
    await login.page("/login")
    resp = await login.post("/login", {"username": "admin", "password": "correct horse 1"},
                            csrf=False)
    assert resp.status == 403
    assert (await admin.json(f"/api/cases/{no}"))["status"] == "reported"


async def test_a_tampered_cookie_is_a_logged_out_visitor(
        bot: Harness, admin: WebUser, web: Browsers) -> None:
    [cookie] = [c for c in admin.http.cookie_jar if c.key == "gridbot_session"]
    body, sig = cookie.value.split(".")
    forged = web.new()
    forged.http.cookie_jar.update_cookies({"gridbot_session": body + "x." + sig},
                                          response_url=forged.base)
    assert (await forged.get("/cases")).status == 303


async def test_sessions_expire_and_logout_ends_them(
        bot: Harness, admin: WebUser, web: Browsers) -> None:
    await admin.page("/cases")
    resp = await admin.post("/logout", {})
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert (await admin.get("/cases")).status == 303
    user = await web.logged_in("admin")
    bot.clock.advance(hours=13)  # [web] session_hours = 12
    assert (await user.get("/cases")).status == 303


# --- the ledger and role scoping ----------------------------------------------------------------


async def test_ledger_lists_cases_from_the_simulator_with_counts(bot: Harness,
                                                                 admin: WebUser) -> None:
    no = await report(bot)
    other = await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    html = await admin.page("/cases")
    assert f"#{no}" in html and f"#{other}" in html and "3号楼2单元楼道灯坏了" in html
    assert re.search(r"<b>2</b><span>全部</span>", html)
    html = await admin.page("/cases?category=noise")
    assert f"#{other}" in html and f'href="/cases/{no}"' not in html
    html = await admin.page("/cases?q=广场舞")
    assert f'href="/cases/{other}"' in html and f'href="/cases/{no}"' not in html


async def test_overdue_cases_are_highlighted_and_filterable(bot: Harness, admin: WebUser) -> None:
    no = await report(bot)
    bot.clock.advance(hours=3)  # past the two working hours to accept
    fresh = await report(bot, "5号楼楼道灯不亮了", sender="刘大爷")
    html = await admin.page("/cases")
    assert re.search(rf'<tr class="overdue" data-no="{no}">', html)
    assert re.search(rf'<tr class="" data-no="{fresh}">', html)
    rows = await admin.json("/api/cases?overdue=true")
    assert [c["no"] for c in rows] == [no] and rows[0]["overdue"] is True


async def test_bad_filters_are_explained(bot: Harness, admin: WebUser) -> None:
    html = await admin.page("/cases?status=finished", status=400)
    assert "未知的状态" in html
    resp = await admin.get("/api/cases?from=2026-13-01")
    assert resp.status == 400 and "日期" in (await resp.json())["error"]


async def test_a_community_sees_only_its_own_grids(bot: Harness, web: Browsers) -> None:
    mine = await report(bot)
    theirs = await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    zhou = await web.logged_in("zhou")
    html = await zhou.page("/cases")
    assert f'href="/cases/{mine}"' in html and f'href="/cases/{theirs}"' not in html
    assert "和平苑" not in html
    missing = await zhou.page(f"/cases/{theirs}", status=404)
    assert "不在您负责的范围内" in missing
    assert [c["no"] for c in await zhou.json("/api/cases")] == [mine]
    assert (await zhou.get(f"/api/cases/{theirs}")).status == 404
    assert (await zhou.get("/api/cases?grid=和平苑网格")).status == 400
    stats = await zhou.json("/api/stats")
    assert {g["grid"] for g in stats["grids"]} == {"幸福里第一网格", "幸福里第二网格"}


async def test_a_grid_worker_sees_their_grid(bot: Harness, web: Browsers) -> None:
    mine = await report(bot)
    other = await report(bot, "7号楼楼道里堆满了杂物", "孙浩", "xingfuli-2@chatroom")
    lina = await web.logged_in("lina")
    assert [c["no"] for c in await lina.json("/api/cases")] == [mine]
    assert (await lina.get(f"/api/cases/{other}")).status == 404
    assert (await lina.get("/admin")).status == 403


# --- the case page and its actions --------------------------------------------------------------


async def test_case_page_shows_words_decision_and_timeline(bot: Harness, admin: WebUser) -> None:
    no = await report(bot)
    await bot.post(ROOM, "王芳", "[图片]", kind="image")
    await bot.settle()
    html = await admin.page(f"/cases/{no}")
    assert "3号楼2单元楼道灯坏了好几天了" in html and "原始消息" in html
    assert "居民发来一张照片" in html
    assert "自动分类的依据" in html and "楼道灯" in html and "关键词" in html
    assert "办理经过" in html and "登记" in html
    for action in ("接单", "指派", "转办", "办结", "退回", "合并", "改类"):
        assert f"<summary>{action}</summary>" in html


async def test_accept_and_resolve_from_the_page_relay_to_the_group(
        bot: Harness, web: Browsers) -> None:
    no = await report(bot)
    lina = await web.logged_in("lina")
    await lina.page(f"/cases/{no}")
    resp = await lina.post(f"/cases/{no}/act", {"action": "accept"})
    assert resp.status == 303 and resp.headers["Location"] == f"/cases/{no}"
    html = await lina.page(f"/cases/{no}")
    assert f"已接单 #{no}" in html and "群里已同步" in html
    await bot.settle()
    relays = [m["text"] for m in await bot.bot_replies(room=ROOM)]
    assert relays[-1].startswith("@王芳") and "李娜受理" in relays[-1]

    resp = await lina.post(f"/cases/{no}/act", {"action": "resolve", "note": "已更换灯泡"})
    assert resp.status == 303
    await bot.settle()
    last = (await bot.bot_replies(room=ROOM))[-1]["text"]
    assert "已更换灯泡" in last and "满意" in last
    case = await lina.json(f"/api/cases/{no}")
    assert case["status"] == "resolved" and case["assignee"] == "李娜"
    assert [e["actor"] for e in case["events"]][1:] == ["李娜", "李娜"]
    # and the resident answers in chat as always
    [thanks] = await say(bot, "王芳", "满意")
    assert "已结案" in thanks


async def test_the_same_refusals_as_in_chat(bot: Harness, admin: WebUser) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"接单 #{no}")
    resp = await admin.post(f"/cases/{no}/act", {"action": "accept"})
    assert resp.status == 409 and "目前处理中，不能接单" in await resp.text()
    resp = await admin.post(f"/cases/{no}/act", {"action": "resolve", "note": ""})
    assert resp.status == 400 and "请填写办理结果" in await resp.text()
    resp = await admin.post(f"/cases/{no}/act", {"action": "merge", "into": str(no)})
    assert resp.status == 409 and "不能把" in await resp.text()


async def test_a_worker_cannot_act_in_another_grid(bot: Harness, web: Browsers) -> None:
    # 王磊 works in 幸福里第二网格: his account must not reach 幸福里第一网格's cases
    from handlers.accounts import create_account
    from storage.db import session_scope

    with session_scope(bot.runtime.engine) as session:
        create_account(session, username="wanglei", password="correct horse 1",
                       role="grid_worker", grid="幸福里第二网格", contact="王磊")
    no = await report(bot)
    wanglei = await web.logged_in("wanglei")
    resp = await wanglei.post(f"/cases/{no}/act", {"action": "accept"})
    assert resp.status == 404


async def test_assign_merge_and_recategorise(bot: Harness, admin: WebUser) -> None:
    first = await report(bot, "3号楼门口路灯不亮了")
    second = await report(bot, "北门那段路灯全不亮了", sender="刘大爷")
    html = await admin.page(f"/cases/{first}")
    lina_id = re.search(r'<option value="(\d+)">李娜（网格员）</option>', html)[1]
    assert (await admin.post(f"/cases/{first}/act", {"action": "assign",
                                                      "assignee": lina_id})).status == 303
    assert (await admin.post(f"/cases/{second}/act", {"action": "merge",
                                                       "into": f"#{first}"})).status == 303
    assert (await admin.post(f"/cases/{first}/act", {"action": "recategorize",
                                                      "category": "safety"})).status == 303
    html = await admin.page(f"/cases/{first}")
    assert "从“市政设施”改为“安全隐患”" in html
    case = await admin.json(f"/api/cases/{first}")
    assert case["assignee"] == "李娜" and case["category"] == "safety"
    assert (await admin.json(f"/api/cases/{second}"))["merged_into"] == first


# --- the JSON API behind a login or a token -----------------------------------------------------


async def test_json_actions_need_the_csrf_header_with_a_cookie(bot: Harness,
                                                               admin: WebUser) -> None:
    no = await report(bot)
    resp = await admin.post(f"/api/cases/{no}/actions", json={"action": "accept"})
    assert resp.status == 403 and "error" in await resp.json()
    me = await admin.json("/api/me")
    resp = await admin.post(f"/api/cases/{no}/actions", json={"action": "accept"},
                            headers={"X-CSRF-Token": me["csrf"]})
    body = await resp.json()
    assert resp.status == 200 and body["case"]["status"] == "accepted"
    assert body["case"]["assignee"] == "admin"


async def test_tokens_read_within_their_account_and_write_only_with_write_scope(
        bot: Harness) -> None:
    no = await report(bot)
    theirs = await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    read = token_for(bot, "zhou")
    write = token_for(bot, "zhou", scope="write")
    township = token_for(bot, None)
    assert [c["no"] for c in await bot.api("/api/cases", read)] == [no]
    assert {c["no"] for c in await bot.api("/api/cases", township)} == {no, theirs}

    async def act(token: str, case: int) -> int:
        resp = await bot.client.post(f"/api/cases/{case}/actions", json={"action": "accept"},
                                     headers={"Authorization": f"Bearer {token}"})
        return resp.status

    assert await act(read, no) == 403
    assert await act(township, no) == 403
    assert await act(write, theirs) == 404
    assert await act(write, no) == 200
    await bot.settle()
    assert "周主任受理" in (await bot.bot_replies(room=ROOM))[-1]["text"]


async def test_stats_api_matches_the_figures_page(bot: Harness, admin: WebUser) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"接单 #{no}")
    await say(bot, "李娜", f"办结 #{no} 已修好")
    await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    stats = await admin.json("/api/stats?from=2026-11-23&to=2026-11-29")
    assert stats["total"]["new"] == 2 and stats["total"]["closure_rate"] == 0.5
    assert stats["period"] == {"from": "2026-11-23", "to": "2026-11-29",
                               "start": "2026-11-23T00:00:00+08:00",
                               "end": "2026-11-30T00:00:00+08:00"}
    ranked = [r["grid"] for r in stats["ranking"] if r["rank"]]
    assert ranked == ["幸福里第一网格", "和平苑网格"]
    html = await admin.page("/figures?from=2026-11-23&to=2026-11-29")
    assert "50.0%" in html and "办结率" in html and "排名" in html
    one = await admin.json("/api/stats?grid=和平苑网格&from=2026-11-23&to=2026-11-29")
    assert [g["grid"] for g in one["grids"]] == ["和平苑网格"]
    resp = await admin.get("/api/stats?from=2026-11-30&to=2026-11-01")
    assert resp.status == 400 and "开始日期不能晚于结束日期" in (await resp.json())["error"]


async def test_sim_is_linked_when_the_simulator_is_on(bot: Harness, admin: WebUser) -> None:
    assert 'href="/sim"' in await admin.page("/cases")
    assert (await admin.get("/sim")).status == 200


async def test_the_generated_key_outlives_a_restart(store_url: str, start_gridbot) -> None:

    first = await start_gridbot(store_url)
    add_account(first, "admin")
    browsers = Browsers(first)
    user = await browsers.logged_in("admin")
    [cookie] = [c.value for c in user.http.cookie_jar if c.key == "gridbot_session"]
    await first.runtime.stop()

    second = await start_gridbot(store_url)  # the same database, a new process
    again = Browsers(second)
    visitor = again.new()
    visitor.http.cookie_jar.update_cookies({"gridbot_session": cookie},
                                           response_url=visitor.base)
    assert "工单台账" in await visitor.page("/cases")
    await browsers.close()
    await again.close()


async def test_a_configured_secret_signs_the_sessions(store_url: str, start_gridbot) -> None:
    secret = "a-secret-for-this-test-with-32-chars-at-least"
    bot = await start_gridbot(store_url, web=WebSettings(secret=secret))
    add_account(bot, "admin")
    browsers = Browsers(bot)
    user = await browsers.logged_in("admin")
    [cookie] = [c.value for c in user.http.cookie_jar if c.key == "gridbot_session"]
    assert SessionCodec(secret, timedelta(hours=1)).decode(cookie, bot.clock()) is not None
    assert SessionCodec("another-secret-of-32-characters-x", timedelta(hours=1)).decode(
        cookie, bot.clock()) is None
    await browsers.close()


async def test_unknown_pages_say_so_in_chinese(admin: WebUser) -> None:
    html = await admin.page("/nowhere", status=404)
    assert "没有这个页面" in html
