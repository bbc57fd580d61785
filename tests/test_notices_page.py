"""The notices page over HTTP as a browser uses it (cookies and the form's CSRF token): who may
compose, the live preview's answers, refusals shown on the form, cancel and resend, and scoping."""

from __future__ import annotations

import re

import pytest

from tests.auxil.chat import ROOM, say
from tests.auxil.dashboard import with_accounts
from tests.conftest import Harness

FORM = {"title": "3号楼停水", "body": "{{ grid }}的居民朋友们：明天上午停水。", "scope": "all",
        "when": "now", "ask_receipt": "1"}


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return with_accounts(await start_gridbot(store_url))


async def test_publish_from_the_form_and_follow_it(bot: Harness, web) -> None:
    admin = await web.logged_in("admin")
    page = await admin.page("/notices")
    assert "发布通知" in page and "还没有发布过通知" in page
    preview = await admin.post("/notices/preview", FORM)
    answer = await preview.json()
    assert answer["groups"] == 3 and answer["text"].startswith("【3号楼停水】\n幸福里第一网格")
    resp = await admin.post("/notices", FORM)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert re.fullmatch(r"/notices/\d+", location)
    await bot.settle()
    await say(bot, "王芳", "收到")
    detail = await admin.page(location)
    assert "通知已发布" in detail and "送达 <b>3</b> / 3 个群" in detail and "王芳" in detail
    resp = await admin.post(location + "/resend", {"below": "1"})
    assert resp.status == 303
    assert "已补发到 2 个群" in await admin.page(location)


async def test_refusals_are_shown_on_the_form(bot: Harness, web) -> None:
    zhou = await web.logged_in("zhou")  # 幸福里社区's staff
    resp = await zhou.post("/notices", FORM)  # all groups: 和平苑 is not theirs
    text = await resp.text()
    assert resp.status == 400 and "不在范围内" in text and "3号楼停水" in text  # the form is kept
    answer = await (await zhou.post("/notices/preview", {**FORM, "body": "{{ gird }}",
                                                         "scope": "grids",
                                                         "grid": "幸福里第一网格"})).json()
    assert "不存在的变量" in answer["error"]
    resp = await zhou.post("/notices", {**FORM, "scope": "grids", "grid": "幸福里第一网格",
                                        "when": "at", "send_at": "2020-01-01T09:00"})
    assert resp.status == 400 and "已经过去了" in await resp.text()
    resp = await zhou.post("/notices", {**FORM, "scope": "communities",
                                        "community": "幸福里社区"})
    assert resp.status == 303


async def test_workers_read_but_do_not_compose_and_communities_stay_apart(bot: Harness,
                                                                          web) -> None:
    zhou = await web.logged_in("zhou")
    resp = await zhou.post("/notices", {**FORM, "scope": "grids", "grid": "幸福里第一网格",
                                        "when": "repeat", "repeat": "每周一 9:00"})
    assert resp.status == 303
    location = resp.headers["Location"]
    lina = await web.logged_in("lina")  # the grid it reaches
    page = await lina.page("/notices")
    assert "3号楼停水" in page and "发布通知" not in page
    assert (await lina.post("/notices", FORM)).status == 403
    assert (await lina.post(location + "/cancel", {})).status == 403
    wu = await web.logged_in("wu")  # 和平苑社区: not theirs
    assert "3号楼停水" not in await wu.page("/notices")
    assert (await wu.get(location)).status == 404
    assert (await wu.post(location + "/cancel", {})).status == 404
    resp = await zhou.post(location + "/cancel", {})
    assert resp.status == 303
    assert "通知已取消" in await zhou.page(location)
    assert (await zhou.post(location + "/cancel", {})).status == 409


async def test_the_form_needs_its_csrf_token(bot: Harness, web) -> None:
    admin = await web.logged_in("admin")
    resp = await admin.post("/notices", FORM, csrf=False)
    assert resp.status == 403
    assert await bot.bot_replies(room=ROOM) == []
