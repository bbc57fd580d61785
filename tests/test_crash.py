"""No loss, no doubles: a real `gridbot run` is killed with SIGKILL at chosen points on a
message's way (after it is stored, inside the processing transaction, after an outbox row is
claimed, after the transport took it), restarted, and must leave every message processed, every
reply sent and no case duplicated — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from sqlmodel import select

from storage import db
from storage.models import Case, InboundMessage, InboundStatus, OutboxMessage, OutboxStatus
from tests.auxil.process import GridbotProcess, free_port, write_config

ROOM = "xingfuli-1@chatroom"
COMPLAINT = "3号楼2单元楼道灯坏了好几天了"


def snapshot(url: str) -> tuple[list[InboundMessage], list[Case], list[OutboxMessage]]:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return (list(session.exec(select(InboundMessage)).all()),
                    list(session.exec(select(Case)).all()),
                    list(session.exec(select(OutboxMessage)).all()))
    finally:
        engine.dispose()


async def settled(url: str, timeout: float = 30.0) -> tuple[list, list, list]:
    """Wait until every stored message is processed and every reply sent."""
    deadline = time.monotonic() + timeout
    while True:
        inbound, cases, outbox = await asyncio.to_thread(snapshot, url)
        if inbound and all(m.status == InboundStatus.DONE for m in inbound) and outbox and \
                all(o.status == OutboxStatus.SENT for o in outbox):
            return inbound, cases, outbox
        assert time.monotonic() < deadline, (
            [(m.status, m.error) for m in inbound], [(o.status, o.text) for o in outbox])
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("point", ["inbound.stored", "inbound.processing", "outbox.claimed",
                                   "outbox.sent"])
async def test_a_sigkill_loses_nothing_and_duplicates_no_case(tmp_path: Path, db_url: str,
                                                              point: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path, db_url, port=port)
    doomed = await GridbotProcess(cfg, port, env={"GRIDBOT_CRASH_AT": point}).start()
    try:
        await doomed.post(ROOM, "王芳", COMPLAINT)
        assert await doomed.wait() == -signal.SIGKILL  # it died at the crash point
    finally:
        await doomed.kill()

    inbound, cases, outbox = await asyncio.to_thread(snapshot, db_url)
    assert len(inbound) == 1  # stored before anything else happened
    if point in ("inbound.stored", "inbound.processing"):
        assert cases == [] and outbox == []  # the transaction never committed

    survivor = await GridbotProcess(cfg, port).start()
    try:
        inbound, cases, outbox = await settled(db_url)
        assert len(inbound) == 1 and inbound[0].outcome == "case"
        assert [c.no for c in cases] == [1]
        assert len(outbox) == 1 and "#1" in outbox[0].text
        if point == "outbox.sent":
            # the transport took it and the row was not marked: sent again (at least once)
            assert outbox[0].attempts == 1
        status, messages = await survivor.get("/api/sim/messages", room=ROOM)
        assert status == 200
        assert [m["text"] for m in messages if m["from_bot"]] == [outbox[0].text]
    finally:
        assert await survivor.terminate() == 0


async def test_sigterm_finishes_the_message_in_hand_and_hands_over(tmp_path: Path,
                                                                   store_url: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path, store_url, port=port)
    bot = await GridbotProcess(cfg, port).start()
    await bot.post(ROOM, "王芳", COMPLAINT)
    assert await bot.terminate() == 0  # graceful: exit status 0
    inbound, cases, _outbox = await asyncio.to_thread(snapshot, store_url)
    assert [m.status for m in inbound] == [InboundStatus.DONE] and len(cases) == 1
