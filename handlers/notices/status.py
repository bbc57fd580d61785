"""Where a notice stands: its progress (sent / pending / failed), each group's delivery, and who
confirmed it. Derived from the deliveries' outbox rows, so it is true even mid-broadcast and after
a restart."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import (
    ChatGroup,
    Notice,
    NoticeDelivery,
    NoticeReceipt,
    NoticeRun,
    NoticeRunStatus,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
)

#: outbox state -> delivery state as staff see it
_DELIVERY = {OutboxStatus.PENDING: "pending", OutboxStatus.SENDING: "pending",
             OutboxStatus.SENT: "sent", OutboxStatus.FAILED: "failed",
             OutboxStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    pending: int
    failed: int
    cancelled: int


@dataclass(frozen=True)
class Delivery:
    run_id: int
    group: ChatGroup
    status: str
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class Receipt:
    person: str
    group: ChatGroup
    at: datetime


def progress(session: Session, notice_id: int) -> Progress:
    rows = session.exec(
        select(OutboxMessage.status, sa.func.count())
        .join(NoticeDelivery, col(NoticeDelivery.outbox_id) == col(OutboxMessage.id))
        .where(NoticeDelivery.notice_id == notice_id).group_by(OutboxMessage.status)
    ).all()
    counts: Counter[str] = Counter()
    for status, n in rows:
        counts[_DELIVERY.get(status, "pending")] += n
    return Progress(total=sum(counts.values()), sent=counts["sent"], pending=counts["pending"],
                    failed=counts["failed"], cancelled=counts["cancelled"])


def state(session: Session, notice: Notice, prog: Progress) -> str:
    """draft / scheduled / sending / sent / missed / failed / cancelled."""
    if notice.status in (NoticeStatus.DRAFT, NoticeStatus.CANCELLED):
        return str(notice.status)
    if prog.pending:
        return "sending"
    if notice.next_run_at is not None:
        return "scheduled"
    last = session.exec(select(NoticeRun).where(NoticeRun.notice_id == notice.id)
                        .order_by(col(NoticeRun.id).desc())).first()
    if last is not None and last.status in (NoticeRunStatus.MISSED, NoticeRunStatus.FAILED):
        return str(last.status)
    return "sent"


def runs(session: Session, notice_id: int) -> list[NoticeRun]:
    return list(session.exec(select(NoticeRun).where(NoticeRun.notice_id == notice_id)
                             .order_by(col(NoticeRun.id))).all())


def deliveries(session: Session, notice_id: int) -> list[Delivery]:
    rows = session.exec(
        select(NoticeDelivery, ChatGroup, OutboxMessage)
        .join(ChatGroup, col(ChatGroup.id) == col(NoticeDelivery.group_id))
        .join(OutboxMessage, col(OutboxMessage.id) == col(NoticeDelivery.outbox_id))
        .where(NoticeDelivery.notice_id == notice_id).order_by(col(NoticeDelivery.id))
    ).all()
    return [Delivery(d.run_id, g, _DELIVERY.get(o.status, "pending"), o.sent_at, o.last_error)
            for d, g, o in rows]


def receipts(session: Session, notice_id: int) -> list[Receipt]:
    rows = session.exec(
        select(NoticeReceipt, Person, ChatGroup)
        .join(Person, col(Person.id) == col(NoticeReceipt.person_id))
        .join(ChatGroup, col(ChatGroup.id) == col(NoticeReceipt.group_id))
        .where(NoticeReceipt.notice_id == notice_id).order_by(col(NoticeReceipt.id))
    ).all()
    return [Receipt(p.name, g, r.at) for r, p, g in rows]


def receipt_counts(session: Session, notice_id: int) -> list[tuple[ChatGroup, int]]:
    """Every group the notice reached, with its number of receipts, fewest first: the groups to
    remind are at the top."""
    reached = {d.group.id: d.group for d in deliveries(session, notice_id) if d.status == "sent"}
    counts = Counter(r.group.id for r in receipts(session, notice_id))
    return sorted(((g, counts[gid]) for gid, g in reached.items()),
                  key=lambda pair: (pair[1], pair[0].id or 0))


def quiet_groups(session: Session, notice_id: int, *, below: int) -> list[ChatGroup]:
    return [g for g, n in receipt_counts(session, notice_id) if n < below]
