"""Repeat rules: when a repeating notice is due next.

Staff write a rule as a standard five-field crontab ("0 9 * * 1": Mondays 9:00), or in the words
they use ("每周一 9:00", "每天 8:30", "工作日 17:00", "每月1日 9:00"). Times are the deployment's
local time. APScheduler's CronTrigger does the calendar arithmetic; this module only translates the
rule, because APScheduler 3 numbers weekdays from Monday = 0 while crontab counts Sunday = 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from handlers.notices.errors import NoticeError

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab: 0 (and 7) = Sunday
_APS_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler: 0 = Monday
_CN_DAYS = {"一": "mon", "二": "tue", "三": "wed", "四": "thu", "五": "fri", "六": "sat",
            "日": "sun", "天": "sun", "末": "sat,sun"}
_TIME = r"(?P<h>\d{1,2})\s*[:：点]\s*(?P<m>\d{1,2})?\s*分?"
_WORDS = [
    (re.compile(rf"^每天\s*{_TIME}$"), lambda m: "*"),
    (re.compile(rf"^(?:每个)?工作日\s*{_TIME}$"), lambda m: "mon-fri"),
    (re.compile(rf"^每(?:周|星期|礼拜)(?P<d>[一二三四五六日天末])\s*{_TIME}$"),
     lambda m: _CN_DAYS[m["d"]]),
]
_MONTHLY = re.compile(rf"^每月\s*(?P<day>\d{{1,2}})\s*[日号]\s*{_TIME}$")


_ONE_SECOND = timedelta(seconds=1)


class RuleError(NoticeError):
    """A repeat rule that cannot be understood; the message says why, in Chinese."""


@dataclass(frozen=True)
class RepeatRule:
    text: str  # as staff wrote it
    trigger: CronTrigger

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence strictly after ``moment``."""
        return self.trigger.get_next_fire_time(None, moment.replace(microsecond=0)
                                               + _ONE_SECOND)


def parse_rule(text: str, tz: ZoneInfo) -> RepeatRule:
    rule = re.sub(r"\s+", " ", (text or "").strip())
    if not rule:
        raise RuleError("empty_rule")
    fields = _from_words(rule) or rule.split(" ")
    if len(fields) != 5:
        raise RuleError("unreadable_rule", rule=rule)
    minute, hour, day, month, dow = fields
    try:
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month,
                              day_of_week=_weekdays(dow), timezone=tz)
    except ValueError as exc:
        raise RuleError("bad_rule", rule=rule, detail=str(exc)) from None
    return RepeatRule(rule, trigger)


def _from_words(rule: str) -> list[str] | None:
    for pattern, days in _WORDS:
        if m := pattern.match(rule):
            return [str(int(m["m"] or 0)), str(int(m["h"])), "*", "*", days(m)]
    if m := _MONTHLY.match(rule):
        return [str(int(m["m"] or 0)), str(int(m["h"])), str(int(m["day"])), "*", "*"]
    return None


def _weekdays(field: str) -> str:
    """Crontab weekday numbers to names APScheduler reads the same way."""
    if field in ("*", "?"):
        return "*"
    parts = []
    for part in field.lower().split(","):
        span, slash, step = part.partition("/")
        names = [_CRON_DAYS[int(x) % 7] if x.isdigit() else x for x in span.split("-")]
        if len(names) == 2 and _APS_ORDER.index(names[0]) > _APS_ORDER.index(names[1]):
            # sun-sat in crontab is every day; in Monday-first order it wraps: split it
            parts += [f"{names[0]}-sun", f"mon-{names[1]}"]
            continue
        parts.append("-".join(names) + (slash + step if slash else ""))
    return ",".join(parts)

