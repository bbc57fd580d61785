"""Deadlines of the closed loop, from handlers/data/deadlines.toml (staff tune it)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from handlers.texts import formats
from handlers.worktime import WorkCalendar

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "deadlines.toml"


@dataclass(frozen=True)
class Deadline:
    accept_minutes: int
    working_time: bool
    resolve_minutes: int | None = None
    resolve_workdays: int | None = None
    remind_before_minutes: int = 30

    @property
    def phrase(self) -> str:
        """The acceptance promise as a person reads it: 15分钟, 2个工作小时, 90分钟."""
        return formats("promise", minutes=self.accept_minutes, working=self.working_time)

    def accept_due(self, start: datetime, calendar: WorkCalendar) -> datetime:
        return calendar.add(start, self.accept_minutes, working=self.working_time)

    def resolve_due(self, start: datetime, calendar: WorkCalendar) -> datetime:
        if self.resolve_workdays is not None:
            return calendar.add_workdays(start, self.resolve_workdays)
        return calendar.add(start, self.resolve_minutes or 0, working=self.working_time)


@dataclass(frozen=True)
class Deadlines:
    normal: Deadline
    urgent: Deadline
    by_category: dict[str, Deadline]
    escalate_staff_after: timedelta
    followup_remind_after: timedelta
    followup_close_after: timedelta
    urge_interval: timedelta

    def for_case(self, *, urgent: bool, category: str | None = None) -> Deadline:
        if urgent:
            return self.urgent
        return self.by_category.get(category or "", self.normal)


def load_deadlines(path: Path | None = None) -> Deadlines:
    raw = tomllib.loads((path or DEFAULT_FILE).read_text(encoding="utf-8"))
    normal = _deadline(raw.get("normal", {}), None)
    return Deadlines(
        normal=normal,
        urgent=_deadline(raw.get("urgent", {}), None),
        by_category={k: _deadline(v, normal) for k, v in raw.get("category", {}).items()},
        escalate_staff_after=timedelta(
            minutes=raw.get("escalation", {}).get("staff_after_minutes", 120)),
        followup_remind_after=timedelta(
            hours=raw.get("followup", {}).get("remind_after_hours", 24)),
        followup_close_after=timedelta(hours=raw.get("followup", {}).get("close_after_hours", 72)),
        urge_interval=timedelta(minutes=raw.get("urge", {}).get("min_interval_minutes", 60)),
    )


def _deadline(body: dict[str, Any], base: Deadline | None) -> Deadline:
    if base is not None:
        values = {k: v for k, v in body.items() if k in Deadline.__dataclass_fields__}
        if "resolve_minutes" in values:
            values.setdefault("resolve_workdays", None)
        if "resolve_workdays" in values:
            values.setdefault("resolve_minutes", None)
        return replace(base, **values)
    return Deadline(
        accept_minutes=int(body.get("accept_minutes", 120)),
        working_time=bool(body.get("working_time", True)),
        resolve_minutes=body.get("resolve_minutes"),
        resolve_workdays=body.get("resolve_workdays"),
        remind_before_minutes=int(body.get("remind_before_minutes", 30)),
    )
