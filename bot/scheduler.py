"""The periodic jobs of one process, on APScheduler.

Jobs carry no state of their own: case timers, notices and digests are recomputed from the database
on every run (the notice rows are the schedule), so a restart loses nothing and a job that was due
while the process was down catches up on its first run. Job ids are fixed, so a job is never added
twice; besides the periodic sweeps, a one-shot job wakes the notice sweep at the exact moment the
next notice is due.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def every(self, job_id: str, seconds: float, job: Job) -> None:
        """Run ``job`` now and then every ``seconds``; a run still going is not doubled."""
        self._scheduler.add_job(
            _guarded(job_id, job), IntervalTrigger(seconds=seconds), id=job_id,
            replace_existing=True, max_instances=1, coalesce=True,
            next_run_time=datetime.now(UTC),  # catch up at once after a restart
        )

    def at(self, job_id: str, moment: datetime, job: Job) -> None:
        """Run ``job`` once at ``moment`` (replacing an earlier wake-up with the same id)."""
        self._scheduler.add_job(_guarded(job_id, job), DateTrigger(run_date=moment), id=job_id,
                                replace_existing=True, misfire_grace_time=None)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


def _guarded(job_id: str, job: Job) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("scheduled job %s failed; its next run will try again", job_id)

    run.__name__ = job_id  # what APScheduler logs
    return run
