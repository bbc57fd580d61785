"""Receipts: a resident's 收到 after a notice.

Staff ask residents to reply 收到 and want to know who did. A short reply made of receipt words
counts once per person for the latest notice that reached the group recently; it never opens a
case and gets no answer (a bot that answers every 收到 would flood the group).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import (
    ChatGroup,
    Notice,
    NoticeDelivery,
    NoticeReceipt,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "notices.toml"
_NOISE = re.compile(r"@[^\s@\u2005]{1,20}[\s\u2005]?|\[[^\]]{1,6}\]|[^\w]|_", re.UNICODE)


@dataclass(frozen=True)
class ReceiptRules:
    pattern: re.Pattern[str]
    max_chars: int
    window: timedelta = timedelta(hours=72)

    @classmethod
    def load(cls, path: Path | None = None, *, window: timedelta = timedelta(hours=72)
             ) -> ReceiptRules:
        raw = tomllib.loads((path or DATA).read_text(encoding="utf-8")).get("receipts", {})
        words = sorted(map(re.escape, raw.get("words", [])), key=len, reverse=True)
        endings = sorted(map(re.escape, raw.get("endings", [])), key=len, reverse=True)
        pattern = re.compile(f"^(?:{'|'.join(words)})+(?:{'|'.join(endings) or '$^'})*$",
                             re.IGNORECASE)
        return cls(pattern, int(raw.get("max_chars", 12)), window)

    def matches(self, text: str) -> bool:
        core = _NOISE.sub("", unicodedata.normalize("NFKC", text or ""))
        return 0 < len(core) <= self.max_chars and bool(self.pattern.match(core))


def latest_notice(session: Session, *, group: ChatGroup, at: datetime,
                  window: timedelta) -> Notice | None:
    """The notice most recently delivered to ``group`` before ``at``, within ``window``."""
    row = session.exec(
        select(NoticeDelivery.notice_id)
        .join(OutboxMessage, col(OutboxMessage.id) == col(NoticeDelivery.outbox_id))
        .where(NoticeDelivery.group_id == group.id)
        .where(OutboxMessage.status == OutboxStatus.SENT)
        .where(col(OutboxMessage.sent_at) <= at)
        .where(col(OutboxMessage.sent_at) >= at - window)
        .order_by(col(OutboxMessage.sent_at).desc())
    ).first()
    notice = session.get(Notice, row) if row is not None else None
    return notice if notice is not None and notice.status != NoticeStatus.DRAFT else None


def record_receipt(session: Session, rules: ReceiptRules, *, group: ChatGroup, person: Person,
                   text: str, at: datetime) -> Notice | None:
    """Count ``person``'s receipt for the group's latest notice; None when there is none to
    count (no recent notice, or this person confirmed it already)."""
    notice = latest_notice(session, group=group, at=at, window=rules.window)
    if notice is None or notice.id is None or group.id is None or person.id is None:
        return None
    try:
        with session.begin_nested():
            session.add(NoticeReceipt(notice_id=notice.id, person_id=person.id,
                                      group_id=group.id, text=text[:100], at=at))
    except IntegrityError:
        return None  # counted once per person
    return notice
