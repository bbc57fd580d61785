"""Digests: what each grid worker has on their plate every morning, the weekly report to the
community staff groups and the township (一周一督查), and optionally a short daily summary into
residents' groups.

Each digest belongs to a period and is recorded in ``digest_runs`` under a unique key
("daily:2026-11-25", "weekly:2026-W48"), in the same transaction as its outbox rows: it goes out
once, even across restarts or with several processes sweeping. A digest whose time passed while
gridbot was down is still sent within ``GRACE``; later it is skipped (a morning digest at night
helps nobody) and the skip is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers import stats
from handlers.cases import workflow
from handlers.cases.relay import case_facts
from handlers.cases.timers import current_due
from handlers.context import Context
from handlers.texts import formats
from storage import queries
from storage.models import (
    Case,
    CaseStatus,
    ChatGroup,
    Community,
    DigestRun,
    Grid,
    GroupKind,
    Person,
    Priority,
    Role,
    Street,
)

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
LIST_LIMIT = 5  # cases named one by one in a worker's digest; the rest are counted


@dataclass(frozen=True)
class DigestTimes:
    """Local times of day; None turns a digest off. ``weekly_day``: 0 = Monday."""

    daily: time | None = time(8, 30)
    weekly_day: int = 0
    weekly: time | None = time(9, 0)
    resident_summary: time | None = None


def run_due_digests(session: Session, ctx: Context, times: DigestTimes) -> int:
    """Send every digest whose time has come and that has not gone out; returns the messages
    queued."""
    now = ctx.now()
    queued = 0
    jobs: list[tuple[str, time | None, int | None, Callable[..., int]]] = [
        ("daily", times.daily, None, _daily),
        ("weekly", times.weekly, times.weekly_day, _weekly),
        ("summary", times.resident_summary, None, _summary),
    ]
    for kind, at, weekday, send in jobs:
        if at is None:
            continue
        moment = _latest(at, weekday, now, ctx)
        key = _key(kind, moment.date())
        if session.exec(select(DigestRun.id).where(DigestRun.key == key)).first():
            continue
        late = now - moment > GRACE
        try:
            with session.begin_nested():
                messages = -1 if late else send(session, ctx, moment)
                session.add(DigestRun(key=key, kind=kind, messages=messages, at=now))
                session.flush()
        except IntegrityError:
            continue  # another process got there first
        if late:
            log.info("%s digest of %s skipped: gridbot was not running at its time", kind,
                     moment.date())
        else:
            queued += messages
    return queued


def _latest(at: time, weekday: int | None, now: datetime, ctx: Context) -> datetime:
    """The most recent scheduled moment at or before ``now`` (on ``weekday`` if given)."""
    today = now.astimezone(ctx.calendar.tz).date()
    for back in range(8):
        day = today - timedelta(days=back)
        moment = datetime.combine(day, at, tzinfo=ctx.calendar.tz)
        if (weekday is None or day.weekday() == weekday) and moment <= now:
            return moment
    raise AssertionError("a weekly moment always falls within eight days")


# --- the worker's morning digest ------------------------------------------------------------------


def _daily(session: Session, ctx: Context, moment: datetime) -> int:
    sent = 0
    workers = session.exec(select(Person).where(Person.role == Role.GRID_WORKER)
                           .where(col(Person.grid_id).is_not(None)).order_by(col(Person.id)))
    for worker in workers.all():
        plate = worker_plate(session, ctx, worker, moment)
        if not (plate["new"] or plate["open"]):
            continue  # nothing to say: spare the send budget
        queries.enqueue(session, contact_id=worker.contact_id, priority=Priority.BULK,
                        text=ctx.texts.render("digest_daily", **plate))
        sent += 1
    return sent


def worker_plate(session: Session, ctx: Context, worker: Person,
                 moment: datetime) -> dict[str, Any]:
    """A grid worker's cases at ``moment``: new in the last 24 hours, open, overdue, due today."""
    grid = session.get(Grid, worker.grid_id) if worker.grid_id else None
    open_cases = list(session.exec(
        select(Case).where(Case.grid_id == worker.grid_id)
        .where(col(Case.status).in_(list(workflow.OPEN_STATES))).order_by(col(Case.no))).all())
    new = session.exec(select(Case.id).where(Case.grid_id == worker.grid_id)
                       .where(col(Case.created_at) >= moment - timedelta(days=1))
                       .where(Case.status != CaseStatus.MERGED)).all()
    end_of_day = datetime.combine(moment.astimezone(ctx.calendar.tz).date() + timedelta(days=1),
                                  time.min, tzinfo=ctx.calendar.tz)
    overdue = [c for c in open_cases if (d := current_due(c)) is not None and d <= moment]
    due_today = [c for c in open_cases if (d := current_due(c)) is not None
                 and moment < d < end_of_day]

    def lines(cases: list[Case]) -> list[dict[str, Any]]:
        return [{**case_facts(ctx, c), "status": workflow.STATUS_NAMES[c.status],
                 "due": ctx.when(current_due(c)), "urgent": c.urgent}
                for c in cases[:LIST_LIMIT]]

    return {"worker": worker.name, "grid": grid.name if grid else "", "new": len(new),
            "open": len(open_cases), "overdue": lines(overdue), "overdue_count": len(overdue),
            "due_today": lines(due_today), "due_today_count": len(due_today),
            "more": LIST_LIMIT}


# --- the weekly report ----------------------------------------------------------------------------


def _weekly(session: Session, ctx: Context, moment: datetime) -> int:
    """Last week's figures: each community's grids to its staff group, every grid ranked to the
    township group."""
    last_week = moment.astimezone(ctx.calendar.tz).date() - timedelta(days=7)
    start, end = stats.week_bounds(last_week, ctx.calendar.tz)
    grids = stats.grid_figures(session, start=start, end=end, now=ctx.now())
    last = end - timedelta(days=1)
    period = formats("period", first_month=start.month, first_day=start.day,
                     last_month=last.month, last_day=last.day)
    sent = 0
    for group in session.exec(select(ChatGroup).where(
            col(ChatGroup.kind).in_([GroupKind.STAFF, GroupKind.TOWNSHIP]))
            .order_by(col(ChatGroup.id))).all():
        if group.kind == GroupKind.STAFF:
            mine = [g for g in grids if g.community_id == group.community_id]
            community = session.get(Community, group.community_id or 0)
            scope = community.name if community else group.topic
        else:
            mine, scope = grids, _street_name(session, group)
        if not mine:
            continue
        queries.enqueue(session, room_id=group.room_id, priority=Priority.BULK,
                        text=ctx.texts.render("digest_weekly", scope=scope, period=period,
                                              total=_row(stats.total(mine)),
                                              ranking=_ranking(mine),
                                              weights={k: round(v * 100) for k, v in
                                                       stats.RANK_WEIGHTS.items()}))
        sent += 1
    return sent


def _ranking(grids: list[stats.GridFigures]) -> list[dict[str, Any]]:
    return [{"rank": r.rank, "score": r.score, "grid": r.grid.grid, **_row(r.grid.figures)}
            for r in stats.rank_grids(grids)]


def _row(f: stats.Figures) -> dict[str, Any]:
    """A grid's figures as people read them: 办结率 96%, 平均首次响应 1.5小时, — when unknown."""
    return {"new": f.new, "resolved": f.resolved, "open": f.open, "overdue": f.overdue,
            "closure": _pct(f.closure_rate), "on_time": _pct(f.on_time_rate),
            "satisfaction": _pct(f.satisfaction_rate),
            "response": _hours(f.avg_response_hours)}


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _hours(hours: float | None) -> str:
    return formats("duration", hours=hours, spaced=False)


def _street_name(session: Session, group: ChatGroup) -> str:
    street = session.get(Street, group.street_id or 0)
    return street.name if street else group.topic


# --- the residents' daily summary -----------------------------------------------------------------


def _summary(session: Session, ctx: Context, moment: datetime) -> int:
    """One line a day into each residents' group that had cases that day, instead of silence
    about cases closed without a post."""
    day_start = datetime.combine(moment.astimezone(ctx.calendar.tz).date(), time.min,
                                 tzinfo=ctx.calendar.tz)
    sent = 0
    for group in session.exec(select(ChatGroup).where(ChatGroup.kind == GroupKind.RESIDENT)
                              .where(col(ChatGroup.grid_id).is_not(None))
                              .order_by(col(ChatGroup.id))).all():
        cases = session.exec(select(Case).where(Case.group_id == group.id)
                             .where(Case.status != CaseStatus.MERGED)).all()
        new = sum(1 for c in cases if day_start <= c.created_at <= moment)
        done = sum(1 for c in cases if c.resolved_at and day_start <= c.resolved_at <= moment)
        if not (new or done):
            continue
        still_open = sum(1 for c in cases if workflow.is_open(c.status))
        queries.enqueue(session, room_id=group.room_id, priority=Priority.BULK,
                        text=ctx.texts.render("digest_summary", new=new, done=done,
                                              open=still_open))
        sent += 1
    return sent


def _key(kind: str, day: date) -> str:
    if kind == "weekly":
        year, week, _ = day.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"{kind}:{day.isoformat()}"

