"""Running a parsed command: permission, the case, the action, and the answer to the person.

The action itself relays the news into the case's group. The person who gave the command gets a
separate confirmation only when they gave it somewhere else (privately, or in another group).
Every refusal is a polite sentence from a template; nothing here raises to the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from handlers.cases import actions, workflow
from handlers.cases.actions import Refusal
from handlers.cases.relay import case_facts, titled
from handlers.cases.timers import current_due
from handlers.commands.parser import Command
from handlers.commands.permissions import (
    BINDER,
    LEADER,
    PUBLISHER,
    RULES,
    WORKER,
    refusal,
    staff_reach,
)
from handlers.context import Context
from handlers.notices import chat as notice_chat
from handlers.notices.errors import NoticeError
from handlers.privacy import mask
from storage import queries
from storage.models import (
    Case,
    CaseStatus,
    CaseSupporter,
    ChatGroup,
    Grid,
    GroupKind,
    Person,
    Role,
)

LIST_LIMIT = 10


class Reply:
    """Where the answer to a command goes: the chat it came from."""

    def __init__(self, session: Session, ctx: Context, person: Person, room_id: str | None):
        self.session, self.ctx, self.person, self.room_id = session, ctx, person, room_id

    def send(self, template: str, /, **variables: Any) -> None:
        text = self.ctx.texts.render(template, **variables)
        if self.room_id is None:
            queries.enqueue(self.session, contact_id=self.person.contact_id, text=text)
        else:
            queries.enqueue(self.session, room_id=self.room_id,
                            text=f"@{self.person.name} {text}",
                            mention_ids=[self.person.contact_id])


def run_command(session: Session, ctx: Context, cmd: Command, person: Person,
                room_id: str | None) -> bool:
    """Run ``cmd`` for ``person``; False when it turns out not to be a command after all (a bare
    满意 from someone with no case awaiting their rating), so intake may read the message."""
    reply = Reply(session, ctx, person, room_id)
    if cmd.name == "rate" and cmd.no is None:
        case = _awaiting_rating(session, person)
        if case is None:
            return False
        return _act(session, ctx, reply, cmd, person, case, room_id)
    if cmd.name == "help":
        reply.send("help", worker=WORKER.allows(session, person, None),
                   leader=LEADER.allows(session, person, None),
                   publisher=PUBLISHER.allows(session, person, None))
        return True
    if cmd.malformed:
        reply.send("usage", usage=cmd.spec.usage, missing="、".join(cmd.missing))
        return True
    if cmd.name == "todo":
        if not WORKER.allows(session, person, None):
            reply.send("refuse_role", reason=WORKER.reason_for(session, person, None)
                       if person.role == Role.STAFF else refusal("todo_staff_only"))
            return True
        reply.send("todo", cases=_todo(session, ctx, person))
        return True
    if cmd.name == "bind":
        _bind(session, ctx, reply, cmd, person, room_id)
        return True
    if cmd.name in ("publish", "confirm_publish", "cancel_publish"):
        _notice(session, ctx, reply, cmd, person, room_id)
        return True
    if cmd.name == "mine":
        reply.send("mine", cases=[_line(session, ctx, c) for c in _mine(session, person)])
        return True
    case = queries.get_case(session, no=cmd.no or 0)
    if case is None:
        reply.send("refuse_unknown_case", no=cmd.no)
        return True
    return _act(session, ctx, reply, cmd, person, case, room_id)


def _act(session: Session, ctx: Context, reply: Reply, cmd: Command, person: Person,
         case: Case, room_id: str | None) -> bool:
    permission = RULES[cmd.name]
    if not permission.allows(session, person, case):
        reply.send("refuse_role", reason=permission.reason_for(session, person, case),
                   no=case.no)
        return True
    try:
        _perform(session, ctx, reply, cmd, person, case)
    except Refusal as refusal:
        reply.send(refusal.template, **refusal.variables)
        return True
    if cmd.name in ("show", "query", "recategorize", "dismiss"):
        return True  # answered in _perform; nothing was relayed to the group
    group = session.get(ChatGroup, case.group_id)
    if group is None or group.room_id != room_id:
        reply.send("confirm", action=actions.ACTION_NAMES[cmd.name], no=case.no,
                   status=workflow.STATUS_NAMES[case.status])
    return True


def _perform(session: Session, ctx: Context, reply: Reply, cmd: Command, person: Person,
             case: Case) -> None:
    match cmd.name:
        case "accept":
            actions.accept(session, ctx, case, person)
        case "progress":
            actions.progress(session, ctx, case, person, cmd.text)
        case "dispatch":
            department, _, note = cmd.text.partition(" ")
            actions.dispatch(session, ctx, case, person, department, note.strip())
        case "resolve":
            actions.resolve(session, ctx, case, person, cmd.text)
        case "reject":
            actions.reject(session, ctx, case, person, cmd.text)
        case "merge":
            into = queries.get_case(session, no=cmd.second_no or 0)
            if into is None:
                raise Refusal("refuse_unknown_case", no=cmd.second_no)
            if not WORKER.allows(session, person, into):
                raise Refusal("refuse_role", reason=WORKER.reason_for(session, person, into),
                              no=into.no, into=into.no)
            actions.merge(session, ctx, case, into, person)
        case "assign":
            assignee = actions.find_assignee(session, case, cmd.target or "")
            actions.assign(session, ctx, case, person, assignee)
        case "urge":
            actions.urge(session, ctx, case, person)
        case "rate":
            assert cmd.rating is not None
            comment = cmd.text if cmd.no is None else cmd.text.partition(" ")[2].strip()
            actions.rate(session, ctx, case, person, cmd.rating, comment)
        case "recategorize":
            key = _category_key(ctx, cmd.text)
            if key is None:
                raise Refusal("refuse_unknown_category", text=cmd.text, names="、".join(
                    c.name for c in ctx.classifier.rules.categories))
            old = actions.recategorize(session, ctx, case, person, key)
            reply.send("recategorized", no=case.no, old=ctx.category_name(old),
                       new=ctx.category_name(key))
        case "dismiss":
            actions.dismiss(session, ctx, case, person)
            reply.send("dismissed", no=case.no)
        case "show" | "query":
            reply.send("case_detail", **_detail(session, ctx, case,
                                                 private=reply.room_id is None))


def _bind(session: Session, ctx: Context, reply: Reply, cmd: Command, person: Person,
          room_id: str | None) -> None:
    """绑定网格: bind the group this is said in to a grid, by the grid's name. Groups are bound by
    room id, never by topic, because residents rename groups."""
    if not BINDER.allows(session, person, None):
        reply.send("refuse_role", reason=BINDER.reason_for(session, person, None))
        return
    if room_id is None:
        reply.send("bind_in_group")
        return
    grid = queries.find_grid(session, ref=cmd.text.strip())
    if grid is None:
        names = "、".join(g.name for g in queries.list_grids(session))
        reply.send("refuse_unknown_grid", name=cmd.text.strip(), names=names)
        return
    if person.role == Role.GRID_LEADER and person.grid_id != grid.id:
        reply.send("refuse_role", reason=refusal("leader_own_grid"))
        return
    group = queries.get_group(session, room_id=room_id)
    if person.role == Role.STAFF:
        reach = staff_reach(session, person)
        if not reach.covers(grid.id):
            reply.send("refuse_role", reason=refusal("staff_grid_elsewhere"))
            return
        if group is not None and not _group_within(session, group, reach.grid_ids):
            reply.send("refuse_role", reason=refusal("staff_taken_group"))
            return
    if person.role == Role.GRID_LEADER and group is not None and (
            group.kind != GroupKind.RESIDENT or group.grid_id not in (None, person.grid_id)):
        # a leader binds new groups to their grid; taking another grid's group or a working
        # group away from the people it serves is for staff
        reply.send("refuse_role", reason=refusal("leader_taken_group"))
        return
    group = queries.record_room(session, room_id=room_id, topic="")
    group.grid_id = grid.id
    group.kind = GroupKind.RESIDENT
    group.community_id = None
    reply.send("bound", grid=grid.name)


def _group_within(session: Session, group: ChatGroup, grid_ids: frozenset[int] | None) -> bool:
    """Whether a group belongs to the grids given (None: all): an unbound group belongs to
    nobody yet, a working group to its community's grids, the township's group to all."""
    if grid_ids is None:
        return True
    if group.grid_id is not None:
        return group.grid_id in grid_ids
    if group.community_id is not None:
        return set(session.exec(select(Grid.id).where(
            Grid.community_id == group.community_id)).all()) <= grid_ids
    return group.street_id is None


def _notice(session: Session, ctx: Context, reply: Reply, cmd: Command, person: Person,
            room_id: str | None) -> None:
    """发布通知 / 确认发布 / 取消发布, for staff, in a working group or privately — never in a
    residents' group, where the preview itself would reach the residents."""
    if not PUBLISHER.allows(session, person, None):
        reply.send("refuse_role", reason=PUBLISHER.reason_for(session, person, None))
        return
    group = queries.get_group(session, room_id=room_id) if room_id else None
    if group is not None and group.kind == GroupKind.RESIDENT:
        reply.send("refuse_role", reason=refusal("publish_not_in_residents_group"))
        return
    try:
        if cmd.name == "publish":
            answer = notice_chat.compose_draft(session, ctx, person, cmd.text,
                                               within=staff_reach(session, person).grid_ids)
        elif cmd.name == "confirm_publish":
            answer = notice_chat.confirm(session, ctx, person)
        else:
            answer = notice_chat.discard(session, ctx, person)
    except NoticeError as exc:
        reply.send("notice_refused", reason=str(exc), discarding=cmd.name == "cancel_publish")
        return
    reply.send(answer.template, **answer.variables)


def _category_key(ctx: Context, text: str) -> str | None:
    """A category as a worker types it: its Chinese name (市政设施), a short form (市政), or key."""
    word = text.split()[0] if text.split() else ""
    for c in ctx.classifier.rules.categories:
        if word in (c.key, c.name) or (len(word) >= 2 and c.name.startswith(word)):
            return c.key
    return None


def _awaiting_rating(session: Session, person: Person) -> Case | None:
    return session.exec(
        select(Case).where(Case.reporter_id == person.id)
        .where(Case.status == CaseStatus.RESOLVED).order_by(col(Case.resolved_at).desc())
    ).first()


def _mine(session: Session, person: Person) -> list[Case]:
    supported = select(CaseSupporter.case_id).where(CaseSupporter.person_id == person.id)
    return list(session.exec(
        select(Case).where(or_(Case.reporter_id == person.id, col(Case.id).in_(supported)))
        .order_by(col(Case.no).desc()).limit(LIST_LIMIT)
    ).all())


def _todo(session: Session, ctx: Context, person: Person) -> list[dict[str, Any]]:
    """Open cases this person answers for, overdue first, then oldest first."""
    q = select(Case).where(col(Case.status).in_(list(workflow.OPEN_STATES)))
    if person.role == Role.GRID_WORKER:
        q = q.where(or_(Case.assignee_id == person.id,
                        (Case.grid_id == person.grid_id) & col(Case.assignee_id).is_(None)))
    elif person.role == Role.GRID_LEADER:
        q = q.where(Case.grid_id == person.grid_id)
    elif (grid_ids := staff_reach(session, person).grid_ids) is not None:
        q = q.where(col(Case.grid_id).in_(grid_ids))  # staff: their community's grids
    cases = list(session.exec(q).all())
    now = ctx.now()
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def key(c: Case) -> tuple[bool, datetime, int]:
        due = current_due(c)
        return (not (due is not None and due <= now), c.created_at or far, c.no)

    return [_line(session, ctx, c) for c in sorted(cases, key=key)[:LIST_LIMIT * 2]]


def _line(session: Session, ctx: Context, case: Case) -> dict[str, Any]:
    due = current_due(case) if workflow.is_open(case.status) else None
    return {**case_facts(ctx, case), "status": workflow.STATUS_NAMES[case.status],
            "urgent": case.urgent, "due": ctx.when(due) if due else "",
            "overdue": bool(due and due <= ctx.now()), "text": case.text[:30]}


def _detail(session: Session, ctx: Context, case: Case, *, private: bool) -> dict[str, Any]:
    worker = actions.worker_of(session, case)
    events = queries.case_events(session, case_id=case.id or 0)
    notes = [e for e in events if e.action in ("progress", "dispatch", "resolve", "reject")]
    facts = case_facts(ctx, case)
    latest = notes[-1].note if notes else None
    dispatched_to = case.dispatched_to
    if private:
        facts["location"] = case.location
    else:
        # the group is semi-public: a phone or room number in a worker's note stays private,
        # as it does when the note itself was relayed
        latest = mask(latest) if latest else latest
        dispatched_to = mask(dispatched_to) if dispatched_to else dispatched_to
    return {**_line(session, ctx, case), **facts, "reported_at": ctx.when(case.created_at),
            "worker": titled(worker) if worker and case.assignee_id else None,
            "dispatched_to": dispatched_to, "merged_into": case.merged_into,
            "latest": latest}
