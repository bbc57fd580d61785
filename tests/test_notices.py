"""Notices: published through the API or from chat, delivered once to every target group at their
time (on a test clock), paced, counted back through receipts, cancelled, resent, caught up after a
restart — and refused with a clear sentence when something is wrong, before anything is sent."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlmodel import select

from bot.config import NoticesSettings, SendingSettings
from bot.transport.sim import SimTransport
from storage import queries
from storage.db import session_scope
from storage.models import Notice, OutboxMessage
from tests.auxil.chat import ROOM, STAFF_ROOM, say
from tests.auxil.dashboard import add_account
from tests.auxil.dashboard import token_for as account_token
from tests.auxil.world import add_grids
from tests.conftest import START, Clock, Harness

RESIDENT_ROOMS = ["xingfuli-1@chatroom", "xingfuli-2@chatroom", "hepingyuan@chatroom"]


def token_for(bot: Harness, username: str = "admin", scope: str = "write") -> str:
    """A token acting as a dashboard account (the township admin by default)."""
    assert bot.runtime.engine is not None
    with session_scope(bot.runtime.engine) as session:
        if queries.get_account(session, username=username) is None:
            session.commit()
            add_account(bot, username)
    return account_token(bot, username, scope=scope)


async def call(bot: Harness, method: str, path: str, token: str,
               body: Any = None) -> tuple[int, Any]:
    resp = await bot.client.request(method, path, json=body,
                                    headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.json()


async def publish(bot: Harness, token: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "停水通知", "body": "{{ grid }}的居民朋友们：明天上午停水，请提前储水。",
            "targets": {"all": True}, **fields}
    status, answer = await call(bot, "POST", "/api/notices", token, body)
    assert status == 201, answer
    return answer


async def get_detail(bot: Harness, token: str, notice_id: int) -> dict[str, Any]:
    status, body = await call(bot, "GET", f"/api/notices/{notice_id}", token)
    assert status == 200, body
    return body


async def sweep(bot: Harness) -> None:
    """What the scheduler does at the test clock's time, then let the sender finish."""
    await bot.settle()
    await bot.runtime.run_notices()
    await bot.settle()


async def notice_copies(bot: Harness, room: str, title: str = "停水通知") -> list[str]:
    return [m["text"] for m in await bot.bot_replies(room=room) if f"【{title}】" in m["text"]]


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return await start_gridbot(store_url)


async def test_a_notice_for_later_reaches_every_group_once_and_not_before_its_time(
        db_url: str, start_gridbot) -> None:
    bot = await start_gridbot(db_url)  # on SQLite and on PostgreSQL
    token = token_for(bot)
    at = START + timedelta(hours=1)
    created = await publish(bot, token, send_at=at.isoformat())
    assert created["status"] == "scheduled" and created["progress"]["total"] == 0

    bot.clock.advance(minutes=59)
    await sweep(bot)
    for room in RESIDENT_ROOMS:
        assert await notice_copies(bot, room) == []

    bot.clock.advance(minutes=1)
    await sweep(bot)
    bot.clock.advance(hours=2)
    await sweep(bot)
    grids = {"xingfuli-1@chatroom": "幸福里第一网格", "xingfuli-2@chatroom": "幸福里第二网格",
             "hepingyuan@chatroom": "和平苑网格"}
    for room, grid in grids.items():
        [copy] = await notice_copies(bot, room)
        assert copy.startswith("【停水通知】\n" + grid + "的居民朋友们") and "回复“收到”" in copy
    assert await bot.bot_replies(room=STAFF_ROOM) == []  # staff groups are not residents

    detail = await get_detail(bot, token, created["id"])
    assert detail["status"] == "sent"
    assert detail["progress"] == {"total": 3, "sent": 3, "pending": 0, "failed": 0,
                                  "cancelled": 0}
    assert sorted(d["room"] for d in detail["deliveries"]) == sorted(RESIDENT_ROOMS)
    assert all(d["status"] == "sent" and d["sent_at"] for d in detail["deliveries"])
    assert [r["status"] for r in detail["runs"]] == ["sent"]


@pytest.mark.parametrize(("targets", "reached"), [
    ({"communities": ["和平苑社区"]}, ["hepingyuan@chatroom"]),
    ({"grids": ["幸福里第二网格", "和平苑网格"]}, ["xingfuli-2@chatroom", "hepingyuan@chatroom"]),
    ({"tags": ["老旧小区"]}, ["xingfuli-1@chatroom"]),
])
async def test_targets_choose_the_groups(bot: Harness, targets: dict[str, Any],
                                         reached: list[str]) -> None:
    token = token_for(bot)
    created = await publish(bot, token, targets=targets)
    await bot.settle()
    for room in RESIDENT_ROOMS:
        assert len(await notice_copies(bot, room)) == (1 if room in reached else 0), room
    detail = await get_detail(bot, token, created["id"])
    assert detail["progress"]["sent"] == len(reached)


@pytest.mark.parametrize(("body", "error"), [
    ({"targets": {"communities": ["火星社区"]}}, "没有找到社区“火星社区”"),
    ({"targets": {"grids": ["不存在网格"]}}, "没有找到网格“不存在网格”"),
    ({"targets": {"tags": ["没人用的标签"]}}, "没有群带有标签"),
    ({"targets": {}}, "请指定发送对象"),
    ({"targets": {"planets": ["火星"]}}, "不认识的发送对象类型"),
    ({"body": "   "}, "通知正文不能为空"),
    ({"title": ""}, "请填写通知标题"),
    ({"send_at": "2026-11-22T09:00:00+08:00"}, "已经过去了"),
    ({"send_at": "下周一"}, "不是有效的 ISO 8601 时间"),
    ({"repeat": "每周八 9:00"}, "无法识别重复规则"),
    ({"repeat": "0 25 * * *"}, "重复规则“0 25 * * *”有误"),
    ({"repeat": {"rule": "每天 9:00", "until": "2026-11-01"}}, "一次也不会发送"),
    ({"body": "{{ gird }}的居民：停水"}, "不存在的变量"),
    ({"body": "{% if %}停水"}, "正文模板第1行有误"),
    ({"ask_receipt": "yes"}, "ask_receipt"),
])
async def test_bad_notices_are_refused_before_anything_is_sent(bot: Harness, body: dict[str, Any],
                                                               error: str) -> None:
    token = token_for(bot)
    fields = {"title": "停水通知", "body": "明天停水", "targets": {"all": True}, **body}
    status, answer = await call(bot, "POST", "/api/notices", token, fields)
    assert status == 400 and error in answer["error"], answer
    with session_scope(bot.runtime.engine) as session:
        assert session.exec(select(Notice)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []


async def test_who_may_publish_and_what_they_see(bot: Harness) -> None:
    body = {"title": "停水通知", "body": "明天停水", "targets": {"all": True}}
    status, answer = await call(bot, "POST", "/api/notices", token_for(bot, scope="read"), body)
    assert status == 403 and "只能读取" in answer["error"]
    status, answer = await call(bot, "POST", "/api/notices", token_for(bot, "lina"), body)
    assert status == 403 and "街道和社区工作人员" in answer["error"]
    zhou = token_for(bot, "zhou")  # 幸福里社区's staff
    status, answer = await call(bot, "POST", "/api/notices", zhou, body)
    assert status == 403 and "和平苑业主·网格服务群" in answer["error"]
    status, mine = await call(bot, "POST", "/api/notices", zhou,
                              {**body, "targets": {"communities": ["幸福里社区"]}})
    assert status == 201, mine
    wu = token_for(bot, "wu")  # 和平苑社区's staff
    status, _ = await call(bot, "GET", f"/api/notices/{mine['id']}", wu)
    assert status == 404
    status, _ = await call(bot, "DELETE", f"/api/notices/{mine['id']}", wu)
    assert status == 404
    status, listed = await call(bot, "GET", "/api/notices", wu)
    assert listed == []
    status, listed = await call(bot, "GET", "/api/notices", token_for(bot, "lina", "read"))
    assert [n["id"] for n in listed] == [mine["id"]]  # it reached 李娜's grid
    assert mine["created_by"] == "周主任"


async def test_not_json_and_no_token(bot: Harness) -> None:
    token = token_for(bot)
    resp = await bot.client.post("/api/notices", data="不是JSON",
                                 headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 400 and "JSON" in (await resp.json())["error"]
    resp = await bot.client.post("/api/notices", json={"title": "x"})
    assert resp.status == 401
    status, answer = await call(bot, "GET", "/api/notices/999", token)
    assert status == 404 and "999" in answer["error"]


async def test_a_broadcast_is_paced(store_url: str, start_gridbot) -> None:
    rooms = add_grids(store_url, 4)
    bot = await start_gridbot(store_url, sending=SendingSettings(min_interval_ms=120))
    await publish(bot, token_for(bot), targets={"grids": [f"测试网格{i}" for i in range(3, 7)]})
    await bot.settle()
    sim = bot.runtime.transport
    assert isinstance(sim, SimTransport)
    sent = sorted((m for r in rooms for m in sim.history(room=r) if m.from_bot),
                  key=lambda m: m.at)
    assert len(sent) == 4
    gaps = [(b.at - a.at).total_seconds() for a, b in pairwise(sent)]
    assert min(gaps) >= 0.11, gaps


async def test_receipts_are_counted_once_per_resident_and_never_open_cases(bot: Harness) -> None:
    token = token_for(bot)
    created = await publish(bot, token, targets={"grids": ["幸福里第一网格"]})
    await bot.settle()
    assert await say(bot, "王芳", "收到") == []  # no answer: a bot answering 收到 floods groups
    assert await say(bot, "刘大爷", "@网格助手 收到👍谢谢") == []
    assert await say(bot, "王芳", "收到了") == []  # counted once
    assert await say(bot, "李娜", "收到") == []  # the worker's own 收到 is not a receipt
    detail = await get_detail(bot, token, created["id"])
    assert detail["receipts"]["count"] == 2 and detail["receipt_count"] == 2
    assert [p["name"] for p in detail["receipts"]["people"]] == ["王芳", "刘大爷"]
    by_group = {g["room"]: g["count"] for g in detail["receipts"]["by_group"]}
    assert by_group == {ROOM: 2}
    cases = await bot.api("/api/cases", token)
    assert cases == []


async def test_receipts_need_a_notice_and_a_long_reply_is_read_as_a_message(bot: Harness) -> None:
    token = token_for(bot)
    assert await say(bot, "王芳", "收到") == []  # no notice yet: just chit-chat
    created = await publish(bot, token, targets={"grids": ["幸福里第一网格"]})
    await bot.settle()
    [answer] = await say(bot, "王芳", "收到，但是我们3号楼现在就已经没水了，水管还在漏")
    assert "#1" in answer
    detail = await get_detail(bot, token, created["id"])
    assert detail["receipts"]["count"] == 0


async def test_resend_to_groups_with_few_receipts(bot: Harness) -> None:
    token = token_for(bot)
    created = await publish(bot, token)
    await bot.settle()
    await say(bot, "王芳", "收到")
    status, answer = await call(bot, "POST", f"/api/notices/{created['id']}/resend", token,
                                {"below": 1})
    assert status == 200 and answer["resent"] == 2, answer
    await bot.settle()
    assert len(await notice_copies(bot, ROOM)) == 1
    assert len(await notice_copies(bot, "xingfuli-2@chatroom")) == 2
    assert len(await notice_copies(bot, "hepingyuan@chatroom")) == 2
    assert [r["kind"] for r in answer["runs"]] == ["scheduled", "resend"]
    assert answer["runs"][-1]["note"] == "补发2个群"
    status, answer = await call(bot, "POST", f"/api/notices/{created['id']}/resend", token, {})
    assert status == 400 and "below" in answer["error"]


async def test_cancel_what_is_not_sent_yet(bot: Harness) -> None:
    token = token_for(bot)
    created = await publish(bot, token, send_at=(START + timedelta(hours=1)).isoformat())
    status, answer = await call(bot, "DELETE", f"/api/notices/{created['id']}", token)
    assert status == 200 and answer["status"] == "cancelled" and answer["next_run_at"] is None
    bot.clock.advance(hours=2)
    await sweep(bot)
    for room in RESIDENT_ROOMS:
        assert await notice_copies(bot, room) == []
    status, answer = await call(bot, "DELETE", f"/api/notices/{created['id']}", token)
    assert status == 409 and "已经取消" in answer["error"]
    status, answer = await call(bot, "DELETE", "/api/notices/4242", token)
    assert status == 404


async def test_cancel_mid_broadcast_takes_back_the_rest(store_url: str, start_gridbot) -> None:
    rooms = add_grids(store_url, 12)
    bot = await start_gridbot(store_url, sending=SendingSettings(min_interval_ms=150))
    token = token_for(bot)
    created = await publish(bot, token)
    sim = bot.runtime.transport
    assert isinstance(sim, SimTransport)
    await _until(lambda: sum(len(sim.history(room=r)) for r in rooms) >= 2)
    status, answer = await call(bot, "DELETE", f"/api/notices/{created['id']}", token)
    assert status == 200 and answer["taken_back"] >= 5
    await bot.settle()
    detail = await get_detail(bot, token, created["id"])
    progress = detail["progress"]
    assert progress["cancelled"] == answer["taken_back"]
    assert progress["sent"] + progress["cancelled"] == progress["total"] == 15
    delivered = sum(len(sim.history(room=r)) for r in [*rooms, *RESIDENT_ROOMS])
    assert delivered == progress["sent"]


async def test_a_restart_mid_broadcast_finishes_it_without_doubles(start_gridbot,
                                                                   db_url: str) -> None:
    rooms = add_grids(db_url, 12) + RESIDENT_ROOMS
    sim = SimTransport()  # WeChat stays up while gridbot restarts
    slow = SendingSettings(min_interval_ms=100)
    first = await start_gridbot(db_url, transport=sim, sending=slow)
    token = token_for(first)
    created = await publish(first, token)
    await _until(lambda: sum(len(sim.history(room=r)) for r in rooms) >= 3)
    await first.runtime.stop()
    sent_before = sum(len(sim.history(room=r)) for r in rooms)
    assert 3 <= sent_before < len(rooms)

    second = await start_gridbot(db_url, transport=sim, sending=slow,
                                 clock=Clock(first.clock.current))
    await second.settle(timeout=30)
    assert {r: len(sim.history(room=r)) for r in rooms} == {r: 1 for r in rooms}
    detail = await get_detail(second, token, created["id"])
    assert detail["progress"]["sent"] == len(rooms) and detail["status"] == "sent"


async def test_a_repeating_reminder_until_its_end_date(bot: Harness) -> None:
    token = token_for(bot)
    created = await publish(bot, token, title="垃圾分类提醒", body="本周垃圾分类请按时投放。",
                            targets={"grids": ["和平苑网格"]},
                            repeat={"rule": "每周一 9:00", "until": "2026-12-08"})
    # Monday 23 November 10:00: the first reminder is next Monday
    assert created["next_run_at"] == "2026-11-30T09:00:00+08:00"
    await sweep(bot)
    assert await notice_copies(bot, "hepingyuan@chatroom", "垃圾分类提醒") == []
    for _ in range(3):
        bot.clock.advance(days=7)
        bot.clock.current = bot.clock.current.replace(hour=9, minute=0)
        await sweep(bot)
    copies = await notice_copies(bot, "hepingyuan@chatroom", "垃圾分类提醒")
    assert len(copies) == 2  # 30 November and 7 December; 14 December is past the end date
    detail = await get_detail(bot, token, created["id"])
    assert [r["scheduled_for"] for r in detail["runs"]] == [
        "2026-11-30T09:00:00+08:00", "2026-12-07T09:00:00+08:00"]
    assert detail["status"] == "sent" and detail["next_run_at"] is None


async def test_a_notice_due_while_down_is_sent_within_grace_else_reported_missed(
        store_url: str, start_gridbot) -> None:
    bot = await start_gridbot(store_url, notices=NoticesSettings(grace_minutes=60))
    token = token_for(bot)
    late = await publish(bot, token, title="防诈骗提醒", body="谨防冒充社区人员的诈骗电话。",
                         send_at=(START + timedelta(hours=1)).isoformat())
    missed = await publish(bot, token, title="医保缴费提醒", body="医保缴费本月底截止。",
                           send_at=(START + timedelta(minutes=10)).isoformat())
    bot.clock.advance(hours=1, minutes=30)  # "down" from 10:00 to 11:30
    await sweep(bot)
    assert len(await notice_copies(bot, ROOM, "防诈骗提醒")) == 1  # 30 min late: within grace
    assert await notice_copies(bot, ROOM, "医保缴费提醒") == []  # 80 min late: missed
    detail = await get_detail(bot, token, missed["id"])
    assert detail["status"] == "missed" and detail["runs"][0]["status"] == "missed"
    assert detail["runs"][0]["note"] == "系统停机，超过宽限时间60分钟"
    detail = await get_detail(bot, token, late["id"])
    assert detail["status"] == "sent"


async def test_a_daily_reminder_after_days_down_is_sent_once(bot: Harness) -> None:
    token = token_for(bot)
    created = await publish(bot, token, title="防汛提醒", body="近期有强降雨，请注意安全。",
                            targets={"grids": ["幸福里第一网格"]}, repeat="每天 9:00")
    bot.clock.current = START.replace(day=26, hour=9, minute=20)  # Thursday; down since Monday
    await sweep(bot)
    assert len(await notice_copies(bot, ROOM, "防汛提醒")) == 1
    detail = await get_detail(bot, token, created["id"])
    assert [r["status"] for r in detail["runs"]] == ["missed", "missed", "sent"]
    assert [r["note"] for r in detail["runs"]][:2] == ["被后一次发送取代"] * 2
    assert detail["next_run_at"] == "2026-11-27T09:00:00+08:00"


async def test_staff_publish_from_chat_with_a_confirmation(bot: Harness) -> None:
    [preview] = await say(bot, "周主任", "发布通知 幸福里社区 垃圾分类提醒\n"
                          "{{ grid }}的居民朋友们：本周六上午9点在小区广场开展垃圾分类宣传。",
                          room=STAFF_ROOM)
    assert "2个群" in preview and "确认发布" in preview and "幸福里第一网格的居民朋友们" in preview
    for room in RESIDENT_ROOMS:
        assert await notice_copies(bot, room, "垃圾分类提醒") == []  # nothing before confirming
    [done] = await say(bot, "周主任", "确认发布", room=STAFF_ROOM)
    assert "已发布" in done and "2个群" in done
    await bot.settle()
    assert len(await notice_copies(bot, ROOM, "垃圾分类提醒")) == 1
    assert len(await notice_copies(bot, "xingfuli-2@chatroom", "垃圾分类提醒")) == 1
    assert await notice_copies(bot, "hepingyuan@chatroom", "垃圾分类提醒") == []
    [nothing] = await say(bot, "周主任", "确认发布", room=STAFF_ROOM)
    assert "没有待确认的通知" in nothing and nothing.endswith("。")
    assert await say(bot, "周主任", "取消发布", room=STAFF_ROOM) == [
        "@周主任 没有待确认的通知，无需取消。"]


async def test_chat_publishing_refusals(bot: Harness) -> None:
    [refused] = await say(bot, "王芳", "发布通知 全部 停水\n明天停水")
    assert "只有社区和街道工作人员可以发布通知" in refused
    [unknown] = await say(bot, "孙丽", "发布通知 火星社区 停水\n明天停水", room=None)
    assert "没有找到社区或网格“火星社区”" in unknown
    [no_body] = await say(bot, "孙丽", "发布通知 全部 停水", room=None)
    assert "换行后写正文" in no_body
    [in_residents] = await say(bot, "孙丽", "发布通知 全部 停水\n明天停水")
    assert "工作群" in in_residents
    [preview] = await say(bot, "孙丽", "发布通知 全部 停水\n明天停水", room=None)
    assert "3个群" in preview
    [dropped] = await say(bot, "孙丽", "取消发布", room=None)
    assert "不发了" in dropped
    for room in RESIDENT_ROOMS:
        assert await notice_copies(bot, room, "停水") == []


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
