"""The foundation's vertical slice, through the simulator API as a resident uses it:
message in → case stored → acknowledgement in the group."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlmodel import select

from bot.transport.base import ChatMessage
from storage import db, queries
from storage.models import Case, ChatGroup, InboundMessage, InboundStatus
from tests.conftest import Harness, make_settings

ROOM = "xingfuli-1@chatroom"  # 幸福里第一网格: worker 李娜, leader 张强
OTHER_ROOM = "hepingyuan@chatroom"  # 和平苑网格: worker 陈静, leader 刘洋


async def test_complaint_gets_case_number_with_mention(gridbot: Harness, admin_token: str) -> None:
    started = time.monotonic()
    await gridbot.post(ROOM, "王芳", "3号楼2单元楼道灯坏了好几天了，晚上上楼黑乎乎的")
    replies = await gridbot.bot_replies(room=ROOM)
    elapsed = time.monotonic() - started

    assert len(replies) == 1
    reply = replies[0]
    assert reply["text"].startswith("@王芳 ")
    assert reply["mentions"] == ["王芳"]
    no = int(re.search(r"#(\d+)", reply["text"])[1])
    assert "房屋维修" in reply["text"] and "李娜" in reply["text"]
    assert "3号楼2单元" in reply["text"]
    assert elapsed < 5, "the acknowledgement should arrive promptly"  # generous: not a benchmark

    case = await gridbot.api(f"/api/cases/{no}", admin_token)
    assert case["status"] == "reported"
    assert case["category"] == "repair"
    assert case["reporter"] == "王芳"
    assert case["grid"] == "幸福里第一网格"
    assert case["location"] == "3号楼2单元"
    assert case["urgent"] is False
    assert [e["action"] for e in case["events"]] == ["report"]
    assert case["created_at"].endswith("+08:00")


async def test_thanks_and_chit_chat_get_silence(gridbot: Harness, admin_token: str) -> None:
    for text in ("收到，谢谢", "周末有人一起打羽毛球吗", "路灯已经修好了，点赞👍", "[强][强]"):
        await gridbot.post(ROOM, "刘大爷", text)
    assert await gridbot.bot_replies(room=ROOM) == []
    assert await gridbot.api("/api/cases", admin_token) == []


async def test_case_numbers_increase_across_groups(gridbot: Harness, admin_token: str) -> None:
    await gridbot.post(ROOM, "王芳", "北门那段路灯全不亮了")
    await gridbot.post(OTHER_ROOM, "马先生", "垃圾站旁边老鼠乱窜，太恶心了")
    await gridbot.settle()
    cases = await gridbot.api("/api/cases", admin_token)
    assert sorted(c["no"] for c in cases) == [1, 2]
    by_room = {c["room"]: c for c in cases}
    assert by_room[ROOM]["category"] == "facility"
    assert by_room[OTHER_ROOM]["category"] == "sanitation"
    assert by_room[OTHER_ROOM]["grid"] == "和平苑网格"


async def test_urgent_case_alerts_worker_and_leader_privately(gridbot: Harness,
                                                              admin_token: str) -> None:
    await gridbot.post(OTHER_ROOM, "黄女士", "5栋3单元302家里好大的煤气味，敲门没人应")
    group_reply = (await gridbot.bot_replies(room=OTHER_ROOM))[0]
    assert "紧急" in group_reply["text"] and "陈静" in group_reply["text"]
    assert "刘洋" in group_reply["text"]
    assert "302" not in group_reply["text"], "a full room number is not posted in the group"
    for person in ("陈静", "刘洋"):
        alerts = await gridbot.bot_replies(contact=person)
        assert len(alerts) == 1
        assert "紧急工单" in alerts[0]["text"] and "5号楼3单元302室" in alerts[0]["text"]
    no = int(re.search(r"#(\d+)", group_reply["text"])[1])
    case = await gridbot.api(f"/api/cases/{no}", admin_token)
    assert case["urgent"] is True and case["category"] == "safety"
    assert [e["action"] for e in case["events"]] == ["report", "notify"]
    assert case["events"][1]["note"] in ("已私信通知 陈静、刘洋", "已私信通知 刘洋、陈静")
    # the non-urgent worker of another grid heard nothing
    assert await gridbot.bot_replies(contact="李娜") == []


async def test_group_not_bound_to_a_grid_is_ignored(store_url: str, start_gridbot,
                                                    classifier) -> None:
    engine = db.make_engine(store_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        from storage.demo_seed import seed_demo

        seed_demo(session)
        session.add(ChatGroup(room_id="unbound@chatroom", topic="业主闲聊群"))
    engine.dispose()
    bot = await start_gridbot(store_url)
    await bot.post("unbound@chatroom", "路人甲", "3号楼电梯坏了")
    assert await bot.bot_replies(room="unbound@chatroom") == []
    with db.session_scope(bot.runtime.engine) as session:
        assert session.exec(select(Case)).all() == []
        row = session.exec(select(InboundMessage)).one()
        assert row.status == InboundStatus.DONE and row.outcome == "unbound"


async def test_private_request_from_known_resident_opens_case(gridbot: Harness,
                                                              admin_token: str) -> None:
    await gridbot.post(None, "王芳", "请问一下退休认证在哪儿办，要带身份证吗")
    replies = await gridbot.bot_replies(contact="王芳")
    assert len(replies) == 1 and "#1" in replies[0]["text"] and "政策咨询" in replies[0]["text"]
    case = await gridbot.api("/api/cases/1", admin_token)
    assert case["room"] == ROOM and case["category"] == "inquiry"


async def test_private_request_from_stranger_is_pointed_to_their_group(gridbot: Harness) -> None:
    await gridbot.post(None, "新来的", "楼道灯坏了")
    replies = await gridbot.bot_replies(contact="新来的")
    assert len(replies) == 1 and "网格" in replies[0]["text"]
    assert "#" not in replies[0]["text"]


async def test_redelivered_message_is_processed_once(gridbot: Harness, admin_token: str) -> None:
    msg = ChatMessage(id="wx-123", room_id=ROOM, sender_id="王芳", sender_name="王芳",
                      text="3号楼门口井盖没了，太危险了")
    processor = gridbot.runtime.processor
    await processor.receive(msg)
    await processor.receive(msg)  # the transport delivers it again after a reconnect
    await gridbot.settle()
    assert len(await gridbot.api("/api/cases", admin_token)) == 1
    with db.session_scope(gridbot.runtime.engine) as session:
        assert len(session.exec(select(InboundMessage)).all()) == 1


async def test_message_stored_before_a_crash_is_processed_after_restart(
        store_url: str, start_gridbot) -> None:
    # A previous run stored the message, then died before processing it.
    engine = db.make_engine(store_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        from storage.demo_seed import seed_demo

        seed_demo(session)
        session.add(InboundMessage(transport="sim", message_id="before-crash", room_id=ROOM,
                                   sender_id="陈阿姨", sender_name="陈阿姨",
                                   text="6号楼楼顶漏雨，家里天花板都湿了"))
    engine.dispose()
    bot = await start_gridbot(store_url)
    for _ in range(100):
        with db.session_scope(bot.runtime.engine) as session:
            if session.exec(select(Case)).first():
                break
        await asyncio.sleep(0.05)
    replies = await bot.bot_replies(room=ROOM)
    assert len(replies) == 1 and "@陈阿姨" in replies[0]["text"]


class ExplodingClassifier:
    """Fault injection: the real classifier, except for one poisoned text."""

    def __init__(self, real, poison: str) -> None:
        self._real, self._poison = real, poison

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def classify(self, text: str):
        if self._poison in text:
            raise RuntimeError("classifier blew up")
        return self._real.classify(text)


@pytest.mark.parametrize("max_attempts", [1, 3])
async def test_failing_message_is_retried_then_parked_not_lost(
        aiohttp_client, classifier, store_url: str, max_attempts: int) -> None:
    from bot.config import ProcessingSettings
    from bot.runtime import Runtime
    from bot.web.app import create_app

    settings = make_settings(store_url, processing=ProcessingSettings(
        max_attempts=max_attempts, retry_seconds=0))
    runtime = Runtime(settings, classifier=ExplodingClassifier(classifier, "毒"))  # type: ignore
    bot = Harness(await aiohttp_client(create_app(settings, runtime=runtime)), runtime)
    await bot.post(ROOM, "王芳", "这条消息有毒")
    await bot.post(ROOM, "王芳", "4号楼电梯坏了")  # the next message is not held up
    for _ in range(200):
        with db.session_scope(runtime.engine) as session:
            poisoned = session.exec(select(InboundMessage).where(
                InboundMessage.message_id == "s1")).one()
            if poisoned.status == InboundStatus.PARKED:
                break
        await asyncio.sleep(0.05)
    assert poisoned.status == InboundStatus.PARKED
    assert poisoned.attempts == max_attempts
    assert "classifier blew up" in (poisoned.error or "")
    replies = await bot.bot_replies(room=ROOM)
    assert len(replies) == 1 and "电梯" not in replies[0]["text"] and "#1" in replies[0]["text"]


@pytest.mark.postgres
async def test_pipeline_on_postgresql(pg_url: str, start_gridbot) -> None:
    bot = await start_gridbot(pg_url)
    await bot.post(ROOM, "王芳", "楼下KTV天天唱到后半夜，吵得睡不着")
    await bot.post(ROOM, "刘大爷", "好的")
    replies = await bot.bot_replies(room=ROOM)
    assert len(replies) == 1 and "#1" in replies[0]["text"] and "噪音扰民" in replies[0]["text"]
    with db.session_scope(bot.runtime.engine) as session:
        case = queries.get_case(session, no=1)
        assert case is not None and case.category == "noise"
        assert case.created_at.tzinfo is not None

