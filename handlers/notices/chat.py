"""Publishing a notice from chat: staff write 发布通知 in their working group or privately, see a
preview, and confirm with 确认发布 (or drop it with 取消发布). Nothing reaches a residents' group
before the confirmation.

    发布通知 幸福里社区 垃圾分类提醒
    本周六上午9点在小区广场开展垃圾分类宣传，欢迎参加。
    定时：2026-11-28 08:00      (optional: send at a moment)
    重复：每周一 9:00            (optional: repeat; 截止：2027-01-31 ends it)

Targets are names separated by 、 or , — communities, grids, #tags — or 全部.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.notices import compose
from handlers.notices.errors import NoticeError
from handlers.notices.publish import (
    NoticeRequest,
    cancel_notice,
    confirm_draft,
    create_notice,
    send_now,
)
from handlers.notices.targets import parse_targets, resolve_groups
from storage.models import Community, Grid, Notice, NoticeStatus, Person

DRAFT_LIFETIME = timedelta(minutes=30)
ALL_WORDS = {"全部", "全部群", "所有群", "所有", "全体", "全部居民群"}
_OPTION = re.compile(r"^(?P<key>定时|时间|重复|截止|结束)\s*[:：]\s*(?P<value>.+)$")
_MOMENT = re.compile(r"^(?:(?P<y>\d{4})[-/年])?(?P<mo>\d{1,2})[-/月](?P<d>\d{1,2})[日号]?\s*"
                     r"(?P<h>\d{1,2})[:：点](?P<mi>\d{2})?分?$")


@dataclass(frozen=True)
class Preview:
    """What the bot answers to 发布通知: the template name and its variables."""

    template: str
    variables: dict[str, Any]


def compose_draft(session: Session, ctx: Context, person: Person, text: str, *,
                  within: frozenset[int] | None = None) -> Preview:
    """Turn a 发布通知 message into a stored draft and its preview; NoticeError if it is not
    complete or names something unknown, NoticeForbidden if it reaches groups outside
    ``within`` (the grids the publisher answers for; None: all), as on the dashboard."""
    head, _, rest = text.strip().partition("\n")
    names, _, title = head.strip().partition(" ")
    body_lines, options = [], {}
    for line in rest.splitlines():
        if m := _OPTION.match(line.strip()):
            options[m["key"]] = m["value"].strip()
        else:
            body_lines.append(line)
    body = "\n".join(body_lines).strip()
    if not title.strip() or not body:
        raise NoticeError("chat_format")
    targets = _targets(session, names)
    send_at = _moment(options.get("定时") or options.get("时间"), ctx)
    until = _day(options.get("截止") or options.get("结束"))
    notice = create_notice(session, ctx, NoticeRequest(
        title=title.strip(), body=body, targets=targets, send_at=send_at,
        repeat=options.get("重复"), repeat_until=until,
    ), created_by=person.name, person=person, draft=True, within=within)
    _drop_drafts(session, ctx, person, keep=notice.id)  # a refused one leaves the last draft
    groups = resolve_groups(session, parse_targets(targets))
    draft = compose.Draft(notice.title, notice.body, notice.ask_receipt)
    return Preview("notice_preview", {
        "count": len(groups), "targets": parse_targets(targets).describe(),
        "when": ctx.when(send_at) if send_at else None, "repeat": notice.repeat,
        "preview": compose.render(session, ctx, draft, groups[0], send_at or ctx.now()),
    })


def confirm(session: Session, ctx: Context, person: Person) -> Preview:
    notice = _latest_draft(session, ctx, person)
    if notice is None:
        raise NoticeError("no_draft")
    confirm_draft(session, ctx, notice)
    queued = send_now(session, ctx, notice)
    return Preview("notice_published", {
        "id": notice.id, "title": notice.title, "queued": queued,
        "next": ctx.when(notice.next_run_at) if notice.next_run_at else None,
    })


def discard(session: Session, ctx: Context, person: Person) -> Preview:
    notice = _latest_draft(session, ctx, person)
    if notice is None:
        raise NoticeError("nothing_to_discard")
    cancel_notice(session, ctx, notice)
    return Preview("notice_discarded", {"title": notice.title})


def _targets(session: Session, names: str) -> dict[str, Any]:
    parts = [p.strip() for p in re.split(r"[、,，;；]", names) if p.strip()]
    if not parts:
        raise NoticeError("chat_no_targets")
    if any(p in ALL_WORDS for p in parts):
        return {"all": True}
    found: dict[str, list[str]] = {"communities": [], "grids": [], "tags": []}
    for part in parts:
        if part.startswith(("#", "＃")):
            found["tags"].append(part[1:])
        elif session.exec(select(Community.id).where(Community.name == part)).first():
            found["communities"].append(part)
        elif session.exec(select(Grid.id).where(Grid.name == part)).first():
            found["grids"].append(part)
        else:
            raise NoticeError("chat_unknown_place", name=part)
    return {k: v for k, v in found.items() if v}


def _moment(value: str | None, ctx: Context) -> datetime | None:
    if not value:
        return None
    m = _MOMENT.match(value.strip())
    if m is None:
        raise NoticeError("chat_bad_moment", value=value)
    today = ctx.now().astimezone(ctx.calendar.tz)
    try:
        return datetime(int(m["y"] or today.year), int(m["mo"]), int(m["d"]), int(m["h"]),
                        int(m["mi"] or 0), tzinfo=ctx.calendar.tz)
    except ValueError:
        raise NoticeError("chat_invalid_moment", value=value) from None


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip().replace("/", "-"))
    except ValueError:
        raise NoticeError("chat_bad_until", value=value) from None


def _latest_draft(session: Session, ctx: Context, person: Person) -> Notice | None:
    return session.exec(
        select(Notice).where(Notice.status == NoticeStatus.DRAFT)
        .where(Notice.created_by_person_id == person.id)
        .where(col(Notice.created_at) >= ctx.now() - DRAFT_LIFETIME)
        .order_by(col(Notice.id).desc())
    ).first()


def _drop_drafts(session: Session, ctx: Context, person: Person, *,
                 keep: int | None = None) -> None:
    """A new 发布通知 replaces this person's unconfirmed drafts."""
    q = select(Notice).where(Notice.status == NoticeStatus.DRAFT) \
        .where(Notice.created_by_person_id == person.id)
    if keep is not None:
        q = q.where(Notice.id != keep)
    for notice in session.exec(q).all():
        notice.status = NoticeStatus.CANCELLED
        notice.cancelled_at = ctx.now()
