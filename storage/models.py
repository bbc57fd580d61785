"""The tables. Workflow state and delivery state live in separate columns (FixMyStreet's habit):
"where is the case" and "did our message go out" are different questions.

Datetimes are stored as naive UTC and handed back timezone-aware, so SQLite and PostgreSQL agree.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every engine."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index),
    )


class Role(enum.StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    GRID_LEADER = "grid_leader"
    STAFF = "staff"


class CaseStatus(enum.StrEnum):
    REPORTED = "reported"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    REJECTED = "rejected"
    MERGED = "merged"


class InboundStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # will be retried
    PARKED = "parked"  # gave up retrying; kept for staff to look at


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; back to pending if it died mid-send
    SENT = "sent"
    FAILED = "failed"  # gave up retrying; shown to staff
    CANCELLED = "cancelled"  # a notice cancelled before this row went out


# --- the grid hierarchy -------------------------------------------------------------------------


class Street(SQLModel, table=True):
    """A street (街道) or township (乡镇): the top of what one deployment serves."""

    __tablename__ = "streets"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)


class Community(SQLModel, table=True):
    __tablename__ = "communities"
    id: int | None = Field(default=None, primary_key=True)
    street_id: int = Field(foreign_key="streets.id", index=True)
    name: str = Field(max_length=100)


class Grid(SQLModel, table=True):
    __tablename__ = "grids"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    name: str = Field(unique=True, max_length=100)


class GroupKind(enum.StrEnum):
    RESIDENT = "resident"  # a grid's residents' group: where cases are reported and relayed
    STAFF = "staff"  # a community's working group: where overdue cases escalate
    TOWNSHIP = "township"  # the street's own working group: weekly reports on every grid


class ChatGroup(SQLModel, table=True):
    """A chat room the bot sits in. Bound to a grid by the transport's room id, never by topic,
    because residents rename groups. Staff working groups are bound to a community instead, the
    township's working group to its street. Tags ("老旧小区", "沿街商铺") let staff address a
    notice to groups across grids."""

    __tablename__ = "chat_groups"
    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(unique=True, max_length=200)
    topic: str = Field(default="", max_length=200)
    kind: str = Field(default=GroupKind.RESIDENT, max_length=20)
    grid_id: int | None = Field(default=None, foreign_key="grids.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="communities.id", index=True)
    street_id: int | None = Field(default=None, foreign_key="streets.id", index=True)
    tags: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # the bot account that serves this group ([instance] account); None: any instance
    account: str | None = Field(default=None, max_length=100, index=True)
    created_at: datetime = _ts()


#: contact id prefix of browser-only people (dashboard staff without a chat contact): nothing can
#: be sent to them by chat
WEB_CONTACT_PREFIX = "web:"


class Person(SQLModel, table=True):
    """Anyone the bot has met in a chat. Residents are created on first message; workers,
    leaders and staff are registered (demo seed, later the dashboard)."""

    __tablename__ = "people"
    id: int | None = Field(default=None, primary_key=True)
    contact_id: str = Field(unique=True, max_length=200)
    name: str = Field(max_length=100)
    role: str = Field(default=Role.RESIDENT, max_length=20, index=True)
    grid_id: int | None = Field(default=None, foreign_key="grids.id", index=True)
    # staff only: the community they answer for (its grids' cases and groups), or the street
    # when they serve the whole township; neither: refused in chat until an admin sets it
    # (0008_staff_community; see handlers/commands/permissions.py staff_reach)
    community_id: int | None = Field(default=None, foreign_key="communities.id", index=True)
    street_id: int | None = Field(default=None, foreign_key="streets.id", index=True)
    account: str | None = Field(default=None, max_length=100)  # the bot account they last wrote to
    created_at: datetime = _ts()


# --- cases --------------------------------------------------------------------------------------


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASIC = "basic"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意
    UNRATED = "unrated"  # 未评价: the follow-up ran out; not counted as satisfied


#: the open states (handlers.cases.workflow.OPEN_STATES) in a fixed order, and as SQL for
#: partial indexes: SQLite uses such an index only for a query that names the same values in
#: the same order, inline (see handlers.ledger.open_status)
OPEN_CASE_STATES = ("reported", "accepted", "dispatched", "reopened")
OPEN_CASES_SQL = f"status IN ({', '.join(repr(s) for s in OPEN_CASE_STATES)})"


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    # the ledger's filters with its newest-first order, and the figures' grid + period
    # (0007_scale_indexes)
    __table_args__ = (sa.Index("ix_cases_grid_no", "grid_id", "no"),
                      sa.Index("ix_cases_status_no", "status", "no"),
                      sa.Index("ix_cases_category_no", "category", "no"),
                      sa.Index("ix_cases_grid_created", "grid_id", "created_at"),
                      # open cases only, with both deadlines: the overdue count reads this
                      # small index alone instead of every open case's row (0009)
                      sa.Index("ix_cases_open_due", "status", "accept_due_at", "resolve_due_at",
                               postgresql_where=sa.text(OPEN_CASES_SQL),
                               sqlite_where=sa.text(OPEN_CASES_SQL)))
    id: int | None = Field(default=None, primary_key=True)
    no: int = Field(unique=True, index=True)  # shown to people as #N
    grid_id: int = Field(foreign_key="grids.id", index=True)
    group_id: int = Field(foreign_key="chat_groups.id", index=True)
    reporter_id: int = Field(foreign_key="people.id", index=True)
    text: str
    category: str = Field(max_length=20, index=True)
    urgent: bool = Field(default=False, index=True)
    location: str | None = Field(default=None, max_length=100)
    confidence: float = 0.0
    status: str = Field(default=CaseStatus.REPORTED, max_length=20, index=True)
    source_message_id: int | None = Field(default=None, foreign_key="inbound_messages.id")
    assignee_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    dispatched_to: str | None = Field(default=None, max_length=100)
    merged_into: int | None = None  # the #M this case was merged into
    satisfaction: str | None = Field(default=None, max_length=20)
    reopen_count: int = 0
    escalation_level: int = 0  # 0 none, 1 grid leader, 2 community staff group
    accept_due_at: datetime | None = _ts(nullable=True)
    resolve_due_at: datetime | None = _ts(nullable=True)
    reminded_at: datetime | None = _ts(nullable=True)  # the worker's pre-deadline reminder
    accepted_at: datetime | None = _ts(nullable=True)
    resolved_at: datetime | None = _ts(nullable=True)
    followup_reminded_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    urged_at: datetime | None = _ts(nullable=True)  # the resident's last 催办
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()


class CaseSupporter(SQLModel, table=True):
    """Another resident who reported the same problem: told the case number, @-ed on updates."""

    __tablename__ = "case_supporters"
    __table_args__ = (sa.UniqueConstraint("case_id", "person_id", name="uq_case_supporter"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    person_id: int = Field(foreign_key="people.id")
    created_at: datetime = _ts()


class CaseEvent(SQLModel, table=True):
    """Every change of a case is a row: who, when, from which state to which, and why."""

    __tablename__ = "case_events"
    # a case's first response and its 不是工单 mark, without reading its whole timeline
    __table_args__ = (sa.Index("ix_case_events_case_action_at", "case_id", "action", "at"),
                      # the few cases marked 不是工单, which the figures leave out: found
                      # without scanning every event (0009)
                      sa.Index("ix_case_events_dismissed", "case_id",
                               postgresql_where=sa.text("action = 'dismiss'"),
                               sqlite_where=sa.text("action = 'dismiss'")))
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="people.id")
    action: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    note: str = ""
    at: datetime = _ts()


class Counter(SQLModel, table=True):
    """Named counters incremented atomically in the database, so case numbers stay unique even
    when several processes open cases at once."""

    __tablename__ = "counters"
    name: str = Field(primary_key=True, max_length=50)
    value: int = 0


# --- messages in and out ------------------------------------------------------------------------


class InboundMessage(SQLModel, table=True):
    """Every message the bot received, stored before it is processed: nothing is lost on a crash,
    and a message redelivered by the transport is recognised by its id."""

    __tablename__ = "inbound_messages"
    __table_args__ = (sa.UniqueConstraint("transport", "account", "message_id",
                                          name="uq_inbound_message"),
                      sa.Index("ix_inbound_sender_received", "sender_id", "received_at"))
    id: int | None = Field(default=None, primary_key=True)
    transport: str = Field(max_length=20)
    # the bot account that received it ("" for a single instance): ids are unique per account
    account: str = Field(default="", max_length=100)
    message_id: str = Field(max_length=200)
    room_id: str | None = Field(default=None, max_length=200, index=True)
    sender_id: str = Field(max_length=200)
    sender_name: str = Field(default="", max_length=100)
    kind: str = Field(default="text", max_length=20)
    text: str = ""
    mentions: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    mentions_bot: bool = False
    sent_at: datetime = _ts()
    received_at: datetime = _ts()
    status: str = Field(default=InboundStatus.PENDING, max_length=20, index=True)
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = _ts(nullable=True)
    processed_at: datetime | None = _ts(nullable=True)
    case_id: int | None = Field(default=None)
    outcome: str | None = Field(default=None, max_length=30)


class Priority(enum.IntEnum):
    """Outbox order: an emergency first, conversation next, broadcasts when nothing else waits."""

    BULK = -10  # notices and digests
    NORMAL = 0  # acknowledgements, relays, answers to commands
    URGENT = 10  # urgent cases: also allowed past the daily send cap


class OutboxMessage(SQLModel, table=True):
    """A message to send, persisted first, then sent, then marked."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    account: str | None = Field(default=None, max_length=100, index=True)  # who may send it
    room_id: str | None = Field(default=None, max_length=200, index=True)
    contact_id: str | None = Field(default=None, max_length=200)
    text: str
    mention_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    priority: int = 0  # higher goes first: urgent case messages jump the queue
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    status: str = Field(default=OutboxStatus.PENDING, max_length=20, index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = _ts()
    next_attempt_at: datetime | None = _ts(nullable=True)
    claimed_at: datetime | None = _ts(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=200)  # account@host:pid
    sent_at: datetime | None = _ts(nullable=True)
    sent_by: str | None = Field(default=None, max_length=100)  # the account that sent it


class Lease(SQLModel, table=True):
    """A lease one process holds for a while and renews ("scheduler": exactly one process runs the
    sweeps). A holder that dies stops renewing, and another takes over when it expires."""

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=200)
    expires_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    """Only a hash is stored: a leaked database does not leak working tokens."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    role: str = Field(max_length=20)
    label: str = Field(default="", max_length=100)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)
    # "read": GET only; "write": may also act on cases, as its account (see TokenScope)
    scope: str = Field(default="read", max_length=10,
                       sa_column_kwargs={"server_default": "read"})
    # a token for a dashboard account sees and acts as that account; None: the whole township
    account_id: int | None = Field(default=None, foreign_key="staff_accounts.id")


class Correction(SQLModel, table=True):
    """A worker correcting the classifier (改类, 不是工单): kept so `gridbot eval --corrections`
    can measure the rules on real mistakes and show which corrections recur."""

    __tablename__ = "corrections"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    text: str
    field: str = Field(max_length=20)  # "category" or "is_request"
    old_value: str = Field(max_length=20)
    new_value: str = Field(max_length=20)
    actor_id: int | None = Field(default=None, foreign_key="people.id")
    at: datetime = _ts()


# --- notices and digests ------------------------------------------------------------------------


class NoticeStatus(enum.StrEnum):
    DRAFT = "draft"  # composed in chat, waiting for 确认发布
    ACTIVE = "active"  # scheduled or sent; what it is doing is derived from runs and deliveries
    CANCELLED = "cancelled"


class Notice(SQLModel, table=True):
    """A notice staff publish to many groups: now, at ``send_at``, or on a repeat rule. The row is
    the schedule: ``next_run_at`` is when it is next due, so a restart loses nothing."""

    __tablename__ = "notices"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=100)
    body: str  # a jinja2 template rendered per group
    targets: dict[str, Any] = Field(default_factory=dict,
                                    sa_column=sa.Column(sa.JSON, nullable=False))
    send_at: datetime | None = _ts(nullable=True)
    repeat: str | None = Field(default=None, max_length=100)  # crontab: "0 9 * * 1"
    repeat_until: datetime | None = _ts(nullable=True)
    ask_receipt: bool = True
    status: str = Field(default=NoticeStatus.ACTIVE, max_length=20, index=True)
    next_run_at: datetime | None = _ts(nullable=True, index=True)
    created_by: str = Field(default="", max_length=100)
    created_by_person_id: int | None = Field(default=None, foreign_key="people.id")
    created_at: datetime = _ts()
    cancelled_at: datetime | None = _ts(nullable=True)


class NoticeRunStatus(enum.StrEnum):
    SENT = "sent"  # deliveries were queued
    MISSED = "missed"  # gridbot was down past the grace period: reported, not sent late
    FAILED = "failed"  # the targets named no group any more; reported


class NoticeRun(SQLModel, table=True):
    """One occurrence of a notice, or one resend. ``key`` is unique per notice ("at:<moment>",
    "resend:<n>"), so an occurrence is handled once even if two sweeps (or two processes) reach
    it together."""

    __tablename__ = "notice_runs"
    __table_args__ = (sa.UniqueConstraint("notice_id", "key", name="uq_notice_run"),)
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    key: str = Field(max_length=60)
    scheduled_for: datetime = _ts()
    kind: str = Field(default="scheduled", max_length=20)  # scheduled | resend
    status: str = Field(default=NoticeRunStatus.SENT, max_length=20)
    note: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class NoticeDelivery(SQLModel, table=True):
    """One group's copy of one occurrence. Its delivery state is its outbox row's."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (sa.UniqueConstraint("run_id", "group_id", name="uq_notice_delivery"),)
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    run_id: int = Field(foreign_key="notice_runs.id", index=True)
    group_id: int = Field(foreign_key="chat_groups.id", index=True)
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")


class NoticeReceipt(SQLModel, table=True):
    """A resident's 收到 after a notice: once per person and notice."""

    __tablename__ = "notice_receipts"
    __table_args__ = (sa.UniqueConstraint("notice_id", "person_id", name="uq_notice_receipt"),)
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    person_id: int = Field(foreign_key="people.id")
    group_id: int = Field(foreign_key="chat_groups.id", index=True)
    text: str = Field(default="", max_length=100)
    at: datetime = _ts()


class DigestRun(SQLModel, table=True):
    """A digest sent for one period ("daily:2026-11-25"): the unique key keeps it from going out
    twice across restarts or processes."""

    __tablename__ = "digest_runs"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=60)
    kind: str = Field(max_length=20)
    messages: int = 0
    at: datetime = _ts()


# --- the dashboard: staff accounts, their logins, the app's own secrets -------------------------


class AccountRole(enum.StrEnum):
    """What a dashboard account may see: the whole township, one community's grids, one grid."""

    TOWNSHIP_ADMIN = "township_admin"
    COMMUNITY_STAFF = "community_staff"
    GRID_LEADER = "grid_leader"
    GRID_WORKER = "grid_worker"


class TokenScope(enum.StrEnum):
    READ = "read"
    WRITE = "write"


class StaffAccount(SQLModel, table=True):
    """A person who logs in to the dashboard. Every account acts as a Person (``person_id``):
    the case events it records name that person, and the chat permissions apply to them, so a
    step taken in the browser is the same step as the chat command."""

    __tablename__ = "staff_accounts"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=100)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    community_id: int | None = Field(default=None, foreign_key="communities.id")
    grid_id: int | None = Field(default=None, foreign_key="grids.id")
    person_id: int = Field(foreign_key="people.id", unique=True)
    # bumped when the password changes: every session cookie issued before stops working
    session_epoch: int = 0
    created_at: datetime = _ts()
    disabled_at: datetime | None = _ts(nullable=True)


class LoginAttempt(SQLModel, table=True):
    """Every login attempt, kept for the lockout (too many failures in a window) and for audit."""

    __tablename__ = "login_attempts"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, index=True)
    success: bool = False
    remote: str = Field(default="", max_length=100)
    at: datetime = _ts(index=True)


class AppSecret(SQLModel, table=True):
    """Secrets the app generates for itself on first start (the session-cookie key, unless the
    config sets one), kept in the database so every process and restart shares them."""

    __tablename__ = "app_secrets"
    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(max_length=200)
    created_at: datetime = _ts()
