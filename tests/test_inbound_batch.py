"""Group commit of inbound processing: stored messages processed several under one commit, each
exactly once, in order, with a failing one rolled back and retried alone — on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import col, func, select

from bot.config import ProcessingSettings
from bot.runtime import Runtime
from bot.transport.base import ChatMessage
from bot.transport.sim import SimTransport
from storage import db
from storage.models import Case, InboundMessage, InboundStatus, OutboxMessage, Person
from tests.conftest import make_settings
from tests.test_intake_e2e import ExplodingClassifier

ROOM = "xingfuli-1@chatroom"


def message(n: int, sender: str, text: str) -> ChatMessage:
    return ChatMessage(id=f"m{n}", room_id=ROOM, sender_id=sender, sender_name=sender, text=text,
                       at=datetime.now(UTC))


async def stopped_runtime(url: str, classifier) -> Runtime:
    """A started gridbot whose inbound worker is stopped: the test processes rows itself."""
    runtime = Runtime(make_settings(url, processing=ProcessingSettings(retry_seconds=0)),
                      classifier=ExplodingClassifier(classifier, "毒"),  # type: ignore[arg-type]
                      transport=SimTransport(), run_scheduler=False)
    await runtime.start()
    assert runtime.processor is not None
    await runtime.processor.stop()
    await runtime.sender.stop()  # type: ignore[union-attr]
    return runtime


async def test_a_batch_processes_each_message_once_and_isolates_a_failing_one(
        db_url: str, classifier) -> None:
    runtime = await stopped_runtime(db_url, classifier)
    processor, engine = runtime.processor, runtime.engine
    assert processor is not None and engine is not None
    texts = [("王芳", "3号楼楼道灯坏了好几天了"), ("刘大爷", "大家早上好"),
             ("新来的居民", "这条消息有毒，5号楼电梯坏了"),  # fails: rolled back alone
             ("陈阿姨", "5号楼电梯又停了，老人上不去"), ("刘大爷", "谢谢网格员")]
    for n, (sender, text) in enumerate(texts):
        await processor.receive(message(n, sender, text))
    with db.session_scope(engine) as session:
        ids = list(session.exec(select(InboundMessage.id).order_by(col(InboundMessage.id))).all())
    committed: list[list[str]] = []
    processor.on_processed = committed.append

    results = await asyncio.to_thread(processor.process_batch, ids)

    assert [r.outcome if r else None for r in results] == ["case", "silent", None, "case",
                                                          "silent"]
    assert committed == [["m0", "m1", "m3", "m4"]]  # one commit for the batch, in order
    with db.session_scope(engine) as session:
        rows = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
        assert [r.status for r in rows] == ["done", "done", "failed", "done", "done"]
        assert rows[2].attempts == 1 and "classifier blew up" in (rows[2].error or "")
        # the failing message's work was rolled back: its sender was not even registered
        assert session.exec(select(Person).where(Person.contact_id == "新来的居民")).first() \
            is None
        assert [c.no for c in session.exec(select(Case).order_by(col(Case.no))).all()] == [1, 2]
        assert [r.case_id is not None for r in rows] == [True, False, False, True, False]
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2

    # the same batch again (a redelivered queue, a sweeper race): nothing is done twice; the
    # failed message is tried again and fails again
    again = await asyncio.to_thread(processor.process_batch, ids)
    assert again == [None] * 5
    with db.session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 2
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2
        failed = session.get(InboundMessage, ids[2])
        assert failed is not None and failed.attempts == 2
    await runtime.stop()


async def test_a_burst_is_processed_in_batches_each_message_exactly_once(
        db_url: str, start_gridbot) -> None:
    bot = await start_gridbot(db_url)
    processor = bot.runtime.processor
    commits: list[list[str]] = []
    processor.on_processed = commits.append
    burst = [("王芳" if i % 2 else f"居民{i}", f"{i % 9 + 1}号楼楼道灯坏了" if i % 5 == 0
              else "大家好") for i in range(40)]
    await asyncio.gather(*(processor.receive(message(i, sender, text))
                           for i, (sender, text) in enumerate(burst)))
    await bot.settle()
    done = [m for batch in commits for m in batch]
    assert sorted(done) == sorted(f"m{i}" for i in range(40))  # each once
    assert len(commits) < 40  # some were committed together
    with db.session_scope(bot.runtime.engine) as session:
        rows = session.exec(select(InboundMessage)).all()
        assert {r.status for r in rows} == {InboundStatus.DONE}
        cases = session.exec(select(Case)).all()
        assert sorted(c.no for c in cases) == list(range(1, len(cases) + 1))
        assert len(cases) == sum(1 for r in rows if r.outcome == "case")
        # one answer about a case per message that opened, repeated or joined one, except a
        # repeat moments after the last one answered (outcome added_quietly)
        answers = session.exec(select(OutboxMessage.case_id).where(
            col(OutboxMessage.case_id).is_not(None))).all()
        assert len(answers) == sum(1 for r in rows if r.outcome in ("case", "repeat", "support"))
        assert {c.id for c in cases} <= set(answers)
