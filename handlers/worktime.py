"""Working time: which days offices are open, and deadlines counted in office hours.

Chinese public holidays move every year and come with make-up working days (调休). The calendar
trusts, in order: the local data file (handlers/data/calendar.toml, which staff extend when next
year's schedule is announced), the chinese-calendar package (holidays and make-up days up to
2026), the holidays package (later years' holidays, without make-up days), and finally plain
weekends with a warning. It never raises for an unknown year.
"""

from __future__ import annotations

import logging
import tomllib
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays as holidays_lib

log = logging.getLogger(__name__)

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "calendar.toml"


class WorkCalendar:
    def __init__(self, *, periods: list[tuple[time, time]], holidays: set[date],
                 workdays: set[date], tz: ZoneInfo) -> None:
        if not periods or any(start >= end for start, end in periods):
            raise ValueError("office hours need at least one period with start before end")
        self.periods = sorted(periods)
        self._holidays = holidays
        self._workdays = workdays
        self.tz = tz
        self._warned: set[int] = set()

    @classmethod
    def load(cls, tz: ZoneInfo, path: Path | None = None) -> WorkCalendar:
        raw = tomllib.loads((path or DEFAULT_FILE).read_text(encoding="utf-8"))
        periods = [(time.fromisoformat(a), time.fromisoformat(b))
                   for a, b in raw.get("hours", {}).get("periods", [["09:00", "17:00"]])]
        days = raw.get("days", {})
        return cls(periods=periods, tz=tz,
                   holidays={date.fromisoformat(d) for d in days.get("holidays", [])},
                   workdays={date.fromisoformat(d) for d in days.get("workdays", [])})

    def is_workday(self, day: date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            pass
        if day in _china_holidays(day.year):
            return False
        if day.year not in self._warned:
            self._warned.add(day.year)
            log.warning("no make-up working days known for %s: add them to calendar.toml; "
                        "counting Monday to Friday except public holidays", day.year)
        return day.weekday() < 5

    def add_workdays(self, start: datetime, days: int) -> datetime:
        """The same time of day ``days`` working days later (the close of office hours if that
        time falls outside them)."""
        local = start.astimezone(self.tz)
        day, left = local.date(), days
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        close = self.periods[-1][1]
        moment = local.time() if local.time() <= close else close
        return datetime.combine(day, moment, self.tz).astimezone(start.tzinfo)

    def add(self, start: datetime, minutes: int, *, working: bool) -> datetime:
        """The moment ``minutes`` after ``start``: wall-clock, or counting office hours only."""
        if not working:
            return start + timedelta(minutes=minutes)
        local = start.astimezone(self.tz)
        remaining = timedelta(minutes=minutes)
        day = local.date()
        for _ in range(3660):  # ten years of days: a safety stop, never reached in practice
            if self.is_workday(day):
                for p_start, p_end in self.periods:
                    open_at = datetime.combine(day, p_start, self.tz)
                    close_at = datetime.combine(day, p_end, self.tz)
                    begin = max(open_at, local)
                    if begin >= close_at:
                        continue
                    if begin + remaining <= close_at:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= close_at - begin
            day += timedelta(days=1)
        raise RuntimeError("no working time found in ten years; check calendar.toml")


@lru_cache(maxsize=32)
def _china_holidays(year: int) -> frozenset[date]:
    try:
        return frozenset(holidays_lib.China(years=year).keys())
    except Exception:  # the library may not know a far-off year either
        return frozenset()
