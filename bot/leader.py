"""Leader election on the database: of all the gridbot processes sharing one database, exactly
one runs the scheduled sweeps (case timers, notices, digests), and another takes over within a
lease's length when it dies.

A lease row is taken or renewed with one conditional UPDATE (holder is me, or the lease has run
out), which is atomic on SQLite and PostgreSQL alike; the leader renews every third of the lease
and gives it up on a graceful shutdown. Clocks of the hosts are assumed to agree to well within a
lease (NTP); a leader that cannot renew stops acting as leader before its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from storage import queries
from storage.db import session_scope

log = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"


def holder_name(account: str) -> str:
    return f"{account or 'default'}@{socket.gethostname()}:{os.getpid()}"


class Leadership:
    def __init__(self, engine: Engine, *, holder: str, ttl: float,
                 name: str = SCHEDULER_LEASE) -> None:
        self._engine = engine
        self._holder = holder
        self._ttl = ttl
        self._name = name
        self._valid_until = 0.0  # monotonic: when our own lease surely ends
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return time.monotonic() < self._valid_until

    async def start(self) -> None:
        await self.renew()
        self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.is_leader:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._release)
        self._valid_until = 0.0

    async def renew(self) -> bool:
        started = time.monotonic()
        was = self.is_leader
        try:
            won = await asyncio.to_thread(self._take)
        except Exception:
            log.exception("leadership: cannot reach the database")
            won = False
        # count the lease from before the round trip: never believe it longer than it lasts
        self._valid_until = started + self._ttl * 0.9 if won else 0.0
        if won and not was:
            log.info("this process now runs the scheduled jobs (%s)", self._holder)
        elif was and not won:
            log.warning("this process no longer runs the scheduled jobs (%s)", self._holder)
        return won

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            await self.renew()

    def _take(self) -> bool:
        with session_scope(self._engine) as session:
            return queries.take_lease(session, name=self._name, holder=self._holder,
                                      now=datetime.now(UTC), ttl=self._ttl)

    def _release(self) -> None:
        with session_scope(self._engine) as session:
            queries.release_lease(session, name=self._name, holder=self._holder,
                                  now=datetime.now(UTC))
