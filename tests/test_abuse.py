"""A resident flooding the group: the first messages are read, the rest kept but not read, one
polite notice — and at most one or two cases. Workers are never held back."""

from __future__ import annotations

from sqlmodel import select

from storage import db
from storage.models import Case, InboundMessage, InboundStatus
from tests.auxil.chat import ROOM
from tests.conftest import Harness

FLOOD = ["3号楼楼道灯坏了好几天了", "楼道灯还是不亮！！！", "3号楼楼道灯到底有没有人管",
         "怎么还没人来修灯", "楼道黑漆漆的 摔了怎么办", "???", "有人吗", "@网格员 灯！！"]


async def test_a_flood_opens_at_most_two_cases_and_gets_one_notice(gridbot: Harness) -> None:
    for i in range(100):
        await gridbot.post(ROOM, "王芳", FLOOD[i % len(FLOOD)] + "!" * (i // len(FLOOD)))
    replies = [m["text"] for m in await gridbot.bot_replies(room=ROOM)]
    notices = [t for t in replies if "消息有点多" in t]
    assert len(notices) == 1 and notices[0].startswith("@王芳 ")
    with db.session_scope(gridbot.runtime.engine) as session:
        assert 1 <= len(session.exec(select(Case)).all()) <= 2
        rows = session.exec(select(InboundMessage)).all()
        assert len(rows) == 100 and all(r.status == InboundStatus.DONE for r in rows)
        outcomes = [r.outcome for r in rows]
        assert outcomes.count("throttled_told") == 1 and outcomes.count("throttled") >= 80


async def test_workers_are_not_throttled(gridbot: Harness) -> None:
    for i in range(20):
        await gridbot.post(ROOM, "李娜", f"查 #{i + 1}")
    replies = [m["text"] for m in await gridbot.bot_replies(room=ROOM)]
    assert len(replies) == 20 and not any("消息有点多" in t for t in replies)
