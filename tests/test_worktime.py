"""Working time: weekends, lunch breaks, Chinese holidays with their make-up working days, the
local calendar file, and years nobody has entered yet."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.worktime import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.load(TZ)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 23), True),  # a Monday
        (date(2026, 11, 22), False),  # a Sunday
        (date(2026, 10, 5), False),  # National Day holiday, a Monday
        (date(2026, 10, 10), True),  # the Saturday made a working day (调休)
        (date(2026, 9, 20), True),  # the Sunday made a working day before it
    ],
)
def test_2026_from_the_library(calendar: WorkCalendar, day: date, working: bool) -> None:
    assert calendar.is_workday(day) is working


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (at(2026, 11, 23, 10, 0), 120, at(2026, 11, 23, 12, 0)),
        (at(2026, 11, 23, 11, 30), 60, at(2026, 11, 23, 14, 0)),  # over the lunch break
        (at(2026, 11, 20, 16, 30), 120, at(2026, 11, 23, 9, 30)),  # Friday → Monday
        (at(2026, 11, 21, 10, 0), 30, at(2026, 11, 23, 9, 0)),  # reported on a Saturday
        (at(2026, 11, 23, 20, 0), 30, at(2026, 11, 24, 9, 0)),  # reported in the evening
        (at(2026, 9, 30, 17, 0), 60, at(2026, 10, 8, 9, 0)),  # over National Day
    ],
)
def test_deadlines_in_working_hours(calendar: WorkCalendar, start: datetime, minutes: int,
                                    due: datetime) -> None:
    assert calendar.add(start, minutes, working=True) == due


def test_wall_clock_deadlines_ignore_the_calendar(calendar: WorkCalendar) -> None:
    assert calendar.add(at(2026, 10, 3, 23, 50), 15, working=False) == at(2026, 10, 4, 0, 5)


def test_working_days(calendar: WorkCalendar) -> None:
    assert calendar.add_workdays(at(2026, 11, 20, 10, 0), 1) == at(2026, 11, 23, 10, 0)
    assert calendar.add_workdays(at(2026, 9, 29, 10, 0), 3) == at(2026, 10, 9, 10, 0)
    # after office hours, the deadline is the close of that working day
    assert calendar.add_workdays(at(2026, 11, 23, 21, 0), 1) == at(2026, 11, 24, 17, 30)


def test_the_local_file_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text('[hours]\nperiods = [["09:00", "17:00"]]\n'
                    '[days]\nholidays = ["2026-11-23"]\nworkdays = ["2027-02-20"]\n',
                    encoding="utf-8")
    cal = WorkCalendar.load(TZ, path)
    assert cal.is_workday(date(2026, 11, 23)) is False  # overrides the library
    assert cal.is_workday(date(2027, 2, 20)) is True  # a Saturday staff marked as 调休
    assert cal.add(at(2026, 11, 24, 8, 0), 60, working=True) == at(2026, 11, 24, 10, 0)


def test_a_year_the_libraries_half_know_falls_back_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar.load(TZ)
    with caplog.at_level(logging.WARNING, logger="handlers.worktime"):
        assert cal.is_workday(date(2027, 1, 1)) is False  # a holiday from holidays.China
        assert cal.is_workday(date(2027, 1, 4)) is True
        assert cal.is_workday(date(2027, 1, 9)) is False  # a Saturday: no make-up days known
        assert cal.is_workday(date(2150, 3, 2)) is True  # nobody knows 2150; never a crash
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("2027" in w for w in warnings) == 1, "one warning per unknown year"
    assert any("calendar.toml" in w for w in warnings)


def test_bad_office_hours_are_refused() -> None:
    from datetime import time

    with pytest.raises(ValueError):
        WorkCalendar(periods=[(time(17), time(9))], holidays=set(), workdays=set(), tz=TZ)
