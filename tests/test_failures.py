"""What the bot gave up on is shown to staff, in their scope, and can be tried again: a parked
message is processed after all, a failed send goes out after all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.db import session_scope
from storage.models import Case, InboundMessage, InboundStatus, OutboxMessage, OutboxStatus
from tests.auxil.dashboard import Browsers, token_for, with_accounts
from tests.conftest import Harness

ROOM = "xingfuli-1@chatroom"  # 幸福里社区 · 第一网格


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return with_accounts(await start_gridbot(store_url))


def give_up_on(bot: Harness) -> tuple[int, int]:
    """A message the processor parked and a send the sender failed, as they leave them."""
    assert bot.runtime.engine is not None
    with session_scope(bot.runtime.engine) as session:
        parked = InboundMessage(transport="sim", message_id="m-parked", room_id=ROOM,
                                sender_id="wx_wang", sender_name="王阿姨",
                                text="3号楼楼道灯坏了好几天了 麻烦来修一下",
                                status=InboundStatus.PARKED, attempts=5,
                                error="OperationalError: database is locked",
                                received_at=datetime.now(UTC))
        failed = OutboxMessage(room_id=ROOM, text="各位邻居：明天上午停水，请提前储水。",
                               status=OutboxStatus.FAILED, attempts=5,
                               last_error="room not found")
        session.add(parked)
        session.add(failed)
        session.flush()
        assert parked.id is not None and failed.id is not None
        return parked.id, failed.id


async def test_staff_see_what_failed_in_their_scope(bot: Harness, web: Browsers) -> None:
    give_up_on(bot)
    admin = await web.logged_in("admin")
    page = await admin.page("/failures")
    assert "楼道灯坏了" in page and "room not found" in page and "幸福里1-6号楼邻里群" in page
    zhou = await web.logged_in("zhou")  # 幸福里社区: their group
    data = await zhou.json("/api/failures")
    assert [m["text"] for m in data["parked_messages"]] == ["3号楼楼道灯坏了好几天了 麻烦来修一下"]
    assert [s["error"] for s in data["failed_sends"]] == ["room not found"]
    wu = await web.logged_in("wu")  # 和平苑社区: not theirs
    data = await wu.json("/api/failures")
    assert data == {"parked_messages": [], "failed_sends": []}
    assert "楼道灯坏了" not in await wu.page("/failures")
    lina = await web.logged_in("lina")  # a grid worker does not run the bot
    assert "由街道（乡镇）管理员和社区工作人员查看" in await lina.page("/failures", status=403)
    await lina.json("/api/failures", status=403)


async def test_a_parked_message_is_processed_when_retried(bot: Harness, web: Browsers) -> None:
    parked, _ = give_up_on(bot)
    zhou = await web.logged_in("zhou")
    await zhou.page("/failures")
    resp = await zhou.post(f"/failures/messages/{parked}/retry", {})
    assert resp.status == 303
    assert "已重新交给机器人处理" in await zhou.page("/failures")
    engine = bot.runtime.engine
    assert engine is not None

    def case_texts() -> list[str]:
        with session_scope(engine) as session:
            return [c.text for c in session.exec(select(Case)).all()]

    for _ in range(200):  # the processor's sweeper takes it up within a few seconds
        if case_texts():
            break
        await asyncio.sleep(0.05)
    assert case_texts() == ["3号楼楼道灯坏了好几天了 麻烦来修一下"]
    replies = await bot.bot_replies(room=ROOM)
    assert any("王阿姨" in r["text"] or "#" in r["text"] for r in replies)
    # once done it is no longer a failure, and a second retry says so
    resp = await zhou.post(f"/failures/messages/{parked}/retry", {})
    assert "已经不是失败状态" in await zhou.page("/failures")


async def test_a_failed_send_goes_out_when_retried(bot: Harness, web: Browsers) -> None:
    _, failed = give_up_on(bot)
    token = token_for(bot, "admin", scope="write")
    headers = {"Authorization": f"Bearer {token}"}
    resp = await bot.client.post(f"/api/failures/sends/{failed}/retry", headers=headers)
    assert resp.status == 200, await resp.text()
    await bot.settle()
    texts = [m["text"] for m in await bot.bot_replies(room=ROOM)]
    assert "各位邻居：明天上午停水，请提前储水。" in texts
    resp = await bot.client.post(f"/api/failures/sends/{failed}/retry", headers=headers)
    assert resp.status == 409 and "已经不是失败状态" in (await resp.json())["error"]
    resp = await bot.client.post("/api/failures/sends/99999/retry", headers=headers)
    assert resp.status == 404
    # someone else's community cannot retry it either
    wu = token_for(bot, "wu", scope="write")
    resp = await bot.client.post(f"/api/failures/sends/{failed}/retry",
                                 headers={"Authorization": f"Bearer {wu}"})
    assert resp.status == 404
    read_only = token_for(bot, None)
    resp = await bot.client.post(f"/api/failures/sends/{failed}/retry",
                                 headers={"Authorization": f"Bearer {read_only}"})
    assert resp.status == 403
