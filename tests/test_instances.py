"""Several gridbot processes on one database, one per bot account: each answers in its own
groups and sends only its own messages, case numbers stay unique, and exactly one of them runs
the scheduled sweeps — with another taking over when it dies. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

from sqlmodel import select

from bot.config import InstanceSettings
from bot.leader import Leadership
from bot.runtime import prepare_database
from bot.transport.base import ChatMessage
from bot.transport.sim import SimTransport
from storage import db
from storage.models import ChatGroup, InboundMessage, OutboxMessage
from tests.conftest import Harness, make_settings

ROOM_A = "xingfuli-1@chatroom"
ROOM_B = "xingfuli-2@chatroom"


def assign(url: str, **accounts: str) -> None:
    engine = prepare_database(make_settings(url))
    with db.session_scope(engine) as session:
        for group in session.exec(select(ChatGroup)).all():
            group.account = accounts.get(group.room_id.split("@")[0].replace("-", "_"))
    engine.dispose()


async def start_pair(start_gridbot, url: str) -> tuple[Harness, Harness]:
    assign(url, xingfuli_1="bot-a", xingfuli_2="bot-b")
    a = await start_gridbot(url, transport=SimTransport(),
                            instance=InstanceSettings(account="bot-a"))
    b = await start_gridbot(url, transport=SimTransport(),
                            instance=InstanceSettings(account="bot-b"))
    return a, b


def sim(bot: Harness) -> SimTransport:
    transport = bot.runtime.transport
    assert isinstance(transport, SimTransport)
    return transport


async def test_each_account_answers_in_its_own_groups(db_url: str, start_gridbot) -> None:
    a, b = await start_pair(start_gridbot, db_url)
    assert sim(a).known_room(ROOM_A) and not sim(a).known_room(ROOM_B)
    await a.post(ROOM_A, "王芳", "3号楼楼道灯坏了好几天了")
    await b.post(ROOM_B, "孙浩", "9号楼下水道堵了，污水漫出来")
    # both bots sit in the second group: bot-a hears the message too, and stays silent
    await a.runtime.processor.receive(ChatMessage(  # type: ignore[union-attr]
        id="dup-1", room_id=ROOM_B, sender_id="孙浩", sender_name="孙浩", text="9号楼下水道堵了"))
    await a.settle()
    await b.settle()
    [reply_a] = await a.bot_replies(room=ROOM_A)
    [reply_b] = await b.bot_replies(room=ROOM_B)
    numbers = {re.search(r"#(\d+)", r["text"])[1] for r in (reply_a, reply_b)}  # type: ignore[index]
    assert numbers == {"1", "2"}
    assert sim(a).history(room=ROOM_B) == [] and sim(b).history(room=ROOM_A) == []
    with db.session_scope(a.runtime.engine) as session:  # type: ignore[arg-type]
        rows = {o.room_id: o for o in session.exec(select(OutboxMessage)).all()}
        assert (rows[ROOM_A].account, rows[ROOM_A].sent_by) == ("bot-a", "bot-a")
        assert (rows[ROOM_B].account, rows[ROOM_B].sent_by) == ("bot-b", "bot-b")
        heard = session.exec(select(InboundMessage).where(InboundMessage.message_id == "dup-1"))
        assert heard.one().outcome == "other_account"


async def test_case_numbers_stay_unique_across_processes(db_url: str, start_gridbot) -> None:
    a, b = await start_pair(start_gridbot, db_url)
    complaints = [f"{n}号楼楼道灯坏了" for n in range(1, 11)]
    await asyncio.gather(
        *(a.post(ROOM_A, f"居民甲{i}", t) for i, t in enumerate(complaints)),
        *(b.post(ROOM_B, f"居民乙{i}", t.replace("楼道灯", "电梯")) for i, t in
          enumerate(complaints)))
    numbers = [int(m) for bot, room in ((a, ROOM_A), (b, ROOM_B))
               for r in await bot.bot_replies(room=room)
               for m in re.findall(r"#(\d+)", r["text"])]
    assert sorted(numbers) == list(range(1, 21))


async def test_exactly_one_process_leads_and_another_takes_over(db_url: str) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    first = Leadership(engine, holder="bot-a@host:1", ttl=0.6)
    second = Leadership(engine, holder="bot-b@host:2", ttl=0.6)
    try:
        await first.start()
        await second.start()
        assert first.is_leader and not second.is_leader
        await asyncio.sleep(0.5)  # the leader renews; the other keeps trying
        assert first.is_leader and not await second.renew()
        # the leader dies without a word (SIGKILL): it stops renewing
        assert first._task is not None
        first._task.cancel()
        await asyncio.sleep(0.7)
        assert await second.renew() and second.is_leader
        # a graceful stop hands the lease over at once
        await second.stop()
        third = Leadership(engine, holder="bot-c@host:3", ttl=60)
        assert await third.renew()
        await third.stop()
    finally:
        await first.stop()
        engine.dispose()


async def test_two_runtimes_one_leader(db_url: str, start_gridbot) -> None:
    assign(db_url, xingfuli_1="bot-a", xingfuli_2="bot-b")
    a = await start_gridbot(db_url, scheduler=True, transport=SimTransport(),
                            instance=InstanceSettings(account="bot-a"))
    b = await start_gridbot(db_url, scheduler=True, transport=SimTransport(),
                            instance=InstanceSettings(account="bot-b"))
    assert [a.runtime.is_leader(), b.runtime.is_leader()] == [True, False]
    await a.runtime.stop()  # graceful: the lease is released
    assert b.runtime.leadership is not None and await b.runtime.leadership.renew()
    assert b.runtime.is_leader()


async def test_a_process_leaves_another_accounts_pending_messages_alone(
        db_url: str, start_gridbot) -> None:
    """Under load a process's stored messages wait in its queue for a while; the other
    process's retry sweep must not take them (it would judge them "other account" and mark
    them done, and the request would never be answered)."""
    a, b = await start_pair(start_gridbot, db_url)
    pa, pb = a.runtime.processor, b.runtime.processor
    assert pa is not None and pb is not None
    for processor in (pa, pb):  # the test runs their sweeps and batches itself
        await processor.stop()
    # bot-b has stored a complaint and not processed it yet (its worker is busy, or it crashed)
    row_id = await asyncio.to_thread(pb._store, ChatMessage(
        id="b-1", room_id=ROOM_B, sender_id="孙浩", sender_name="孙浩",
        text="9号楼下水道堵了，污水漫出来"))
    assert row_id is not None
    assert row_id not in await asyncio.to_thread(pa._due_for_retry)
    assert await asyncio.to_thread(pa.process_batch, [row_id]) == [None]
    assert await asyncio.to_thread(pa.process_batch, [row_id, row_id]) == [None, None]
    assert row_id in await asyncio.to_thread(pb._due_for_retry)
    [result] = await asyncio.to_thread(pb.process_batch, [row_id])
    assert result is not None and result.outcome == "case"
    with db.session_scope(b.runtime.engine) as session:  # type: ignore[arg-type]
        assert session.get(InboundMessage, row_id).outcome == "case"  # type: ignore[union-attr]
