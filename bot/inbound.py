"""Inbound messages: stored first, processed after, retried or parked on failure, never lost.

The transport's callback only writes the message to the inbound log and queues its row id; one
worker processes rows in order. At start-up, and every few seconds, rows left pending by a crash
or failed earlier are queued again, so nothing stored is ever forgotten.

**Group commit.** Under load the worker takes every row waiting in the queue (up to
``BATCH_MAX``) and processes them in one transaction, one commit for all: a commit costs more than
classifying a chit-chat message, so a city's traffic would otherwise spend most of its time
committing. Each message still runs inside a savepoint of its own, so one that fails is rolled
back alone and recorded for a retry while the others commit. A batch that cannot commit at all
is processed again one message per transaction. A crash before the commit leaves every row of
the batch pending, processed again after the restart, exactly as for a single message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import ProcessingSettings
from bot.faults import crash_point
from bot.metrics import Metrics
from bot.retry import after_failure
from bot.transport.base import ChatMessage
from handlers.context import Context
from handlers.intake.pipeline import FLOOD_WINDOW, Outcome, Result, handle_inbound
from storage import queries
from storage.db import session_scope
from storage.models import InboundMessage, InboundStatus

log = logging.getLogger(__name__)

MAX_TEXT = 20_000  # default: a longer text is stored cut ([limits] max_message_chars)
BATCH_MAX = 100  # rows processed under one commit at most (a batch holds SQLite's write lock)


def clean(value: str | None, limit: int) -> str:
    """What a transport hands over, made storable everywhere: cut to ``limit``, and NUL
    characters (which PostgreSQL text cannot hold) replaced by U+FFFD, on every database alike."""
    return (value or "")[:limit].replace("\x00", "\ufffd")


class InboundProcessor:
    def __init__(self, engine: Engine, ctx: Context, *, transport: str,
                 settings: ProcessingSettings, on_sendable: Callable[[], None],
                 account: str | None = None, max_text: int = MAX_TEXT,
                 metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._metrics = metrics or Metrics()
        self._account = account
        self._max_text = max_text
        self._ctx = ctx
        self._transport = transport
        self._settings = settings
        self._on_sendable = on_sendable
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._to_store: list[tuple[ChatMessage, asyncio.Future[int | None]]] = []
        self._storer: asyncio.Task[None] | None = None
        self._queued: set[int] = set()  # so the sweeper does not queue a row twice
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False  # a row is being processed
        self._stopping = False
        self.processed = 0
        # told the inbound message ids of each committed unit of work (bench/intake_load.py
        # measures receipt-to-commit latency with it); called in the worker thread
        self.on_processed: Callable[[list[str]], None] | None = None
        self.batch_max = BATCH_MAX

    @property
    def context(self) -> Context:
        return self._ctx

    @context.setter
    def context(self, ctx: Context) -> None:
        self._ctx = ctx

    async def receive(self, msg: ChatMessage) -> None:
        """The transport's callback: store, then queue. Returns once the message is durable.
        Messages arriving together are stored together, in one transaction (see
        ``_store_waiting``)."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._to_store.append((msg, future))
        if self._storer is None or self._storer.done():
            self._storer = asyncio.create_task(self._store_waiting(), name="inbound-storer")
        row_id = await future
        self._metrics.messages_in.labels(kind=msg.kind).inc()
        crash_point("inbound.stored")
        if row_id is not None:
            self._enqueue(row_id)

    async def _store_waiting(self) -> None:
        """Store every message waiting, up to ``batch_max`` per transaction, until none waits.
        A commit costs more than an INSERT, so under load one commit serves many messages; a
        lone message is stored at once, without waiting for company."""
        while self._to_store:
            batch = self._to_store[:self.batch_max]
            del self._to_store[:self.batch_max]
            try:
                ids = await asyncio.to_thread(self._store_many, [m for m, _ in batch])
            except Exception as exc:  # nothing of the batch is stored: each caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), row_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(row_id)

    def _enqueue(self, row_id: int) -> None:
        if row_id not in self._queued:
            self._queued.add(row_id)
            self._queue.put_nowait(row_id)

    def _row(self, msg: ChatMessage) -> InboundMessage:
        return InboundMessage(
            transport=self._transport, account=self._account or "",
            message_id=clean(msg.id, 200), room_id=clean(msg.room_id, 200) or None,
            sender_id=clean(msg.sender_id, 200), sender_name=clean(msg.sender_name, 100),
            kind=msg.kind, text=clean(msg.text, self._max_text),
            mentions=[clean(m, 200) for m in msg.mentions],
            mentions_bot=msg.mentions_bot, sent_at=msg.at,
        )

    def _store(self, msg: ChatMessage) -> int | None:
        """Store one message; its row id, or None for a duplicate delivery."""
        return self._store_many([msg])[0]

    def _store_many(self, msgs: Sequence[ChatMessage]) -> list[int | None]:
        """Store messages in one transaction; each one's row id, or None for a duplicate
        delivery (the transport's id seen before, or earlier in the same batch)."""
        rows = [self._row(m) for m in msgs]
        with session_scope(self._engine) as session:
            stored = queries.record_inbound_many(session, rows)
        ids: list[int | None] = []
        for row in rows:
            row_id = stored.pop(row.message_id, None)
            if row_id is None:
                log.info("duplicate delivery of %s message %s ignored", self._transport,
                         row.message_id)
            ids.append(row_id)
        return ids

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name="inbound-worker"),
                       asyncio.create_task(self._sweep(), name="inbound-sweeper")]

    async def stop(self, timeout: float = 10.0) -> None:
        """Take no new rows and let the one in hand finish; the queue is left in the database
        (still pending) for the next start."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self._busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drain(self) -> None:
        """Wait until everything queued so far is processed (tests and graceful shutdown)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            row_ids = [await self._queue.get()]
            while len(row_ids) < self.batch_max and not self._queue.empty():
                row_ids.append(self._queue.get_nowait())
            try:
                if self._stopping:
                    continue
                self._busy = True
                results = await asyncio.to_thread(self.process_batch, row_ids)
                if any(r is not None for r in results):
                    self._on_sendable()
            except Exception:
                # not even the failure could be recorded (the database is away): the rows are
                # still pending in the log, and the sweeper queues them again
                log.exception("inbound messages %s: could not process or record the failure",
                              row_ids)
            finally:
                self._busy = False
                for row_id in row_ids:
                    self._queued.discard(row_id)
                    self._queue.task_done()

    async def _sweep(self) -> None:
        while True:
            try:
                ids = await asyncio.to_thread(self._due_for_retry)
            except Exception:
                log.exception("inbound sweeper: database error; retrying shortly")
                ids = []
            for row_id in ids:
                self._enqueue(row_id)
            await asyncio.sleep(self._settings.retry_seconds / 6 or 1)

    def _due_for_retry(self) -> list[int]:
        with session_scope(self._engine) as session:
            return list(queries.inbound_to_retry(session, now=datetime.now(UTC),
                                                 account=self._account or ""))

    def process(self, row_id: int) -> Result | None:
        """Process one stored message in one transaction; on failure, record it for a retry."""
        try:
            with session_scope(self._engine) as session:
                row = session.get(InboundMessage, row_id)
                if not self._mine(row):
                    return None
                result = handle_inbound(session, self._ctx, row)
                crash_point("inbound.processing")
                self._mark_done(session, row, result)
                done = _Done(row.message_id, row.received_at, result)
            self._after_commit([done])
            return result
        except Exception as exc:
            self._metrics.processing_failures.inc()
            self._record_failure(row_id, exc)
            return None

    def process_batch(self, row_ids: Sequence[int]) -> list[Result | None]:
        """Process several stored messages, in the order given, under one commit (see the
        module docstring). The batch's groups, senders and flood counts are loaded in one query
        each first. It runs without savepoints at first (three statements fewer per message);
        if any message fails, that attempt is rolled back whole and the batch runs again with a
        savepoint per message, so the failing one is rolled back and recorded alone. Returns
        each row's result (None: skipped or failed).
        """
        if len(row_ids) == 1:
            return [self.process(row_ids[0])]
        try:
            try:
                results, done, failures = self._run_batch(row_ids, isolate=False)
            except _MessageFailed:
                results, done, failures = self._run_batch(row_ids, isolate=True)
        except Exception:
            # the batch could not commit (the database went away, a conflict at commit time):
            # each message again in a transaction of its own, so none holds up the others
            log.warning("inbound batch of %d could not commit; processing one by one",
                        len(row_ids), exc_info=True)
            return [self.process(row_id) for row_id in row_ids]
        self._metrics.processing_failures.inc(failures)
        self._after_commit(done)
        return results

    def _run_batch(self, row_ids: Sequence[int], *, isolate: bool
                   ) -> tuple[list[Result | None], list[_Done], int]:
        """One attempt at a batch in one transaction. ``isolate``: each message in a savepoint,
        a failing one recorded for a retry; otherwise the first failure raises
        ``_MessageFailed`` and the whole attempt is rolled back."""
        with session_scope(self._engine) as session:
            _begin_write(session)
            by_id = {row.id: row for row in session.exec(
                select(InboundMessage).where(col(InboundMessage.id).in_(row_ids)))}
            rows = [by_id.get(row_id) for row_id in row_ids]
            queries.preload_inbound(session, [r for r in rows if r is not None and self._mine(r)],
                                    window=FLOOD_WINDOW)
            results: list[Result | None] = []
            done: list[_Done] = []
            failures = 0
            plain: dict[str, list[int]] = {}  # outcome -> rows marked done together at the end
            for row in rows:
                if row is None or not self._mine(row):
                    results.append(None)
                    continue
                try:
                    with session.begin_nested() if isolate else contextlib.nullcontext():
                        result = handle_inbound(session, self._ctx, row)
                        if isolate or not _plain(result):
                            self._mark_done(session, row, result)
                        else:
                            plain.setdefault(result.outcome, []).append(row.id or 0)
                        if isolate:
                            session.flush()
                except Exception as exc:
                    if not isolate:
                        raise _MessageFailed from exc
                    queries.forget_preloaded(session)  # may hold what was rolled back
                    failures += 1
                    self._apply_failure(row, exc)
                    results.append(None)
                    continue
                results.append(result)
                done.append(_Done(row.message_id, row.received_at, result))
            for outcome, ids in plain.items():
                queries.mark_inbound_done(session, ids=ids, outcome=outcome, at=datetime.now(UTC))
            crash_point("inbound.processing")
            queries.forget_preloaded(session)
        return results, done, failures

    def _mine(self, row: InboundMessage | None) -> bool:
        """Still to process, and received by this process's account: another account's row is
        that process's to handle, however long it waits in its queue."""
        return (row is not None and row.account == (self._account or "")
                and row.status not in (InboundStatus.DONE, InboundStatus.PARKED))

    def _mark_done(self, session: Session, row: InboundMessage, result: Result) -> None:
        row.status = InboundStatus.DONE
        row.outcome = result.outcome
        row.processed_at = datetime.now(UTC)
        row.error = None
        if result.case_no is not None:
            case = queries.get_case(session, no=result.case_no)
            row.case_id = case.id if case else None

    def _after_commit(self, done: list[_Done]) -> None:
        """Metrics and listeners, once the work is durable. The latency is from receipt to
        the commit that made the outcome (a case, its acknowledgement) durable."""
        now = datetime.now(UTC)
        self.processed += len(done)
        for d in done:
            self._metrics.processed.labels(outcome=str(d.result.outcome)).inc()
            self._metrics.latency.observe(max((now - d.received_at).total_seconds(), 0.0))
            if d.result.outcome == "case":
                self._metrics.cases_opened.inc()
        if self.on_processed is not None and done:
            self.on_processed([d.message_id for d in done])

    def _record_failure(self, row_id: int, exc: Exception) -> None:
        with session_scope(self._engine) as session:
            row = session.get(InboundMessage, row_id)
            if row is None:
                return
            self._apply_failure(row, exc)

    def _apply_failure(self, row: InboundMessage, exc: Exception) -> None:
        row.attempts += 1
        verdict = after_failure(attempts=row.attempts, max_attempts=self._settings.max_attempts,
                                base_seconds=self._settings.retry_seconds, exc=exc,
                                now=datetime.now(UTC))
        row.error = verdict.error
        row.next_attempt_at = verdict.next_attempt_at
        if verdict.give_up:
            row.status = InboundStatus.PARKED
            log.error("inbound message %s (%s %s) parked after %d attempts: %s", row.id,
                      row.transport, row.message_id, row.attempts, row.error, exc_info=exc)
        else:
            row.status = InboundStatus.FAILED
            log.warning("inbound message %s (%s %s) failed, retry %d in %ss: %s", row.id,
                        row.transport, row.message_id, row.attempts, verdict.delay_seconds,
                        row.error, exc_info=exc)


def _plain(result: Result) -> bool:
    """An outcome nothing else in the batch reads back (no case to link, not the slow-down
    notice that a flooder's next message looks for): its row is marked done with the others
    of its outcome in one UPDATE at the end of the batch, not one UPDATE per message."""
    return result.case_no is None and result.outcome != Outcome.THROTTLED_TOLD


class _MessageFailed(Exception):
    """A message of a batch processed without savepoints failed: run the batch again with
    them."""


@dataclass(frozen=True)
class _Done:
    message_id: str
    received_at: datetime
    result: Result


def _begin_write(session: Session) -> None:
    """Open the batch's transaction now, as a write transaction. SQLite's Python driver begins
    a transaction only at the first INSERT/UPDATE, so a SAVEPOINT issued before it would be the
    outermost one, and releasing it would commit: every message would commit on its own and a
    crash mid-batch would leave half of it. BEGIN IMMEDIATE also takes the write lock at once
    (waiting the busy timeout), where a read transaction upgraded later could fail outright
    when another connection wrote meanwhile. PostgreSQL needs nothing."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
