"""What the bot gave up on: stored messages parked after their retries ran out, and outbox rows
that kept failing to send. Neither is retried forever (a poisoned message must not block the
queue, a dead room must not eat the daily budget), so staff see them here and decide: look at
the cause, fix it, and send or process them again.

A community's staff see the rows of their own grids' groups and people; the township sees all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.accounts import Scope
from storage import queries
from storage.models import (
    ChatGroup,
    InboundMessage,
    InboundStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
)

LIMIT = 200


class FailureError(Exception):
    """Why a retry was refused, for the person who asked (Chinese, from the caller's template)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "not_found" or "not_failed"


@dataclass(frozen=True)
class ParkedMessage:
    row: InboundMessage
    group: str  # the group's name, or "" for a private chat


@dataclass(frozen=True)
class FailedSend:
    row: OutboxMessage
    to: str  # the group's or the person's name


@dataclass(frozen=True)
class Failures:
    parked: list[ParkedMessage]
    failed: list[FailedSend]

    def as_dict(self) -> dict[str, list[dict[str, object]]]:
        return {
            "parked_messages": [{
                "id": p.row.id, "group": p.group, "room_id": p.row.room_id,
                "sender": p.row.sender_name, "text": p.row.text, "attempts": p.row.attempts,
                "error": p.row.error, "received_at": p.row.received_at.isoformat(),
            } for p in self.parked],
            "failed_sends": [{
                "id": f.row.id, "to": f.to, "room_id": f.row.room_id,
                "contact_id": f.row.contact_id, "text": f.row.text, "case_id": f.row.case_id,
                "attempts": f.row.attempts, "error": f.row.last_error,
                "created_at": f.row.created_at.isoformat(),
            } for f in self.failed],
        }


def _groups(session: Session, room_ids: set[str]) -> dict[str, ChatGroup]:
    """The groups these rows were in or for, in one query (not every group of the city)."""
    found = session.exec(select(ChatGroup).where(col(ChatGroup.room_id).in_(room_ids))).all()
    return {g.room_id: g for g in found}


def _people(session: Session, contact_ids: set[str]) -> dict[str, Person]:
    found = session.exec(select(Person).where(col(Person.contact_id).in_(contact_ids))).all()
    return {p.contact_id: p for p in found}


def _addressed(session: Session, room_id: str | None,
               contact_id: str | None) -> tuple[ChatGroup | None, Person | None]:
    """The group a row belongs to, or else the person it is from or for."""
    group = queries.get_group(session, room_id=room_id) if room_id else None
    person = queries.get_person(session, contact_id=contact_id) \
        if group is None and contact_id else None
    return group, person


def _visible(scope: Scope, group: ChatGroup | None, person: Person | None) -> bool:
    if scope.everything:
        return True
    if group is not None:
        return (group.grid_id is not None and scope.allows_grid(group.grid_id)) or (
            group.grid_id is None and scope.manages(group.community_id))
    return person is not None and person.grid_id is not None and scope.allows_grid(person.grid_id)


def list_failures(session: Session, scope: Scope) -> Failures:
    """Newest first, at most ``LIMIT`` of each kind the scope reaches."""
    parked_rows = session.exec(select(InboundMessage)
                               .where(InboundMessage.status == InboundStatus.PARKED)
                               .order_by(col(InboundMessage.id).desc())).all()
    failed_rows = session.exec(select(OutboxMessage)
                               .where(OutboxMessage.status == OutboxStatus.FAILED)
                               .order_by(col(OutboxMessage.id).desc())).all()
    groups = _groups(session, {r.room_id for r in [*parked_rows, *failed_rows] if r.room_id})
    people = _people(session, {r.sender_id for r in parked_rows}
                     | {r.contact_id for r in failed_rows if r.contact_id})
    parked = []
    for row in parked_rows:
        group = groups.get(row.room_id or "")
        if _visible(scope, group, None if group else people.get(row.sender_id)):
            parked.append(ParkedMessage(row, group.topic if group else ""))
            if len(parked) >= LIMIT:
                break
    failed = []
    for out in failed_rows:
        group = groups.get(out.room_id or "")
        person = people.get(out.contact_id or "")
        if _visible(scope, group, person):
            to = group.topic if group else (person.name if person else "")
            failed.append(FailedSend(out, to))
            if len(failed) >= LIMIT:
                break
    return Failures(parked, failed)


def retry_message(session: Session, scope: Scope, row_id: int) -> InboundMessage:
    """Hand a parked message back to the processor, with a fresh set of attempts."""
    row = session.get(InboundMessage, row_id)
    if row is None or not _visible(scope, *_addressed(session, row.room_id, row.sender_id)):
        raise FailureError("not_found")
    if row.status != InboundStatus.PARKED:
        raise FailureError("not_failed")
    row.status, row.attempts, row.next_attempt_at = InboundStatus.FAILED, 0, None
    session.add(row)
    return row


def retry_send(session: Session, scope: Scope, row_id: int) -> OutboxMessage:
    """Put a failed send back in the queue, with a fresh set of attempts."""
    row = session.get(OutboxMessage, row_id)
    if row is None or not _visible(scope, *_addressed(session, row.room_id, row.contact_id)):
        raise FailureError("not_found")
    if row.status != OutboxStatus.FAILED:
        raise FailureError("not_failed")
    row.status, row.attempts, row.next_attempt_at = OutboxStatus.PENDING, 0, None
    row.claimed_at = row.claimed_by = None
    session.add(row)
    return row
