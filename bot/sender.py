"""The outbox sender: rows are persisted by the domain, sent here, then marked.

One sender per bot account, pacing every send (a minimum gap plus random jitter) and keeping to a
daily cap, because WeChat punishes bursts and volume. Urgent rows carry a higher priority, go
first and pass the cap; broadcasts wait behind conversation. Each row is claimed before it is sent
(a row cancelled or taken meanwhile is skipped); a claim left by a sender that died mid-send is
released after a while, so the row goes out rather than being lost. A failed send is retried with
backoff and, after `max_attempts`, marked failed for staff to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import SendingSettings
from bot.faults import crash_point
from bot.leader import holder_name
from bot.metrics import Metrics
from bot.retry import after_failure
from bot.transport.base import BaseTransport
from storage import queries
from storage.db import session_scope
from storage.models import OutboxMessage, OutboxStatus, Priority

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0
CLAIM_TIMEOUT = timedelta(minutes=2)  # a claim older than this belonged to a dead sender


class OutboxSender:
    def __init__(self, engine: Engine, transport: BaseTransport, settings: SendingSettings, *,
                 max_attempts: int = 5, retry_seconds: float = 10.0,
                 tz: ZoneInfo | None = None, account: str | None = None,
                 holder: str | None = None, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._metrics = metrics or Metrics()
        self._account = account
        self._holder = holder or holder_name(account or "")
        self._tz = tz or ZoneInfo("Asia/Shanghai")
        self._capped_day: str | None = None  # the local day the cap was hit, logged once
        self._transport = transport
        self._settings = settings
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._predecessor_released = False
        self._task: asyncio.Task[None] | None = None
        self._last_send = 0.0
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the message being sent, send no more. A send that hangs past ``timeout`` is
        cancelled; its row is released later and sent again (at least once, never lost)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        released_at = 0.0
        while not self._stopping:
            self._wake.clear()
            try:
                if time.monotonic() - released_at > CLAIM_TIMEOUT.total_seconds() / 4:
                    await asyncio.to_thread(self._release_stale_claims)
                    released_at = time.monotonic()
                rows, budget = await asyncio.to_thread(self._due)
                attempted = 0
                for row in rows:
                    if budget is not None and row.priority < Priority.URGENT:
                        if budget <= 0:
                            continue  # over the daily cap: waits for tomorrow
                        budget -= 1
                    await self._pace()
                    if self._stopping:
                        return
                    await self._send(row)
                    attempted += 1
                wait = 0.0 if attempted else await asyncio.to_thread(self._seconds_to_next_retry)
            except Exception:
                # the database went away for a moment: the rows are safe there, try again
                log.exception("outbox sender: database error; retrying shortly")
                wait = IDLE_POLL_SECONDS
            if wait and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    def _release_stale_claims(self) -> None:
        # our own earlier life on this host (same account and host, another pid) is surely dead
        me = self._holder.rpartition(":")[0] + ":"
        predecessor = None if self._predecessor_released else me
        with session_scope(self._engine) as session:
            n = queries.release_stale_claims(session, before=datetime.now(UTC) - CLAIM_TIMEOUT,
                                             predecessor=predecessor)
        self._predecessor_released = True
        if n:
            log.warning("%d outbox rows were claimed by a sender that stopped mid-send; "
                        "queued again", n)

    def _due(self) -> tuple[list[OutboxMessage], int | None]:
        """The rows to send now, and how many non-urgent sends today's cap still allows (None:
        no cap). Over the cap only urgent rows are fetched."""
        now = datetime.now(UTC)
        with session_scope(self._engine) as session:
            budget = self._budget(session, now) if self._settings.daily_cap else None
            min_priority = Priority.URGENT if budget is not None and budget <= 0 else None
            rows = queries.due_outbox(session, now=now, min_priority=min_priority,
                                      account=self._account)
            return list(rows), budget

    def _budget(self, session: Session, now: datetime) -> int:
        local = now.astimezone(self._tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        left = self._settings.daily_cap - queries.sent_since(session, since=midnight,
                                                             account=self._account)
        day = local.date().isoformat()
        if left <= 0 and self._capped_day != day:
            self._capped_day = day
            log.warning("daily send cap of %d reached; only urgent messages go out until "
                        "midnight", self._settings.daily_cap)
        return left

    def _seconds_to_next_retry(self) -> float:
        with session_scope(self._engine) as session:
            at = queries.next_outbox_retry(session)
        if at is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (at - datetime.now(UTC)).total_seconds()))

    async def _pace(self) -> None:
        gap = self._settings.min_interval_ms / 1000
        if self._settings.jitter_ms:
            gap += random.uniform(0, self._settings.jitter_ms / 1000)
        wait = self._last_send + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _send(self, row: OutboxMessage) -> None:
        if not await asyncio.to_thread(self._claim, row.id):
            return  # cancelled, or another sender took it
        crash_point("outbox.claimed")
        try:
            await self._transport.send_text(room_id=row.room_id, contact_id=row.contact_id,
                                            text=row.text, mention_ids=row.mention_ids)
            crash_point("outbox.sent")
        except Exception as exc:
            self._last_send = time.monotonic()
            self._metrics.send_failures.inc()
            await asyncio.to_thread(self._mark_failed, row.id, exc)
            return
        self._last_send = time.monotonic()
        self.sent += 1
        self._metrics.sends.inc()
        await asyncio.to_thread(self._mark_sent, row.id)

    def _claim(self, row_id: int | None) -> bool:
        with session_scope(self._engine) as session:
            return queries.claim_outbox(session, row_id=row_id or 0, now=datetime.now(UTC),
                                        by=self._holder)

    def _mark_sent(self, row_id: int | None) -> None:
        with session_scope(self._engine) as session:
            row = session.get(OutboxMessage, row_id)
            if row is not None:
                row.status = OutboxStatus.SENT
                row.sent_at = datetime.now(UTC)
                row.sent_by = self._account
                row.attempts += 1

    def _mark_failed(self, row_id: int | None, exc: Exception) -> None:
        with session_scope(self._engine) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                return
            row.attempts += 1
            verdict = after_failure(attempts=row.attempts, max_attempts=self._max_attempts,
                                    base_seconds=self._retry_seconds, exc=exc,
                                    now=datetime.now(UTC))
            row.last_error = verdict.error
            row.next_attempt_at = verdict.next_attempt_at
            row.status = OutboxStatus.PENDING
            if verdict.give_up:
                row.status = OutboxStatus.FAILED
                log.error("outbox %s failed for good after %d attempts: %s", row_id,
                          row.attempts, row.last_error)
            else:
                log.warning("outbox %s send failed (attempt %d), retry in %ss: %s", row_id,
                            row.attempts, verdict.delay_seconds, row.last_error)
