"""Time-driven steps of the loop: reminders before a deadline, escalation after it (grid leader,
then the community's staff group), the follow-up reminder and its timeout.

Everything is derived from the case rows and the clock — nothing lives only in memory — so after
a restart the next sweep picks up exactly where the last one left off, and running it twice in a
row does nothing the second time.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from handlers.cases import workflow
from handlers.cases.actions import expire_followup, leader_of, worker_of
from handlers.cases.relay import post_to_group, post_to_room, tell
from handlers.context import Context
from handlers.texts import event_note
from storage import queries
from storage.models import Case, CaseStatus, ChatGroup, Community, Grid, GroupKind

log = logging.getLogger(__name__)


def run_timers(session: Session, ctx: Context) -> int:
    """One sweep; returns how many steps it took (reminders, escalations, follow-ups)."""
    steps = 0
    now = ctx.now()
    open_cases = session.exec(
        select(Case).where(col(Case.status).in_(list(workflow.OPEN_STATES)))
        .order_by(col(Case.id))
    ).all()
    for case in open_cases:
        steps += _deadline_steps(session, ctx, case, now)
    resolved = session.exec(
        select(Case).where(Case.status == CaseStatus.RESOLVED).order_by(col(Case.id))
    ).all()
    for case in resolved:
        steps += _followup_steps(session, ctx, case, now)
    return steps


def current_due(case: Case) -> datetime | None:
    """The deadline that matters now: acceptance while waiting for a worker, else resolution."""
    return case.accept_due_at if workflow.awaiting_acceptance(case.status) else case.resolve_due_at


def _deadline_steps(session: Session, ctx: Context, case: Case, now: datetime) -> int:
    due = current_due(case)
    if due is None:
        return 0
    accepting = workflow.awaiting_acceptance(case.status)  # else the resolution deadline
    d = ctx.deadlines.for_case(urgent=case.urgent, category=case.category)
    steps = 0
    if case.reminded_at is None and now < due and \
            (due - now).total_seconds() <= d.remind_before_minutes * 60:
        worker = worker_of(session, case)
        if worker is not None:
            tell(session, ctx, worker, "remind_private", case=case, accepting=accepting,
                 due=ctx.when(due), urgent=case.urgent)
        case.reminded_at = now
        _event(session, ctx, case, "remind", event_note(
            "reminded", worker=worker.name if worker else None, accepting=accepting))
        steps += 1
    if now >= due and case.escalation_level == 0:
        leader = leader_of(session, case)
        worker = worker_of(session, case)
        if leader is not None:
            tell(session, ctx, leader, "escalate_leader", case=case, accepting=accepting,
                 due=ctx.when(due), worker=worker.name if worker else None, urgent=case.urgent,
                 status=workflow.STATUS_NAMES[case.status])
        case.escalation_level = 1
        _event(session, ctx, case, "escalate", event_note("escalated_leader", accepting=accepting))
        steps += 1
    if now >= due + ctx.deadlines.escalate_staff_after and case.escalation_level == 1:
        grid = session.get(Grid, case.grid_id)
        staff_group = _staff_group(session, grid.community_id if grid else None)
        worker = worker_of(session, case)
        if staff_group is not None:
            post_to_room(session, ctx, staff_group.room_id, "escalate_staff", case=case,
                         accepting=accepting, due=ctx.when(due), grid=grid.name if grid else "",
                         worker=worker.name if worker else None,
                         status=workflow.STATUS_NAMES[case.status])
        else:
            log.warning("case #%s is overdue but its community has no staff group", case.no)
        case.escalation_level = 2
        _event(session, ctx, case, "escalate", event_note("escalated_staff", accepting=accepting))
        steps += 1
    return steps


def _followup_steps(session: Session, ctx: Context, case: Case, now: datetime) -> int:
    if case.resolved_at is None:
        return 0
    waited = now - case.resolved_at
    if waited >= ctx.deadlines.followup_close_after:
        expire_followup(session, ctx, case)
        return 1
    if waited >= ctx.deadlines.followup_remind_after and case.followup_reminded_at is None:
        case.followup_reminded_at = now
        post_to_group(session, ctx, case, "relay_followup_reminder")
        _event(session, ctx, case, "followup", event_note("followup_reminded"))
        return 1
    return 0


def _staff_group(session: Session, community_id: int | None) -> ChatGroup | None:
    if community_id is None or session.get(Community, community_id) is None:
        return None
    return session.exec(select(ChatGroup).where(ChatGroup.kind == GroupKind.STAFF)
                        .where(ChatGroup.community_id == community_id)).first()


def _event(session: Session, ctx: Context, case: Case, action: str, note: str) -> None:
    queries.record_event(session, case=case, actor_id=None, action=action,
                         from_status=case.status, to_status=case.status, note=note,
                         at=ctx.now())
