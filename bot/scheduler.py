"""The periodic jobs of one process, on APScheduler.

Jobs carry no state of their own: the case timers are recomputed from the database on every
run (handlers/cases/timers.py), so a restart loses nothing and a job that ran while the process
was down simply catches up on its first run. Job ids are fixed, so a job is never added twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

CASE_TIMERS_JOB = "case-timers"


class Scheduler:
    def __init__(self, case_timers: Callable[[], Awaitable[int]], *,
                 interval_seconds: float) -> None:
        self._case_timers = case_timers
        self._interval = interval_seconds
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self._run_case_timers, IntervalTrigger(seconds=self._interval),
            id=CASE_TIMERS_JOB, replace_existing=True, max_instances=1, coalesce=True,
            next_run_time=datetime.now(UTC),  # catch up at once after a restart
        )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _run_case_timers(self) -> None:
        try:
            steps = await self._case_timers()
            if steps:
                log.info("case timers: %d reminders, escalations or follow-ups", steps)
        except Exception:
            log.exception("case timers failed; the next run will try again")
