"""Data access as flat functions taking a session, keyword-only arguments, returning None when
nothing is found. The edges (web routes, chat handlers) turn None into an answer a person reads.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as sa_postgresql
from sqlalchemy.dialects import sqlite as sa_sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import (
    ApiToken,
    AppSecret,
    Case,
    CaseEvent,
    CaseStatus,
    ChatGroup,
    Community,
    Counter,
    Grid,
    InboundMessage,
    InboundStatus,
    Lease,
    Notice,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    StaffAccount,
    Street,
)

CASE_COUNTER = "case_no"

# --- groups, grids and people -------------------------------------------------------------------


LOOKUPS = "gridbot.lookups"  # session.info key of a batch's preloaded look-ups


@dataclass
class Lookups:
    """What a batch of inbound messages will look up, loaded in one query per kind: the groups
    of its rooms, the people behind its senders, and each message's flood count. Kept in the
    session's ``info`` (see ``preload_inbound``) for the batch's transaction; a key missing from
    a dict is unknown and read from the database, a key mapped to None is known to be absent.
    Without it every chit-chat message cost three queries before it was even classified."""

    groups: dict[str, ChatGroup | None]
    people: dict[str, Person | None]
    recent: dict[tuple[str, int, datetime], int]  # (sender, up to row id, since) -> count


def _lookups(session: Session) -> Lookups | None:
    return session.info.get(LOOKUPS)


def preload_inbound(session: Session, rows: Sequence[InboundMessage], *,
                    window: timedelta) -> Lookups:
    """Load the look-ups of a batch of inbound rows (see ``Lookups``) into the session; they
    hold until ``forget_preloaded``. ``window``: the flood check's, each row counted over the
    ``window`` before it was received, up to itself, as ``count_recent_inbound`` would."""
    rooms = {r.room_id for r in rows if r.room_id}
    senders = {r.sender_id for r in rows}
    groups: dict[str, ChatGroup | None] = dict.fromkeys(rooms)
    if rooms:
        for group in session.exec(select(ChatGroup).where(col(ChatGroup.room_id).in_(rooms))):
            groups[group.room_id] = group
    people: dict[str, Person | None] = dict.fromkeys(senders)
    if senders:
        for person in session.exec(select(Person).where(col(Person.contact_id).in_(senders))):
            people[person.contact_id] = person
    recent: dict[tuple[str, int, datetime], int] = {}
    texts = [r for r in rows if r.kind == "text" and r.id is not None]
    if texts:
        since = min(r.received_at for r in texts) - window
        up_to = max(r.id or 0 for r in texts)
        seen: dict[str, list[tuple[int, datetime]]] = {}
        for sender, row_id, at in session.exec(
                select(InboundMessage.sender_id, InboundMessage.id, InboundMessage.received_at)
                .where(col(InboundMessage.sender_id).in_({r.sender_id for r in texts}))
                .where(col(InboundMessage.received_at) >= since)
                .where(col(InboundMessage.id) <= up_to)):
            seen.setdefault(sender, []).append((row_id, at))
        for r in texts:
            start = r.received_at - window
            recent[(r.sender_id, r.id or 0, start)] = sum(
                1 for row_id, at in seen.get(r.sender_id, ()) if row_id <= (r.id or 0)
                and at >= start)
    lookups = Lookups(groups, people, recent)
    session.info[LOOKUPS] = lookups
    return lookups


def forget_preloaded(session: Session) -> None:
    """Drop a batch's look-ups (its work was rolled back, or it is over)."""
    session.info.pop(LOOKUPS, None)


def get_group(session: Session, *, room_id: str) -> ChatGroup | None:
    lookups = _lookups(session)
    if lookups is not None and room_id in lookups.groups:
        return lookups.groups[room_id]
    return session.exec(select(ChatGroup).where(ChatGroup.room_id == room_id)).first()


def record_room(session: Session, *, room_id: str, topic: str,
                account: str | None = None) -> ChatGroup:
    """A room the transport reports: new ones are recorded unbound (a leader binds them with
    绑定网格), known ones get their current topic. The first account to report a room serves
    it; another account sitting in the same group stays silent there."""
    group = get_group(session, room_id=room_id)
    if group is None:
        try:
            with session.begin_nested():
                group = ChatGroup(room_id=room_id, topic=topic, account=account)
                session.add(group)
            return group
        except IntegrityError:
            group = get_group(session, room_id=room_id)
            assert group is not None
    if topic and group.topic != topic:
        group.topic = topic
    if account and group.account is None:
        group.account = account
    return group


def get_grid(session: Session, *, grid_id: int) -> Grid | None:
    return session.get(Grid, grid_id)


def list_grids(session: Session) -> list[Grid]:
    return list(session.exec(select(Grid).order_by(col(Grid.id))).all())


MAX_ID = 2**31 - 1  # the largest id or case number an INTEGER column holds on every database


def as_id(text: str) -> int | None:
    """``text`` as a row id or case number, or None when it is not one (not plain ASCII digits,
    or larger than any row can have: the database would raise instead of finding nothing)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def find_grid(session: Session, *, ref: str) -> Grid | None:
    """A grid by id or by name, as API filters and chat commands give it."""
    if ref.isdigit():
        row_id = as_id(ref)
        return session.get(Grid, row_id) if row_id is not None else None
    return session.exec(select(Grid).where(Grid.name == ref)).first()


def get_person(session: Session, *, contact_id: str) -> Person | None:
    lookups = _lookups(session)
    if lookups is not None and contact_id in lookups.people:
        return lookups.people[contact_id]
    return session.exec(select(Person).where(Person.contact_id == contact_id)).first()


def get_or_create_resident(session: Session, *, contact_id: str, name: str,
                           account: str | None = None) -> Person:
    """The person behind a chat contact, created as a resident on first contact. ``account``:
    the bot account that heard from them, so private answers go out through it."""
    person = get_person(session, contact_id=contact_id)
    if person is None:
        try:
            with session.begin_nested():
                person = Person(contact_id=contact_id, name=name or contact_id,
                                role=Role.RESIDENT, account=account)
                session.add(person)
            if (lookups := _lookups(session)) is not None:
                lookups.people[contact_id] = person
            return person
        except IntegrityError:  # their first two messages raced; the other one created them
            if (lookups := _lookups(session)) is not None:
                lookups.people.pop(contact_id, None)
            person = get_person(session, contact_id=contact_id)
            assert person is not None
    if name and person.name != name:
        person.name = name  # people rename themselves in WeChat; keep the latest display name
    if account and person.account != account:
        person.account = account
    return person


def person_name(session: Session, *, person_id: int | None) -> str | None:
    person = session.get(Person, person_id) if person_id else None
    return person.name if person else None


def grid_staff(session: Session, *, grid_id: int) -> list[Person]:
    """The grid's workers and leader, workers first: who follows up a case."""
    people = session.exec(
        select(Person)
        .where(Person.grid_id == grid_id)
        .where(col(Person.role).in_([Role.GRID_WORKER, Role.GRID_LEADER]))
        .order_by(col(Person.id))
    ).all()
    return sorted(people, key=lambda p: p.role != Role.GRID_WORKER)


@dataclass(frozen=True)
class GroupView:
    group: ChatGroup
    grid: Grid | None
    community: Community | None
    staff: list[Person]


def list_groups(session: Session) -> list[GroupView]:
    views = []
    for group in session.exec(select(ChatGroup).order_by(col(ChatGroup.id))).all():
        grid = session.get(Grid, group.grid_id) if group.grid_id else None
        community_id = grid.community_id if grid else group.community_id
        community = session.get(Community, community_id) if community_id else None
        staff = grid_staff(session, grid_id=grid.id) if grid and grid.id else []
        views.append(GroupView(group, grid, community, staff))
    return views


def group_members(session: Session, *, group: ChatGroup) -> list[Person]:
    """People known to belong to a group: a grid group's workers and residents; a community
    staff group's staff and the leaders of its grids."""
    if group.grid_id is not None:
        return list(session.exec(
            select(Person).where(Person.grid_id == group.grid_id).order_by(col(Person.id))
        ).all())
    if group.community_id is not None:
        grids = select(Grid.id).where(Grid.community_id == group.community_id)
        return list(session.exec(
            select(Person).where((Person.role == Role.STAFF)
                                 | ((Person.role == Role.GRID_LEADER)
                                    & col(Person.grid_id).in_(grids)))
            .order_by(col(Person.id))
        ).all())
    return []


def home_group(session: Session, *, person: Person) -> ChatGroup | None:
    """The group of the grid a person belongs to, for requests they send the bot privately."""
    if person.grid_id is None:
        return None
    return session.exec(
        select(ChatGroup).where(ChatGroup.grid_id == person.grid_id).order_by(col(ChatGroup.id))
    ).first()


def has_hierarchy(session: Session) -> bool:
    return session.exec(select(Street.id).limit(1)).first() is not None


# --- cases --------------------------------------------------------------------------------------


def next_number(session: Session, *, name: str = CASE_COUNTER) -> int:
    """Atomically take the next value of a counter. The UPDATE takes a row lock, so concurrent
    processes on PostgreSQL queue up instead of handing out the same number."""
    stmt = (
        sa.update(Counter)
        .where(col(Counter.name) == name)
        .values(value=col(Counter.value) + 1)
        .returning(col(Counter.value))
    )
    value = session.execute(stmt).scalar_one_or_none()
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.add(Counter(name=name, value=1))
        return 1
    except IntegrityError:  # another process created it first
        return session.execute(stmt).scalar_one()


def add_case(session: Session, case: Case, *, actor_id: int | None, note: str = "") -> Case:
    case.no = next_number(session)
    session.add(case)
    session.flush()
    record_event(session, case=case, actor_id=actor_id, action="report",
                 from_status=None, to_status=case.status, note=note, at=case.created_at)
    return case


def record_event(session: Session, *, case: Case, actor_id: int | None, action: str,
                 from_status: str | None, to_status: str | None, note: str = "",
                 at: datetime | None = None) -> CaseEvent:
    """``at`` is the domain clock's time (``ctx.now()``), so a timeline and the figures built
    from it agree with the case's own timestamps; the wall clock only when none is given."""
    assert case.id is not None
    event = CaseEvent(case_id=case.id, actor_id=actor_id, action=action,
                      from_status=from_status, to_status=to_status, note=note)
    if at is not None:
        event.at = at
    session.add(event)
    return event


def get_case(session: Session, *, no: int) -> Case | None:
    return session.exec(select(Case).where(Case.no == no)).first()


def latest_open_case(session: Session, *, reporter_id: int, group_id: int,
                     since: datetime) -> Case | None:
    open_states = [CaseStatus.REPORTED, CaseStatus.ACCEPTED, CaseStatus.DISPATCHED,
                   CaseStatus.REOPENED, CaseStatus.RESOLVED]
    return session.exec(
        select(Case).where(Case.reporter_id == reporter_id).where(Case.group_id == group_id)
        .where(col(Case.status).in_(open_states)).where(col(Case.created_at) >= since)
        .order_by(col(Case.created_at).desc())
    ).first()


def list_cases(session: Session, *, status: str | None = None, grid_id: int | None = None,
               category: str | None = None, urgent: bool | None = None,
               limit: int = 100, offset: int = 0) -> Sequence[Case]:
    q = select(Case)
    if status:
        q = q.where(Case.status == status)
    if grid_id is not None:
        q = q.where(Case.grid_id == grid_id)
    if category:
        q = q.where(Case.category == category)
    if urgent is not None:
        q = q.where(Case.urgent == urgent)
    return session.exec(q.order_by(col(Case.no).desc()).offset(offset).limit(limit)).all()


def case_events(session: Session, *, case_id: int) -> Sequence[CaseEvent]:
    return session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
    ).all()


# --- inbound log --------------------------------------------------------------------------------


def record_inbound(session: Session, message: InboundMessage) -> InboundMessage | None:
    """Store a received message; None if this transport delivered the same id before."""
    try:
        with session.begin_nested():
            session.add(message)
        return message
    except IntegrityError:
        return None


def record_inbound_many(session: Session, messages: Sequence[InboundMessage]) -> dict[str, int]:
    """Store received messages of one transport and account in one statement; a message whose
    id that transport and account delivered before (or earlier in ``messages``) is skipped by
    the unique constraint (ON CONFLICT DO NOTHING), not an error. Returns the new rows' ids by
    message id."""
    if not messages:
        return {}
    insert = (sa_postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sa_sqlite.insert)
    table = InboundMessage.__table__  # type: ignore[attr-defined]
    values = [m.model_dump(exclude={"id"}) for m in messages]
    stmt = (insert(table).values(values).on_conflict_do_nothing()
            .returning(table.c.id, table.c.message_id))
    return {message_id: row_id for row_id, message_id in session.execute(stmt)}


def mark_inbound_done(session: Session, *, ids: Sequence[int], outcome: str,
                      at: datetime) -> None:
    """Mark processed rows that share an outcome and link no case, in one statement."""
    session.execute(
        sa.update(InboundMessage).where(col(InboundMessage.id).in_(ids))
        .values(status=InboundStatus.DONE, outcome=outcome, processed_at=at, error=None)
        .execution_options(synchronize_session=False))


def count_recent_inbound(session: Session, *, sender_id: str, since: datetime,
                         up_to_id: int) -> int:
    """Messages from one sender received since ``since``, up to and including row
    ``up_to_id`` (so a message is judged by what came before it, not after)."""
    lookups = _lookups(session)
    if lookups is not None and (key := (sender_id, up_to_id, since)) in lookups.recent:
        return lookups.recent[key]
    return session.exec(
        select(sa.func.count()).select_from(InboundMessage)
        .where(InboundMessage.sender_id == sender_id)
        .where(col(InboundMessage.received_at) >= since)
        .where(col(InboundMessage.id) <= up_to_id)
    ).one()


def told_to_slow_down(session: Session, *, sender_id: str, since: datetime) -> bool:
    return session.exec(
        select(InboundMessage.id).where(InboundMessage.sender_id == sender_id)
        .where(col(InboundMessage.received_at) >= since)
        .where(InboundMessage.outcome == "throttled_told").limit(1)
    ).first() is not None


def inbound_to_retry(session: Session, *, now: datetime, account: str = "",
                     limit: int = 100) -> Sequence[int]:
    """Messages that are stored but not processed: left over from a crash, or failed earlier.
    Only those ``account`` received ("" for a single instance): another process's pending rows
    are its own queue, waiting their turn, and would be judged "other account" here."""
    return session.exec(
        select(InboundMessage.id)
        .where(col(InboundMessage.status).in_([InboundStatus.PENDING, InboundStatus.FAILED]))
        .where(InboundMessage.account == account)
        .where((col(InboundMessage.next_attempt_at).is_(None))
               | (col(InboundMessage.next_attempt_at) <= now))
        .order_by(col(InboundMessage.id))
        .limit(limit)
    ).all()  # type: ignore[return-value]


def queue_depths(session: Session) -> tuple[int, int, int]:
    """(stored messages not processed yet, outbox rows waiting, outbox rows failed for good)."""
    inbound = session.exec(select(sa.func.count()).select_from(InboundMessage).where(
        col(InboundMessage.status).in_([InboundStatus.PENDING, InboundStatus.FAILED]))).one()
    rows = dict(session.exec(select(OutboxMessage.status, sa.func.count())
                             .group_by(OutboxMessage.status)).all())
    waiting = rows.get(OutboxStatus.PENDING, 0) + rows.get(OutboxStatus.SENDING, 0)
    return inbound, waiting, rows.get(OutboxStatus.FAILED, 0)


# --- outbox -------------------------------------------------------------------------------------


def enqueue(session: Session, *, text: str, room_id: str | None = None,
            contact_id: str | None = None, mention_ids: Sequence[str] = (),
            case_id: int | None = None, priority: int = 0) -> OutboxMessage:
    if (room_id is None) == (contact_id is None):
        raise ValueError("an outbox message goes to exactly one room or one contact")
    row = OutboxMessage(room_id=room_id, contact_id=contact_id, text=text,
                        mention_ids=list(mention_ids), case_id=case_id, priority=priority,
                        account=_sending_account(session, room_id=room_id,
                                                 contact_id=contact_id))
    session.add(row)
    return row


def _sending_account(session: Session, *, room_id: str | None,
                     contact_id: str | None) -> str | None:
    """Only the account that sits in a group (or knows a contact) can send there; None lets
    any instance send."""
    if room_id is not None:
        return session.exec(select(ChatGroup.account).where(ChatGroup.room_id == room_id)).first()
    return session.exec(select(Person.account).where(Person.contact_id == contact_id)).first()


def due_outbox(session: Session, *, now: datetime, limit: int = 20,
               min_priority: int | None = None,
               account: str | None = None) -> Sequence[OutboxMessage]:
    """Rows due for sending by ``account``: its own and those any instance may send."""
    q = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .where((col(OutboxMessage.next_attempt_at).is_(None))
               | (col(OutboxMessage.next_attempt_at) <= now))
    )
    if min_priority is not None:
        q = q.where(col(OutboxMessage.priority) >= min_priority)
    if account is not None:
        q = q.where((col(OutboxMessage.account) == account)
                    | col(OutboxMessage.account).is_(None))
    return session.exec(
        q.order_by(col(OutboxMessage.priority).desc(), col(OutboxMessage.id)).limit(limit)
    ).all()


def claim_outbox(session: Session, *, row_id: int, now: datetime, by: str = "") -> bool:
    """Take a pending row for sending (compare-and-set on its status). Only one claimer wins,
    so a row cancelled meanwhile, or taken by another process, is not sent."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id)
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=by or None)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_stale_claims(session: Session, *, before: datetime,
                         predecessor: str | None = None) -> int:
    """Rows a sender claimed and never finished (it died mid-send) go back to the queue — a
    message is rather sent twice than lost: claims older than ``before``, and at once those of
    ``predecessor`` (a claimed_by prefix such as "account@host:", this process's previous
    life)."""
    stale = col(OutboxMessage.claimed_at) < before
    if predecessor:
        stale = stale | col(OutboxMessage.claimed_by).startswith(predecessor)
    result = session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING).where(stale)
        .values(status=OutboxStatus.PENDING)
    )
    return result.rowcount  # type: ignore[attr-defined, no-any-return]


def sent_since(session: Session, *, since: datetime, account: str | None = None) -> int:
    q = (select(sa.func.count()).select_from(OutboxMessage)
         .where(OutboxMessage.status == OutboxStatus.SENT)
         .where(col(OutboxMessage.sent_at) >= since))
    if account is not None:
        q = q.where(OutboxMessage.sent_by == account)
    return session.exec(q).one()


def next_outbox_retry(session: Session) -> datetime | None:
    """When the earliest pending row that is waiting for a retry becomes due."""
    return session.exec(
        select(sa.func.min(OutboxMessage.next_attempt_at))
        .where(OutboxMessage.status == OutboxStatus.PENDING)
    ).one()


# --- notices ------------------------------------------------------------------------------------


def next_notice_due(session: Session) -> datetime | None:
    return session.exec(select(sa.func.min(Notice.next_run_at))
                        .where(Notice.status == NoticeStatus.ACTIVE)).one()


# --- API tokens ---------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, role: str, label: str = "", scope: str = "read",
                 account_id: int | None = None) -> str:
    """A new token, shown once. With ``account_id`` it sees and acts as that dashboard account
    (acting needs ``scope="write"``); without, it reads the whole township."""
    token = "gbt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_hash(token), role=role, label=label, scope=scope,
                         account_id=account_id))
    return token


def token_row(session: Session, *, token: str) -> ApiToken | None:
    """The live token row for a presented token (its role, scope and account)."""
    return session.exec(
        select(ApiToken).where(ApiToken.token_hash == _hash(token))
        .where(col(ApiToken.revoked_at).is_(None))
    ).first()


def token_role(session: Session, *, token: str) -> str | None:
    row = token_row(session, token=token)
    return row.role if row else None



# --- leases -------------------------------------------------------------------------------------


def take_lease(session: Session, *, name: str, holder: str, now: datetime,
               ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; False while another
    holder's lease runs. One conditional UPDATE, so two processes cannot both win."""
    expires = now + timedelta(seconds=ttl)
    result = session.execute(
        sa.update(Lease).where(col(Lease.name) == name)
        .where((col(Lease.holder) == holder) | (col(Lease.expires_at) < now))
        .values(holder=holder, expires_at=expires)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    if session.get(Lease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=expires))
        return True
    except IntegrityError:
        return False


def release_lease(session: Session, *, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (graceful shutdown), so a successor need not wait it out."""
    session.execute(sa.update(Lease).where(col(Lease.name) == name)
                    .where(col(Lease.holder) == holder).values(expires_at=now))


# --- the dashboard: hierarchy look-ups, accounts, secrets ---------------------------------------


def find_community(session: Session, *, ref: str) -> Community | None:
    """A community by id or by name, as the CLI and filters give it."""
    if ref.isdigit():
        row_id = as_id(ref)
        return session.get(Community, row_id) if row_id is not None else None
    return session.exec(select(Community).where(Community.name == ref)).first()


def list_communities(session: Session) -> list[Community]:
    return list(session.exec(select(Community).order_by(col(Community.id))).all())


def list_streets(session: Session) -> list[Street]:
    return list(session.exec(select(Street).order_by(col(Street.id))).all())


def get_account(session: Session, *, username: str) -> StaffAccount | None:
    return session.exec(select(StaffAccount).where(StaffAccount.username == username)).first()


def account_for_person(session: Session, *, person_id: int) -> StaffAccount | None:
    return session.exec(select(StaffAccount).where(StaffAccount.person_id == person_id)).first()


def list_accounts(session: Session) -> list[StaffAccount]:
    return list(session.exec(select(StaffAccount).order_by(col(StaffAccount.id))).all())


def app_secret(session: Session, *, name: str) -> str:
    """A secret the app generated for itself, created on first use. Two processes starting at
    once agree: the loser of the insert race reads the winner's value."""
    row = session.get(AppSecret, name)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():
            row = AppSecret(name=name, value=secrets.token_urlsafe(48))
            session.add(row)
        return row.value
    except IntegrityError:
        row = session.get(AppSecret, name)
        assert row is not None
        return row.value
