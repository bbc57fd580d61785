"""Retry bookkeeping shared by the inbound worker and the outbox sender: count the attempt, keep
the error, and either schedule the next try with exponential backoff or give up for good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Verdict:
    error: str
    give_up: bool
    next_attempt_at: datetime | None
    delay_seconds: float


def after_failure(*, attempts: int, max_attempts: int, base_seconds: float, exc: Exception,
                  now: datetime) -> Verdict:
    """``attempts`` counts the one that just failed."""
    error = f"{type(exc).__name__}: {exc}"[:1000]
    if attempts >= max_attempts:
        return Verdict(error, True, None, 0.0)
    delay = base_seconds * 2 ** (attempts - 1)
    return Verdict(error, False, now + timedelta(seconds=delay), delay)
