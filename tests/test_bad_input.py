"""Bad input never crashes the pipeline, never opens a case by accident, and is always logged."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage import db
from storage.models import Case, InboundMessage, InboundStatus
from tests.conftest import Harness

ROOM = "xingfuli-1@chatroom"

BAD_TEXTS = {
    "empty": "",
    "whitespace": "   \n\t  ",
    "emoji": "😀😂👍🙏🏻🎉",
    "stickers": "[捂脸][强][玫瑰]",
    "huge": ("楼道灯坏了" * 2000)[:10_000],
    "joined": "张三 加入了群聊",
    "invited": "\"李四\"邀请\"王五\"加入了群聊",
    "revoked": "\"王芳\" 撤回了一条消息",
    "link": "https://mp.weixin.qq.com/s/abc123",
    "control": "\x00\x01\x02\u200b\ufeff",
    "forwarded": "【停水通知】各位居民：因管网维修，明天8:00-17:00停水，请提前储水，敬请谅解。",
}


@pytest.mark.parametrize("name", list(BAD_TEXTS))
async def test_bad_text_is_logged_and_opens_nothing(gridbot: Harness, name: str) -> None:
    await gridbot.post(ROOM, "王芳", BAD_TEXTS[name])
    assert await gridbot.bot_replies(room=ROOM) == []
    with db.session_scope(gridbot.runtime.engine) as session:
        assert session.exec(select(Case)).all() == []
        row = session.exec(select(InboundMessage)).one()
        assert row.status == InboundStatus.DONE
        # kept as sent (NUL, which PostgreSQL cannot store, as U+FFFD on every database)
        assert row.text == BAD_TEXTS[name].replace("\x00", "\ufffd")


@pytest.mark.parametrize("kind", ["image", "voice", "video", "link", "sticker", "file",
                                  "mini_program", "system", "revoked", "other"])
async def test_non_text_messages_are_logged_not_classified(gridbot: Harness, kind: str) -> None:
    # even with complaint-like text attached (a link title, a voice transcript)
    await gridbot.post(ROOM, "王芳", "3号楼电梯坏了", kind=kind)
    assert await gridbot.bot_replies(room=ROOM) == []
    with db.session_scope(gridbot.runtime.engine) as session:
        row = session.exec(select(InboundMessage)).one()
        assert (row.kind, row.status, row.outcome) == (kind, InboundStatus.DONE, "non_text")


async def test_the_pipeline_goes_on_after_bad_input(gridbot: Harness) -> None:
    for text in BAD_TEXTS.values():
        await gridbot.post(ROOM, "王芳", text)
    await gridbot.post(ROOM, "王芳", "2号楼门口井盖松了，一踩就晃")
    replies = await gridbot.bot_replies(room=ROOM)
    assert len(replies) == 1 and "#1" in replies[0]["text"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "JSON"),
        ([1, 2], 400, "JSON 对象"),
        ({"room": ROOM, "text": "hi"}, 400, "发送人"),
        ({"room": ROOM, "sender": "  ", "text": "hi"}, 400, "发送人"),
        ({"room": ROOM, "sender": "王芳"}, 400, "text"),
        ({"room": ROOM, "sender": "王芳", "text": 5}, 400, "text"),
        ({"room": 7, "sender": "王芳", "text": "hi"}, 400, "room"),
        ({"room": "nowhere@chatroom", "sender": "王芳", "text": "hi"}, 400, "没有这个群"),
        ({"room": ROOM, "sender": "网格助手", "text": "hi"}, 400, "机器人"),
        ({"room": ROOM, "sender": "王芳", "text": "hi", "kind": "hologram"}, 400, "类型"),
        ({"room": ROOM, "sender": "王" * 60, "text": "hi"}, 400, "太长"),
    ],
)
async def test_sim_api_refuses_malformed_posts_clearly(gridbot: Harness, body: object,
                                                       status: int, message: str) -> None:
    if isinstance(body, str):
        resp = await gridbot.client.post("/api/sim/messages", data=body,
                                         headers={"Content-Type": "application/json"})
    else:
        resp = await gridbot.client.post("/api/sim/messages", json=body)
    assert resp.status == status
    assert message in (await resp.json())["error"]


async def test_sim_messages_needs_room_or_contact(gridbot: Harness) -> None:
    resp = await gridbot.client.get("/api/sim/messages")
    assert resp.status == 400
    resp = await gridbot.client.get("/api/sim/messages", params={"room": "nowhere"})
    assert resp.status == 404


async def test_sim_history_after_returns_only_newer(gridbot: Harness) -> None:
    first = await gridbot.post(ROOM, "王芳", "大家好")
    await gridbot.post(ROOM, "刘大爷", "你好")
    later = await gridbot.messages(room=ROOM, after=first)
    assert [m["text"] for m in later] == ["你好"]
    assert all(m["at"].endswith("+08:00") for m in later)
