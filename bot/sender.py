"""The outbox sender: rows are persisted by the domain, sent here, then marked.

One sender per bot account, pacing every send (a minimum gap plus random jitter), because WeChat
punishes bursts. Urgent rows carry a higher priority and go first. A failed send is retried with
backoff and, after `max_attempts`, marked failed for staff to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from bot.config import SendingSettings
from bot.retry import after_failure
from bot.transport.base import BaseTransport
from storage import queries
from storage.db import session_scope
from storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0


class OutboxSender:
    def __init__(self, engine: Engine, transport: BaseTransport, settings: SendingSettings, *,
                 max_attempts: int = 5, retry_seconds: float = 10.0) -> None:
        self._engine = engine
        self._transport = transport
        self._settings = settings
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_send = 0.0
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            rows = await asyncio.to_thread(self._due)
            for row in rows:
                await self._pace()
                await self._send(row)
            if not rows:
                wait = await asyncio.to_thread(self._seconds_to_next_retry)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    def _due(self) -> list[OutboxMessage]:
        with session_scope(self._engine) as session:
            return list(queries.due_outbox(session, now=datetime.now(UTC)))

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
        try:
            await self._transport.send_text(room_id=row.room_id, contact_id=row.contact_id,
                                            text=row.text, mention_ids=row.mention_ids)
        except Exception as exc:
            self._last_send = time.monotonic()
            await asyncio.to_thread(self._mark_failed, row.id, exc)
            return
        self._last_send = time.monotonic()
        self.sent += 1
        await asyncio.to_thread(self._mark_sent, row.id)

    def _mark_sent(self, row_id: int | None) -> None:
        with session_scope(self._engine) as session:
            row = session.get(OutboxMessage, row_id)
            if row is not None:
                row.status = OutboxStatus.SENT
                row.sent_at = datetime.now(UTC)
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
            if verdict.give_up:
                row.status = OutboxStatus.FAILED
                log.error("outbox %s failed for good after %d attempts: %s", row_id,
                          row.attempts, row.last_error)
            else:
                log.warning("outbox %s send failed (attempt %d), retry in %ss: %s", row_id,
                            row.attempts, verdict.delay_seconds, row.last_error)
