"""The actions of the closed loop. Each checks the transition table, records an event (who, when,
from, to, note), updates the case and relays the news to its group — in the caller's transaction.

The chat commands call these, and the dashboard will call the same functions, so the rules and the
relay are the same wherever an action comes from.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from handlers.cases import workflow
from handlers.cases.relay import audience, post_to_group, tell, titled
from handlers.context import Context
from handlers.texts import event_note
from storage import queries
from storage.models import (
    Case,
    CaseStatus,
    CaseSupporter,
    Correction,
    Grid,
    Person,
    Role,
    Satisfaction,
)

RATING_WORDS = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASIC: "基本满意",
    Satisfaction.UNSATISFIED: "不满意",
    Satisfaction.UNRATED: "未评价",
}


class Refusal(Exception):
    """An action that cannot be done, with the template that tells the person why."""

    def __init__(self, template: str, **variables: Any) -> None:
        super().__init__(template)
        self.template = template
        self.variables = variables


def _move(session: Session, ctx: Context, case: Case, action: str, actor: Person | None,
          note: str = "") -> None:
    if not workflow.allowed(action, case.status):
        raise Refusal("refuse_state", no=case.no, status=workflow.STATUS_NAMES[case.status],
                      action=ACTION_NAMES[action])
    before = case.status
    case.status = workflow.target(action, case.status)
    case.updated_at = ctx.now()
    queries.record_event(session, case=case, actor_id=actor.id if actor else None,
                         action=action, from_status=before, to_status=case.status, note=note,
                         at=ctx.now())


ACTION_NAMES = {
    "accept": "接单", "assign": "指派", "dispatch": "转办", "progress": "更新进度",
    "resolve": "办结", "reject": "退回", "merge": "合并", "rate": "评价", "reopen": "评价",
    "expire": "结案", "urge": "催办", "recategorize": "改类", "dismiss": "标记为不是工单",
}


def restart_clock(ctx: Context, case: Case) -> None:
    """A new or reopened case gets fresh deadlines and a clean escalation slate."""
    d = ctx.deadlines.for_case(urgent=case.urgent, category=case.category)
    now = ctx.now()
    case.accept_due_at = d.accept_due(now, ctx.calendar)
    case.resolve_due_at = d.resolve_due(now, ctx.calendar)
    case.reminded_at = None
    case.escalation_level = 0


def worker_of(session: Session, case: Case) -> Person | None:
    """Who answers for a case now: its assignee, else the grid's worker, else its leader."""
    if case.assignee_id:
        return session.get(Person, case.assignee_id)
    staff = queries.grid_staff(session, grid_id=case.grid_id)
    return staff[0] if staff else None


def leader_of(session: Session, case: Case) -> Person | None:
    return next((p for p in queries.grid_staff(session, grid_id=case.grid_id)
                 if p.role == Role.GRID_LEADER), None)


def _take(ctx: Context, case: Case, person: Person) -> None:
    """Someone answers for the case now: the acceptance deadline no longer applies."""
    case.assignee_id = person.id
    case.accepted_at = case.accepted_at or ctx.now()
    case.reminded_at = None
    case.escalation_level = 0


def accept(session: Session, ctx: Context, case: Case, actor: Person) -> None:
    _move(session, ctx, case, "accept", actor)
    _take(ctx, case, actor)
    post_to_group(session, ctx, case, "relay_accepted", worker=titled(actor),
                  due=ctx.when(case.resolve_due_at))


#: who a case can be assigned to: the workers and the leader of the case's own grid
ASSIGNABLE = (Role.GRID_WORKER, Role.GRID_LEADER)


def find_assignee(session: Session, case: Case, ref: str) -> Person:
    """The worker or leader of the case's grid that 指派 names: by display name (chat, the API:
    ``@李娜``) or by person id (the dashboard's form). Someone of another grid or community, a
    name two of the grid's people share, or nobody: a Refusal saying which, naming who can be
    chosen, instead of the first namesake found anywhere."""
    ref = ref.strip().lstrip("@").strip()
    candidates = queries.grid_staff(session, grid_id=case.grid_id)
    choices = "、".join(p.name for p in candidates)
    grid = _grid_name(session, case)
    if (person_id := queries.as_id(ref)) is not None:
        found = [p for p in candidates if p.id == person_id]
        other = session.get(Person, person_id) if not found else None
        elsewhere = [other] if other is not None and other.role != Role.RESIDENT else []
    else:
        found = [p for p in candidates if p.name == ref]
        elsewhere = list(session.exec(select(Person).where(Person.name == ref).where(
            col(Person.role).in_([*ASSIGNABLE, Role.STAFF]))).all()) if not found else []
    if len(found) == 1:
        return found[0]
    if found:
        raise Refusal("refuse_assignee_ambiguous", name=ref, count=len(found), grid=grid)
    if elsewhere:
        raise Refusal("refuse_assignee_elsewhere", name=elsewhere[0].name, grid=grid,
                      names=choices)
    raise Refusal("refuse_unknown_person", name=ref, grid=grid, names=choices)


def _grid_name(session: Session, case: Case) -> str:
    grid = session.get(Grid, case.grid_id)
    return grid.name if grid is not None else ""


def assign(session: Session, ctx: Context, case: Case, actor: Person, assignee: Person) -> None:
    if assignee.role not in ASSIGNABLE or assignee.grid_id != case.grid_id:
        # whoever found them, a case stays with the people of its own grid
        raise Refusal("refuse_assignee_elsewhere", name=assignee.name,
                      grid=_grid_name(session, case),
                      names="、".join(p.name for p in
                                     queries.grid_staff(session, grid_id=case.grid_id)))
    if case.assignee_id == assignee.id and case.status == CaseStatus.ACCEPTED:
        # the group would hear the same news twice and the worker get a "new" case they hold
        raise Refusal("refuse_same_assignee", no=case.no, worker=titled(assignee))
    _move(session, ctx, case, "assign", actor, note=event_note("assigned", worker=assignee.name))
    _take(ctx, case, assignee)
    post_to_group(session, ctx, case, "relay_assigned", worker=titled(assignee),
                  due=ctx.when(case.resolve_due_at))
    if assignee.id != actor.id:
        tell(session, ctx, assignee, "assigned_private", case=case, by=titled(actor),
             text=case.text, due=ctx.when(case.resolve_due_at), urgent=case.urgent)


#: the longest department name a case can be handed to (the column's width)
MAX_DEPARTMENT = 100


def dispatch(session: Session, ctx: Context, case: Case, actor: Person, department: str,
             note: str) -> None:
    if len(department) > MAX_DEPARTMENT:
        raise Refusal("refuse_too_long", what="转办部门", limit=MAX_DEPARTMENT)
    _move(session, ctx, case, "dispatch", actor, note=f"{department} {note}".strip())
    case.dispatched_to = department
    if case.assignee_id is None:
        case.assignee_id = actor.id
    case.accepted_at = case.accepted_at or ctx.now()
    post_to_group(session, ctx, case, "relay_dispatched", worker=titled(actor),
                  department=department, note=note)


def progress(session: Session, ctx: Context, case: Case, actor: Person, note: str) -> None:
    _move(session, ctx, case, "progress", actor, note=note)
    post_to_group(session, ctx, case, "relay_progress", worker=titled(actor), note=note)


def resolve(session: Session, ctx: Context, case: Case, actor: Person, note: str) -> None:
    _move(session, ctx, case, "resolve", actor, note=note)
    case.resolved_at = ctx.now()
    case.followup_reminded_at = None
    if case.assignee_id is None:
        case.assignee_id = actor.id
    post_to_group(session, ctx, case, "relay_resolved", worker=titled(actor), note=note)


def reject(session: Session, ctx: Context, case: Case, actor: Person, reason: str) -> None:
    _move(session, ctx, case, "reject", actor, note=reason)
    case.closed_at = ctx.now()
    post_to_group(session, ctx, case, "relay_rejected", worker=titled(actor), reason=reason)


def merge(session: Session, ctx: Context, case: Case, into: Case, actor: Person) -> None:
    if into.id == case.id:
        raise Refusal("refuse_merge_self", no=case.no)
    if not workflow.is_open(into.status) and into.status != CaseStatus.RESOLVED:
        raise Refusal("refuse_merge_target", no=into.no,
                      status=workflow.STATUS_NAMES[into.status])
    people = audience(session, case)
    _move(session, ctx, case, "merge", actor, note=event_note("merged_into", no=into.no))
    case.merged_into = into.no
    case.closed_at = ctx.now()
    for person in people:
        add_supporter(session, into, person)
    queries.record_event(session, case=into, actor_id=actor.id, action="absorb",
                         from_status=into.status, to_status=into.status,
                         note=event_note("merged_from", no=case.no), at=ctx.now())
    post_to_group(session, ctx, case, "relay_merged", worker=titled(actor), into=into.no)


def add_supporter(session: Session, case: Case, person: Person) -> bool:
    if person.id == case.reporter_id:
        return False
    exists = session.exec(select(CaseSupporter).where(CaseSupporter.case_id == case.id)
                          .where(CaseSupporter.person_id == person.id)).first()
    if exists:
        return False
    assert case.id is not None and person.id is not None
    session.add(CaseSupporter(case_id=case.id, person_id=person.id))
    return True


def rate(session: Session, ctx: Context, case: Case, person: Person, level: Satisfaction,
         comment: str = "") -> None:
    if person.id != case.reporter_id:
        raise Refusal("refuse_rate_not_reporter", no=case.no)
    note = event_note("rated", rating=RATING_WORDS[level], comment=comment)
    if level == Satisfaction.UNSATISFIED:
        _move(session, ctx, case, "reopen", person, note=note)
        case.satisfaction = None
        case.reopen_count += 1
        case.resolved_at = None
        restart_clock(ctx, case)
        post_to_group(session, ctx, case, "relay_reopened")
        for staff in {p.id: p for p in (leader_of(session, case), worker_of(session, case))
                      if p is not None}.values():
            tell(session, ctx, staff, "reopened_private", case=case, reporter=person.name,
                 reopen_count=case.reopen_count)
        return
    _move(session, ctx, case, "rate", person, note=note)
    case.satisfaction = level
    case.closed_at = ctx.now()
    post_to_group(session, ctx, case, "relay_rated", rating=RATING_WORDS[level])


def expire_followup(session: Session, ctx: Context, case: Case) -> None:
    _move(session, ctx, case, "expire", None, note=event_note("followup_expired"))
    case.satisfaction = Satisfaction.UNRATED
    case.closed_at = ctx.now()
    post_to_group(session, ctx, case, "relay_expired")


def urge(session: Session, ctx: Context, case: Case, person: Person) -> None:
    if not workflow.is_open(case.status):
        raise Refusal("refuse_state", no=case.no, status=workflow.STATUS_NAMES[case.status],
                      action=ACTION_NAMES["urge"])
    now = ctx.now()
    if case.urged_at and now - case.urged_at < ctx.deadlines.urge_interval:
        minutes = int(ctx.deadlines.urge_interval.total_seconds() // 60)
        raise Refusal("refuse_urge_too_soon", no=case.no, minutes=minutes)
    case.urged_at = now
    queries.record_event(session, case=case, actor_id=person.id, action="urge",
                         from_status=case.status, to_status=case.status, at=now)
    worker = worker_of(session, case)
    waited = int((now - case.created_at).total_seconds() // 3600)
    if worker is not None:
        tell(session, ctx, worker, "urge_private", case=case, reporter=person.name,
             hours=waited, status=workflow.STATUS_NAMES[case.status], urgent=case.urgent)
    post_to_group(session, ctx, case, "relay_urged", worker=titled(worker))


def recategorize(session: Session, ctx: Context, case: Case, actor: Person, category: str) -> str:
    """改类: the worker knows better. Kept as a correction for `gridbot eval --corrections`."""
    if category == case.category:
        raise Refusal("refuse_same_category", no=case.no, category_name=ctx.category_name(category))
    old = case.category
    _move(session, ctx, case, "recategorize", actor,
          note=event_note("recategorized", old=ctx.category_name(old),
                                     new=ctx.category_name(category)))
    case.category = category
    _correct(session, case, actor, "category", old, category)
    return old


def dismiss(session: Session, ctx: Context, case: Case, actor: Person) -> None:
    """不是工单: the message was never a request. Closed without telling the group, since the
    resident did not ask for anything; kept as a correction."""
    _move(session, ctx, case, "dismiss", actor, note=event_note("dismissed"))
    case.closed_at = ctx.now()
    _correct(session, case, actor, "is_request", "true", "false")


def _correct(session: Session, case: Case, actor: Person, field: str, old: str,
             new: str) -> None:
    assert case.id is not None
    session.add(Correction(case_id=case.id, text=case.text, field=field, old_value=old,
                           new_value=new, actor_id=actor.id))
