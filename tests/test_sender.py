"""The outbox sender: persisted rows are sent in priority order, paced, retried, never lost."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlmodel import select

from bot.config import SendingSettings
from bot.sender import OutboxSender
from bot.transport.base import RoomInfo, TransportError
from bot.transport.sim import SimTransport
from storage import db, queries
from storage.models import OutboxMessage, OutboxStatus, Priority

ROOM = "r@chatroom"


class FlakySim(SimTransport):
    """The real simulator, failing the first ``failures`` sends (a dropped connection)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.set_rooms([RoomInfo(ROOM, "测试群")])

    async def send_text(self, **kwargs):  # type: ignore[override]
        if self.failures > 0:
            self.failures -= 1
            raise TransportError("connection dropped")
        return await super().send_text(**kwargs)


def engine_for(url: str):
    engine = db.make_engine(url)
    db.upgrade(engine)
    return engine


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def rows(engine) -> list[OutboxMessage]:
    with db.session_scope(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


async def test_failed_sends_are_retried_until_they_go_out(store_url: str) -> None:
    engine = engine_for(store_url)
    sim = FlakySim(failures=2)
    with db.session_scope(engine) as session:
        queries.enqueue(session, room_id=ROOM, text="第一条")
    sender = OutboxSender(engine, sim, SendingSettings(), max_attempts=5, retry_seconds=0.05)
    await sender.start()
    try:
        sender.wake()
        await wait_for(lambda: rows(engine)[0].status == OutboxStatus.SENT)
    finally:
        await sender.stop()
    [row] = rows(engine)
    assert row.attempts == 3 and row.last_error == "TransportError: connection dropped"
    assert [m.text for m in sim.history(room=ROOM)] == ["第一条"]


async def test_a_send_that_keeps_failing_is_parked(store_url: str) -> None:
    engine = engine_for(store_url)
    sim = FlakySim(failures=100)
    with db.session_scope(engine) as session:
        queries.enqueue(session, room_id=ROOM, text="发不出去")
    sender = OutboxSender(engine, sim, SendingSettings(), max_attempts=3, retry_seconds=0.05)
    await sender.start()
    try:
        sender.wake()
        await wait_for(lambda: rows(engine)[0].status == OutboxStatus.FAILED)
    finally:
        await sender.stop()
    assert rows(engine)[0].attempts == 3
    assert sim.history(room=ROOM) == []


async def test_urgent_first_and_paced(store_url: str) -> None:
    engine = engine_for(store_url)
    sim = FlakySim(failures=0)
    with db.session_scope(engine) as session:
        for i in range(3):
            queries.enqueue(session, room_id=ROOM, text=f"普通{i}")
        queries.enqueue(session, room_id=ROOM, text="紧急", priority=10)
    sender = OutboxSender(engine, sim, SendingSettings(min_interval_ms=100), retry_seconds=1)
    await sender.start()
    try:
        sender.wake()
        await wait_for(lambda: len(sim.history(room=ROOM)) == 4)
    finally:
        await sender.stop()
    sent = sim.history(room=ROOM)
    assert [m.text for m in sent] == ["紧急", "普通0", "普通1", "普通2"]
    gaps = [(b.at - a.at).total_seconds() for a, b in pairwise(sent)]
    assert min(gaps) >= 0.09, gaps  # the configured minimum gap between two sends


async def test_the_daily_cap_holds_back_all_but_urgent_messages(store_url: str) -> None:
    engine = engine_for(store_url)
    sim = FlakySim(failures=0)
    with db.session_scope(engine) as session:
        for i in range(3):
            queries.enqueue(session, room_id=ROOM, text=f"通知{i}", priority=Priority.BULK)
    sender = OutboxSender(engine, sim, SendingSettings(daily_cap=2), retry_seconds=1)
    await sender.start()
    try:
        sender.wake()
        await wait_for(lambda: len(sim.history(room=ROOM)) == 2)
        await asyncio.sleep(0.3)
        assert [r.status for r in rows(engine)] == ["sent", "sent", "pending"]
        with db.session_scope(engine) as session:
            queries.enqueue(session, room_id=ROOM, text="5号楼电梯困人", priority=Priority.URGENT)
        sender.wake()
        await wait_for(lambda: len(sim.history(room=ROOM)) == 3)
        await asyncio.sleep(0.3)
    finally:
        await sender.stop()
    assert [m.text for m in sim.history(room=ROOM)] == ["通知0", "通知1", "5号楼电梯困人"]
    assert rows(engine)[2].status == OutboxStatus.PENDING  # waits for tomorrow


async def test_a_cancelled_row_is_not_sent_and_a_dead_senders_claim_is_released(
        store_url: str) -> None:
    engine = engine_for(store_url)
    sim = FlakySim(failures=0)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with db.session_scope(engine) as session:
        cancelled = queries.enqueue(session, room_id=ROOM, text="取消了")
        cancelled.status = OutboxStatus.CANCELLED
        stuck = queries.enqueue(session, room_id=ROOM, text="发到一半进程没了")
        stuck.status, stuck.claimed_at = OutboxStatus.SENDING, long_ago
        fresh = queries.enqueue(session, room_id=ROOM, text="别人正在发")
        fresh.status, fresh.claimed_at = OutboxStatus.SENDING, datetime.now(UTC)
    sender = OutboxSender(engine, sim, SendingSettings(), retry_seconds=1)
    await sender.start()
    try:
        await wait_for(lambda: len(sim.history(room=ROOM)) == 1)
        await asyncio.sleep(0.3)
    finally:
        await sender.stop()
    assert [m.text for m in sim.history(room=ROOM)] == ["发到一半进程没了"]
    assert [r.status for r in rows(engine)] == ["cancelled", "sent", "sending"]
