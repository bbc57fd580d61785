"""From a stored inbound message to a case and its acknowledgement, or to silence.

Runs inside one database transaction (the caller's): the case, its events, the outbox rows and
the inbound row's outcome are committed together, so a crash leaves either all of them or none,
and the message is processed again after a restart.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from handlers.cases.actions import add_supporter, restart_clock, worker_of
from handlers.cases.relay import URGENT_PRIORITY, case_facts, titled
from handlers.cases.workflow import STATUS_NAMES
from handlers.commands.handler import run_command
from handlers.commands.parser import parse as parse_command
from handlers.context import Context
from handlers.intake.classifier import Decision
from handlers.intake.duplicates import find_duplicate, latest_case_in_group
from handlers.notices.receipts import record_receipt
from handlers.texts import event_note
from storage import queries
from storage.models import (
    Case,
    CaseEvent,
    CaseStatus,
    ChatGroup,
    Grid,
    InboundMessage,
    Person,
    Role,
)

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    CASE = "case"
    SILENT = "silent"  # not a request: chit-chat, thanks, ads, already fixed…
    UNBOUND = "unbound"  # a group that is not bound to a grid
    NON_TEXT = "non_text"  # images, voice, links, system notices
    OWN = "own"  # the bot's own message echoed back
    PRIVATE_HELP = "private_help"
    RECEIPT = "receipt"  # 收到 after a notice: counted, never a case, no answer
    OTHER_ACCOUNT = "other_account"  # a group another bot account serves: it answers there
    THROTTLED = "throttled"  # a flooding sender's message: kept, not read
    THROTTLED_TOLD = "throttled_told"  # ... and the one that got the polite notice
    COMMAND = "command"  # a grid worker's or resident's command
    REPEAT = "repeat"  # the same resident again about a case already open
    SUPPORT = "support"  # another resident about the same problem: joins as a supporter
    ADDED_QUIETLY = "added_quietly"  # a repeat or support moments after the last: no answer


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    case_no: int | None = None
    decision: Decision | None = None


def handle_inbound(session: Session, ctx: Context, msg: InboundMessage) -> Result:
    if msg.sender_id == ctx.bot_id:
        return Result(Outcome.OWN)
    group = queries.get_group(session, room_id=msg.room_id) if msg.room_id else None
    if group is not None and ctx.account and group.account not in (None, ctx.account):
        return Result(Outcome.OTHER_ACCOUNT)
    if msg.kind != "text":
        if msg.kind == "image" and msg.room_id is not None:
            _attach_photo(session, ctx, msg)
        return Result(Outcome.NON_TEXT)
    if (flood := _flooding(session, ctx, msg)) is not None:
        return Result(flood)
    command = parse_command(msg.text)
    if command is not None and run_command(session, ctx, command, _sender(session, ctx, msg),
                                           msg.room_id):
        return Result(Outcome.COMMAND)
    if msg.room_id is None:
        return _handle_private(session, ctx, msg)
    if group is not None and ctx.receipts.matches(msg.text):
        # 收到 never opens a case; when no notice is waiting for it, it is plain chit-chat
        return Result(Outcome.RECEIPT if _count_receipt(session, ctx, msg, group)
                      else Outcome.SILENT)
    if group is None or group.grid_id is None:
        return Result(Outcome.UNBOUND)
    reporter = _sender(session, ctx, msg)
    if reporter.grid_id is None:
        reporter.grid_id = group.grid_id  # the first group a resident writes in is their home
    decision = ctx.classifier.classify(msg.text)
    if not decision.is_request:
        if ctx.classifier.is_me_too(msg.text):
            earlier = latest_case_in_group(session, ctx, group, reporter)
            if earlier is not None:
                answered = _join(session, ctx, earlier, reporter, msg, decision)
                return Result(Outcome.SUPPORT if answered else Outcome.ADDED_QUIETLY,
                              earlier.no, decision)
        return Result(Outcome.SILENT, decision=decision)
    match = find_duplicate(session, ctx, grid_id=group.grid_id, reporter=reporter,
                           decision=decision)
    if match is not None:
        answered = _join(session, ctx, match.case, reporter, msg, decision)
        outcome = Outcome.REPEAT if match.same_reporter else Outcome.SUPPORT
        return Result(outcome if answered else Outcome.ADDED_QUIETLY, match.case.no, decision)
    grid = queries.get_grid(session, grid_id=group.grid_id)
    assert grid is not None
    case = _open_case(session, ctx, msg, decision, grid=grid, group=group, reporter=reporter)
    _acknowledge_in_group(session, ctx, case, decision, grid=grid, group=group, reporter=reporter)
    return Result(Outcome.CASE, case.no, decision)


def _sender(session: Session, ctx: Context, msg: InboundMessage) -> Person:
    return queries.get_or_create_resident(session, contact_id=msg.sender_id,
                                          name=msg.sender_name, account=ctx.account)


FLOOD_WINDOW = timedelta(minutes=1)
FLOOD_NOTICE_EVERY = timedelta(minutes=10)


def _flooding(session: Session, ctx: Context, msg: InboundMessage) -> Outcome | None:
    """A resident writing more than ``ctx.messages_per_minute`` messages a minute: the rest of
    the minute is kept in the log but not read, and they are asked once (every ten minutes) to
    slow down. Workers and staff are never held back."""
    recent = queries.count_recent_inbound(session, sender_id=msg.sender_id,
                                          since=msg.received_at - FLOOD_WINDOW,
                                          up_to_id=msg.id or 0)
    if recent <= ctx.messages_per_minute:
        return None
    person = queries.get_person(session, contact_id=msg.sender_id)
    if person is not None and person.role != Role.RESIDENT:
        return None
    if queries.told_to_slow_down(session, sender_id=msg.sender_id,
                                 since=msg.received_at - FLOOD_NOTICE_EVERY):
        return Outcome.THROTTLED
    text = ctx.texts.render("slow_down")
    if msg.room_id is None:
        queries.enqueue(session, contact_id=msg.sender_id, text=text)
    else:
        queries.enqueue(session, room_id=msg.room_id, text=f"@{msg.sender_name} {text}",
                        mention_ids=[msg.sender_id])
    log.warning("sender %s is flooding (%d messages in a minute); told to slow down",
                msg.sender_id, recent)
    return Outcome.THROTTLED_TOLD


def _count_receipt(session: Session, ctx: Context, msg: InboundMessage,
                   group: ChatGroup) -> bool:
    """Residents' 收到 counts for the group's latest notice; workers' and staff's do not."""
    person = _sender(session, ctx, msg)
    if person.role != Role.RESIDENT:
        return False
    return record_receipt(session, ctx.receipts, group=group, person=person, text=msg.text,
                          at=msg.received_at) is not None


def _handle_private(session: Session, ctx: Context, msg: InboundMessage) -> Result:
    """A private message to the bot. A resident we can place in a grid gets a case like in the
    group; anyone else is pointed to their grid group."""
    reporter = _sender(session, ctx, msg)
    decision = ctx.classifier.classify(msg.text)
    if not decision.is_request:
        if decision.reason in ("chit_chat", "empty", "system"):
            return Result(Outcome.SILENT, decision=decision)
        queries.enqueue(session, contact_id=msg.sender_id,
                        text=ctx.texts.render("private_intro", bot_name=ctx.bot_name))
        return Result(Outcome.PRIVATE_HELP, decision=decision)
    group = queries.home_group(session, person=reporter)
    if group is None or group.grid_id is None:
        queries.enqueue(session, contact_id=msg.sender_id, text=ctx.texts.render("private_no_grid"))
        return Result(Outcome.PRIVATE_HELP, decision=decision)
    grid = queries.get_grid(session, grid_id=group.grid_id)
    assert grid is not None
    case = _open_case(session, ctx, msg, decision, grid=grid, group=group, reporter=reporter)
    staff = queries.grid_staff(session, grid_id=grid.id or 0)
    deadline = ctx.deadlines.for_case(urgent=case.urgent, category=case.category)
    queries.enqueue(
        session, contact_id=msg.sender_id, case_id=case.id,
        priority=URGENT_PRIORITY if case.urgent else 0,
        text=ctx.texts.render(
            "ack_private", no=case.no, category_name=_category_name(ctx, case),
            location=case.location, grid=grid.name, worker=_worker_name(staff),
            respond=deadline.phrase,
        ),
    )
    if case.urgent:
        _alert_staff(session, ctx, case, grid=grid, group=group, reporter=reporter, staff=staff)
    return Result(Outcome.CASE, case.no, decision)


def _attach_photo(session: Session, ctx: Context, msg: InboundMessage) -> None:
    """A photo from a resident usually shows the problem they just reported: note it on their
    latest open case in this group (within a day). The image itself is kept only where the
    transport could fetch it (see README: the puppet-service client cannot read large files)."""
    person = queries.get_person(session, contact_id=msg.sender_id)
    group = queries.get_group(session, room_id=msg.room_id or "")
    if person is None or group is None:
        return
    case = queries.latest_open_case(session, reporter_id=person.id or 0, group_id=group.id or 0,
                                    since=ctx.now() - timedelta(hours=24))
    if case is None:
        return
    queries.record_event(session, case=case, actor_id=person.id, action="photo",
                         from_status=case.status, to_status=case.status,
                         note=event_note("photo_missing", message=msg.message_id),
                         at=ctx.now())


def _join(session: Session, ctx: Context, case: Case, person: Person, msg: InboundMessage,
          decision: Decision) -> bool:
    """A report of a problem already open: the reporter's own repeat adds to the case, anyone
    else becomes a supporter. A repeat that is urgent makes the case urgent. Returns whether
    the person was answered."""
    same = person.id == case.reporter_id
    answered = _joined_lately(session, ctx, case, person)
    if not same:
        add_supporter(session, case, person)
    queries.record_event(session, case=case, actor_id=person.id,
                         action="repeat" if same else "support",
                         from_status=case.status, to_status=case.status, note=msg.text[:500],
                         at=ctx.now())
    if decision.urgent and not case.urgent:
        case.urgent = True
        restart_clock(ctx, case)
        grid = queries.get_grid(session, grid_id=case.grid_id)
        group = session.get(ChatGroup, case.group_id)
        assert grid is not None and group is not None
        _alert_staff(session, ctx, case, grid=grid, group=group, reporter=person,
                     staff=queries.grid_staff(session, grid_id=case.grid_id))
    if answered and not decision.urgent:
        return False  # told moments ago: saying it again for every message fills the group
    worker = worker_of(session, case)
    facts = case_facts(ctx, case)
    text = ctx.texts.render(
        "dup_repeat" if same else "dup_joined", reporter=person.name,
        status=STATUS_NAMES[case.status],
        worker=titled(worker) if worker and case.assignee_id else None,
        **{k: facts[k] for k in ("no", "category_name", "location")})
    queries.enqueue(session, room_id=msg.room_id, text=text, mention_ids=[person.contact_id],
                    case_id=case.id, priority=URGENT_PRIORITY if case.urgent else 0)
    return True


#: a resident who adds to the same case again within this time is not answered again
REPEAT_ANSWER_EVERY = timedelta(minutes=30)


def _joined_lately(session: Session, ctx: Context, case: Case, person: Person) -> bool:
    """Whether this person added to the case lately and heard back: a resident who writes the
    same complaint ten times in a row gets one "已记录", not ten."""
    return session.exec(
        select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                   CaseEvent.actor_id == person.id,
                                   col(CaseEvent.action).in_(("repeat", "support")),
                                   col(CaseEvent.at) >= ctx.now() - REPEAT_ANSWER_EVERY).limit(1)
    ).first() is not None


def _open_case(session: Session, ctx: Context, msg: InboundMessage, decision: Decision, *,
               grid: Grid, group: ChatGroup, reporter: Person) -> Case:
    assert grid.id is not None and group.id is not None and reporter.id is not None
    now = ctx.now()
    case = Case(
        no=0, grid_id=grid.id, group_id=group.id, reporter_id=reporter.id, text=msg.text,
        category=decision.category or "inquiry", urgent=decision.urgent,
        location=str(decision.location) if decision.location else None,
        confidence=decision.confidence, status=CaseStatus.REPORTED,
        source_message_id=msg.id, created_at=now, updated_at=now,
    )
    restart_clock(ctx, case)
    return queries.add_case(session, case, actor_id=reporter.id)


def _acknowledge_in_group(session: Session, ctx: Context, case: Case, decision: Decision,
                          *, grid: Grid, group: ChatGroup, reporter: Person) -> None:
    staff = queries.grid_staff(session, grid_id=grid.id or 0)
    deadline = ctx.deadlines.for_case(urgent=case.urgent, category=case.category)
    location = decision.location.masked if decision.location else None
    common = dict(reporter=reporter.name, no=case.no, category_name=_category_name(ctx, case),
                  location=location, respond=deadline.phrase)
    if case.urgent:
        notified = _alert_staff(session, ctx, case, grid=grid, group=group, reporter=reporter,
                                staff=staff)
        text = ctx.texts.render("ack_urgent", notified=notified, **common)
    else:
        text = ctx.texts.render("ack", worker=_worker_name(staff), **common)
    queries.enqueue(session, room_id=group.room_id, text=text, mention_ids=[reporter.contact_id],
                    case_id=case.id, priority=URGENT_PRIORITY if case.urgent else 0)


def _alert_staff(session: Session, ctx: Context, case: Case, *, grid: Grid,
                 group: ChatGroup, reporter: Person, staff: list[Person]) -> list[str]:
    """Urgent cases go straight to the grid's worker and leader, privately, ahead of the queue."""
    deadline = ctx.deadlines.for_case(urgent=True)
    text = ctx.texts.render(
        "urgent_alert", no=case.no, grid=grid.name, category_name=_category_name(ctx, case),
        location=case.location, reporter=reporter.name, group_topic=group.topic or grid.name,
        text=case.text, respond=deadline.phrase,
    )
    notified: list[Person] = []
    for person in staff:
        if person.contact_id == reporter.contact_id:
            continue
        queries.enqueue(session, contact_id=person.contact_id, text=text, case_id=case.id,
                        priority=URGENT_PRIORITY)
        notified.append(person)
    if notified:
        queries.record_event(session, case=case, actor_id=None, action="notify",
                             from_status=None, to_status=None,
                             note=event_note("urgent_notified", people=[p.name for p in notified]),
                             at=ctx.now())
    else:
        log.warning("urgent case #%s in grid %s has no worker or leader to alert", case.no,
                    grid.name)
    # the reporter is told who is coming by title: 网格员王磊、网格长赵敏
    return [titled(p) or p.name for p in notified]


def _worker_name(staff: list[Person]) -> str | None:
    return titled(staff[0]) if staff else None


def _category_name(ctx: Context, case: Case) -> str:
    return ctx.category_name(case.category)
