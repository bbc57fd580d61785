"""Publishing notices: accept one (or refuse it before anything is stored), send each occurrence
to its groups through the outbox, cancel what has not gone out, resend to quiet groups.

The notice row is its own schedule (``next_run_at``); every occurrence is a NoticeRun, unique per
notice and moment, created in the same transaction as its deliveries and their outbox rows. So an
occurrence is either wholly queued or not at all, a restart picks up exactly what is due, and two
sweeps reaching the same occurrence cannot both send it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.cases.relay import tell
from handlers.context import Context
from handlers.notices import compose
from handlers.notices.errors import NoticeError, NoticeForbidden
from handlers.notices.schedule import RepeatRule, parse_rule
from handlers.notices.targets import Targets, parse_targets, resolve_groups
from handlers.texts import event_note
from storage import queries
from storage.models import (
    ChatGroup,
    Notice,
    NoticeDelivery,
    NoticeRun,
    NoticeRunStatus,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    Priority,
)

log = logging.getLogger(__name__)

MAX_TITLE = 60
MAX_BODY = 2000
PAST_SLACK = timedelta(minutes=1)  # "now" typed a few seconds ago is not in the past
MAX_CATCH_UP = 1000  # occurrences looked at for one notice in one sweep


@dataclass(frozen=True)
class NoticeRequest:
    title: str
    body: str
    targets: Any
    send_at: datetime | None = None
    repeat: str | None = None
    repeat_until: date | None = None
    ask_receipt: bool = True


@dataclass
class SweepReport:
    sent: int = 0  # occurrences queued
    missed: int = 0
    failed: int = 0
    deliveries: int = 0


@dataclass(frozen=True)
class Checked:
    """A notice request that passed every check: what would be stored, and where it would go."""

    title: str
    body: str
    targets: Targets
    groups: list[ChatGroup]
    rule: RepeatRule | None
    until: datetime | None
    first: datetime  # its first occurrence


def check_request(session: Session, ctx: Context, req: NoticeRequest, *,
                  within: frozenset[int] | None = None) -> Checked:
    """Every check a notice must pass before anything is stored; NoticeError says what fails.
    ``within``: the grids the publisher answers for (None: all)."""
    title, body = (req.title or "").strip(), (req.body or "").strip()
    if not title:
        raise NoticeError("no_title")
    if len(title) > MAX_TITLE:
        raise NoticeError("title_too_long", length=len(title), limit=MAX_TITLE)
    if not body:
        raise NoticeError("no_body")
    if len(body) > MAX_BODY:
        raise NoticeError("body_too_long", length=len(body), limit=MAX_BODY)
    targets = parse_targets(req.targets)
    groups = resolve_groups(session, targets)
    check_reach(groups, within)
    now = ctx.now()
    if req.send_at is not None and req.send_at < now - PAST_SLACK:
        raise NoticeError("send_at_past", when=ctx.when(req.send_at))
    rule = parse_rule(req.repeat, ctx.calendar.tz) if req.repeat else None
    until = _end_of_day(req.repeat_until, ctx) if req.repeat_until else None
    if until is not None and rule is None:
        raise NoticeError("until_without_repeat")
    first = _first_run(rule, req.send_at, now)
    if first is None or (until is not None and first > until):
        raise NoticeError("never_sent")
    compose.check(session, ctx, compose.Draft(title, body, req.ask_receipt), groups, first)
    return Checked(title, body, targets, groups, rule, until, first)


def preview(session: Session, ctx: Context, req: NoticeRequest, *,
            within: frozenset[int] | None = None) -> tuple[Checked, str]:
    """The checks, and the message the first target group would receive."""
    checked = check_request(session, ctx, req, within=within)
    draft = compose.Draft(checked.title, checked.body, req.ask_receipt)
    return checked, compose.render(session, ctx, draft, checked.groups[0], checked.first)


def create_notice(session: Session, ctx: Context, req: NoticeRequest, *, created_by: str,
                  person: Person | None = None, draft: bool = False,
                  within: frozenset[int] | None = None) -> Notice:
    """Check everything, then store the notice. A notice due now is queued by the next sweep
    (the caller wakes it), so the API answers at once even for 500 groups."""
    c = check_request(session, ctx, req, within=within)
    notice = Notice(
        title=c.title, body=c.body, targets=c.targets.as_json(), send_at=req.send_at,
        repeat=c.rule.text if c.rule else None, repeat_until=c.until,
        ask_receipt=req.ask_receipt, status=NoticeStatus.DRAFT if draft else NoticeStatus.ACTIVE,
        next_run_at=None if draft else c.first, created_by=created_by[:100],
        created_by_person_id=person.id if person else None, created_at=ctx.now(),
    )
    session.add(notice)
    session.flush()
    return notice


def check_reach(groups: list[ChatGroup], within: frozenset[int] | None) -> None:
    if within is None:
        return
    outside = [g.topic or g.room_id for g in groups if g.grid_id not in within]
    if outside:
        raise NoticeForbidden("out_of_reach", groups=outside[:5], more=len(outside) > 5)


def notice_groups(session: Session, notice: Notice) -> list[ChatGroup]:
    """Every group a notice went to or is meant for: its deliveries and its targets now."""
    delivered = list(session.exec(select(ChatGroup).join(
        NoticeDelivery, col(NoticeDelivery.group_id) == col(ChatGroup.id))
        .where(NoticeDelivery.notice_id == notice.id)).all())
    try:
        targeted = resolve_groups(session, parse_targets(notice.targets))
    except NoticeError:
        targeted = []
    seen: dict[int | None, ChatGroup] = {g.id: g for g in delivered}
    for g in targeted:
        seen.setdefault(g.id, g)
    return list(seen.values())


def reaches(session: Session, notice: Notice, grid_ids: frozenset[int] | None) -> bool:
    """Whether a notice concerns any of ``grid_ids`` (None: every notice does)."""
    if grid_ids is None:
        return True
    delivered = session.exec(select(ChatGroup.grid_id).join(
        NoticeDelivery, col(NoticeDelivery.group_id) == col(ChatGroup.id))
        .where(NoticeDelivery.notice_id == notice.id)).all()
    if set(delivered) & grid_ids:
        return True
    try:
        targeted = resolve_groups(session, parse_targets(notice.targets))
    except NoticeError:
        return False
    return any(g.grid_id in grid_ids for g in targeted)


def confirm_draft(session: Session, ctx: Context, notice: Notice) -> None:
    """A draft composed in chat goes live: due now unless it named a time or rule."""
    if notice.status != NoticeStatus.DRAFT:
        raise NoticeError("not_a_draft")
    rule = parse_rule(notice.repeat, ctx.calendar.tz) if notice.repeat else None
    notice.status = NoticeStatus.ACTIVE
    notice.next_run_at = _first_run(rule, notice.send_at, ctx.now())


def outside_reach(session: Session, notice: Notice, within: frozenset[int] | None
                  ) -> list[ChatGroup]:
    """The groups a notice goes to that lie outside ``within`` (None: none do)."""
    if within is None:
        return []
    return [g for g in notice_groups(session, notice) if g.grid_id not in within]


def may_cancel(session: Session, notice: Notice, within: frozenset[int] | None) -> bool:
    """Whether someone answering for ``within`` may take the notice back: the rule
    ``cancel_notice`` enforces, asked beforehand, so a page offers 取消发送 only to them."""
    return notice.status != NoticeStatus.CANCELLED and not outside_reach(session, notice, within)


def cancel_notice(session: Session, ctx: Context, notice: Notice, *,
                  within: frozenset[int] | None = None) -> int:
    """Stop future occurrences and take back whatever is still waiting in the outbox; returns
    how many group messages were taken back. What went out stays out.

    ``within``: the grids the canceller answers for (None: all). A notice that also goes to
    groups outside them is not theirs to take back (a community's staff reads the township's
    notice, they do not cancel it for the other communities)."""
    outside = [g.topic or g.room_id for g in outside_reach(session, notice, within)]
    if outside:
        raise NoticeForbidden("cancel_out_of_reach", groups=outside[:5], more=len(outside) > 5)
    if notice.status == NoticeStatus.CANCELLED:
        raise NoticeError("already_cancelled")
    notice.status = NoticeStatus.CANCELLED
    notice.cancelled_at = ctx.now()
    notice.next_run_at = None
    outbox_ids = select(NoticeDelivery.outbox_id).where(NoticeDelivery.notice_id == notice.id)
    result = session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(outbox_ids))
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def run_due_notices(session: Session, ctx: Context, *, grace: timedelta) -> SweepReport:
    """Queue every occurrence that is due. When gridbot was down, of the occurrences it slept
    through only the latest is sent — and only within ``grace`` of its time; the others are
    recorded as missed (and the author told), never sent late in a burst."""
    report = SweepReport()
    now = ctx.now()
    due = session.exec(
        select(Notice).where(Notice.status == NoticeStatus.ACTIVE)
        .where(col(Notice.next_run_at) <= now).order_by(col(Notice.next_run_at))
        .with_for_update(skip_locked=True)
    ).all()
    for notice in due:
        _advance(session, ctx, notice, now=now, grace=grace, report=report)
    return report


def send_now(session: Session, ctx: Context, notice: Notice) -> int:
    """Queue a notice that is due now, in the caller's transaction (a draft confirmed in chat
    goes out without waiting for the next sweep). Returns the group messages queued."""
    report = SweepReport()
    if notice.next_run_at is not None and notice.next_run_at <= ctx.now():
        _advance(session, ctx, notice, now=ctx.now(), grace=timedelta.max, report=report)
    return report.deliveries


def _advance(session: Session, ctx: Context, notice: Notice, *, now: datetime,
             grace: timedelta, report: SweepReport) -> None:
    """Handle every occurrence of one notice that is due by ``now``, then point it at the next."""
    rule = parse_rule(notice.repeat, ctx.calendar.tz) if notice.repeat else None
    moments = _due_moments(notice, rule, now)
    for moment in moments[:-1]:
        _record_run(session, notice, moment, NoticeRunStatus.MISSED, event_note("superseded"))
        report.missed += 1
    last = moments[-1]
    following = rule.next_after(last) if rule else None
    if following is not None and notice.repeat_until and following > notice.repeat_until:
        following = None
    notice.next_run_at = following
    if now - last <= grace:
        report.deliveries += _send_occurrence(session, ctx, notice, last, report)
    elif _record_run(session, notice, last, NoticeRunStatus.MISSED,
                     event_note("missed_downtime", minutes=int(grace.total_seconds() // 60))):
        report.missed += 1
        _tell_missed(session, ctx, notice, last)
        log.warning("notice %s due at %s was missed: gridbot was down past the grace "
                    "period", notice.id, last.isoformat())


def resend(session: Session, ctx: Context, notice: Notice, *,
           groups: list[ChatGroup]) -> int:
    """Send the notice again to some groups (those with few receipts): a run of its own."""
    if notice.status != NoticeStatus.ACTIVE:
        raise NoticeError("resend_inactive")
    if not groups:
        raise NoticeError("resend_nothing")
    earlier = session.exec(select(sa.func.count()).select_from(NoticeRun)
                           .where(NoticeRun.notice_id == notice.id)
                           .where(NoticeRun.kind == "resend")).one()
    run = NoticeRun(notice_id=notice.id or 0, key=f"resend:{earlier + 1}",
                    scheduled_for=ctx.now(), kind="resend", status=NoticeRunStatus.SENT,
                    note=event_note("resent", groups=len(groups)), created_at=ctx.now())
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        raise NoticeError("resend_busy") from None
    return _fan_out(session, ctx, notice, run, groups)


def _send_occurrence(session: Session, ctx: Context, notice: Notice, moment: datetime,
                     report: SweepReport) -> int:
    try:
        groups = resolve_groups(session, parse_targets(notice.targets))
    except NoticeError as exc:
        if _record_run(session, notice, moment, NoticeRunStatus.FAILED, str(exc)[:200]):
            report.failed += 1
            log.error("notice %s could not be sent: %s", notice.id, exc)
        return 0
    run = _record_run(session, notice, moment, NoticeRunStatus.SENT, "")
    if run is None:
        return 0  # another sweep queued this occurrence already
    report.sent += 1
    return _fan_out(session, ctx, notice, run, groups)


def _fan_out(session: Session, ctx: Context, notice: Notice, run: NoticeRun,
             groups: list[ChatGroup]) -> int:
    template = compose.compile_body(notice.body)
    for group in groups:
        body = compose.render_body(template,
                                   compose.group_variables(session, ctx, group, ctx.now()))
        text = ctx.texts.render("notice", title=notice.title, body=body,
                                ask_receipt=notice.ask_receipt)
        row = queries.enqueue(session, room_id=group.room_id, text=text, priority=Priority.BULK)
        session.flush()
        session.add(NoticeDelivery(notice_id=notice.id or 0, run_id=run.id or 0,
                                   group_id=group.id or 0, outbox_id=row.id))
    return len(groups)


def _record_run(session: Session, notice: Notice, moment: datetime, status: str,
                note: str) -> NoticeRun | None:
    try:
        with session.begin_nested():
            key = f"at:{moment.astimezone(UTC).isoformat()}"
            run = NoticeRun(notice_id=notice.id or 0, key=key, scheduled_for=moment,
                            status=status, note=note)
            session.add(run)
        return run
    except IntegrityError:
        return None


def _due_moments(notice: Notice, rule: RepeatRule | None, now: datetime) -> list[datetime]:
    assert notice.next_run_at is not None
    moments = [notice.next_run_at]
    while rule is not None and len(moments) < MAX_CATCH_UP:
        following = rule.next_after(moments[-1])
        if following is None or following > now or (
                notice.repeat_until and following > notice.repeat_until):
            break
        moments.append(following)
    return moments


def _tell_missed(session: Session, ctx: Context, notice: Notice, moment: datetime) -> None:
    if notice.created_by_person_id is None:
        return
    author = session.get(Person, notice.created_by_person_id)
    if author is not None:
        tell(session, ctx, author, "notice_missed", title=notice.title, due=ctx.when(moment),
             next=ctx.when(notice.next_run_at) if notice.repeat else None)


def _first_run(rule: RepeatRule | None, send_at: datetime | None,
               now: datetime) -> datetime | None:
    start = max(send_at or now, now)
    if rule is None:
        return start
    return rule.next_after(start - timedelta(seconds=1))


def _end_of_day(day: date, ctx: Context) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=ctx.calendar.tz)

