"""The notices API: publish (now, at a time, on a repeat rule), follow a broadcast's progress and
receipts, cancel what has not gone out, resend to quiet groups.

Everything a request gets wrong is refused with a 400 and a Chinese sentence before anything is
stored; the domain rules live in handlers/notices/, this module only translates JSON. Township
and community staff publish (a login, or a write token of their account); community staff only
to their own community's groups. Everyone reads the notices that concern their grids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session, col, select

from bot.web.keys import RUNTIME, SETTINGS, VIEWER
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.texts import api_text
from bot.web.viewer import Viewer
from handlers.context import Context
from handlers.notices import status
from handlers.notices.errors import NoticeError, NoticeForbidden
from handlers.notices.publish import (
    NoticeRequest,
    cancel_notice,
    check_reach,
    create_notice,
    reaches,
    resend,
)
from handlers.notices.targets import parse_targets
from storage import queries
from storage.models import AccountRole, ChatGroup, Notice, NoticeStatus

routes = web.RouteTableDef()

LIST_LIMIT = 200


PUBLISHERS = (AccountRole.TOWNSHIP_ADMIN, AccountRole.COMMUNITY_STAFF)


def _publisher(request: web.Request) -> Viewer:
    """The caller, if they may publish; else a 403 with the reason."""
    viewer = request.get(VIEWER)
    if viewer is None or not viewer.can_write or viewer.person is None:
        raise web.HTTPForbidden(text=api_text("notice_read_only"))
    if viewer.account is None or viewer.account.role not in PUBLISHERS:
        raise web.HTTPForbidden(text=api_text("notice_publishers_only"))
    return viewer


@routes.post("/api/notices")
async def publish(request: web.Request) -> web.Response:
    viewer = _publisher(request)
    tz = request.app[SETTINGS].general.tz
    try:
        body = await _json_object(request)
        req = _notice_request(body, tz)
    except NoticeError as exc:
        return json_error(400, str(exc), exc.key)
    runtime = request.app[RUNTIME]
    ctx = runtime.context
    assert ctx is not None

    def create(session: Session) -> int:
        return create_notice(session, ctx, req, created_by=viewer.name, person=viewer.person,
                             within=viewer.scope.grid_ids).id or 0

    try:
        notice_id = await in_session(request.app, create)
    except NoticeForbidden as exc:
        return json_error(403, str(exc), exc.key)
    except NoticeError as exc:
        return json_error(400, str(exc), exc.key)
    await runtime.run_notices()  # a notice due now is queued before we answer
    return json_response(await in_session(request.app, lambda s: _detail(s, notice_id, tz)),
                         status=201)


@routes.get("/api/notices")
async def list_notices(request: web.Request) -> web.Response:
    tz = request.app[SETTINGS].general.tz

    grid_ids = _grids(request)

    def load(session: Session) -> list[dict[str, Any]]:
        notices = session.exec(select(Notice).where(Notice.status != NoticeStatus.DRAFT)
                               .order_by(col(Notice.id).desc()).limit(LIST_LIMIT)).all()
        return [_summary(session, n, tz) for n in notices if reaches(session, n, grid_ids)]

    return json_response(await in_session(request.app, load))


@routes.get("/api/notices/{id}")
async def get_notice(request: web.Request) -> web.Response:
    notice_id = _id(request)
    tz = request.app[SETTINGS].general.tz
    grid_ids = _grids(request)

    def load(session: Session) -> dict[str, Any] | None:
        notice = session.get(Notice, notice_id)
        if notice is None or not reaches(session, notice, grid_ids):
            return None
        return _detail(session, notice_id, tz)

    body = await in_session(request.app, load)
    if body is None:
        return json_error(404, api_text("notice_not_found", id=notice_id), "notice_not_found")
    return json_response(body)


@routes.delete("/api/notices/{id}")
async def cancel(request: web.Request) -> web.Response:
    within = _grids(request)
    return await _act_on_notice(
        request, lambda session, ctx, notice: {
            "taken_back": cancel_notice(session, ctx, notice, within=within)},
        refused_status=409)


@routes.post("/api/notices/{id}/resend")
async def resend_to_quiet_groups(request: web.Request) -> web.Response:
    """{"below": N}: every group with fewer than N receipts; or {"rooms": [room ids]}."""
    try:
        body = await _json_object(request)
        below, rooms = body.get("below"), body.get("rooms")
        if (below is None) == (rooms is None):
            raise NoticeError("resend_choice")
        if below is not None and (not isinstance(below, int) or isinstance(below, bool)
                                  or below < 1):
            raise NoticeError("below_positive")
        if rooms is not None and (not isinstance(rooms, list)
                                  or not all(isinstance(r, str) for r in rooms)):
            raise NoticeError("rooms_list")
    except NoticeError as exc:
        return json_error(400, str(exc), exc.key)

    within = _grids(request)

    def run(session: Session, ctx: Context, notice: Notice) -> dict[str, Any]:
        if below is not None:
            groups = [g for g in status.quiet_groups(session, notice.id or 0, below=below)
                      if within is None or g.grid_id in within]
        else:
            groups = list(session.exec(select(ChatGroup)
                                       .where(col(ChatGroup.room_id).in_(rooms))).all())
            unknown = set(rooms or ()) - {g.room_id for g in groups}
            if unknown:
                raise NoticeError("unknown_rooms", rooms=sorted(unknown))
            check_reach(groups, within)
        return {"resent": resend(session, ctx, notice, groups=groups)}

    response = await _act_on_notice(request, run, refused_status=400)
    request.app[RUNTIME].wake_sender()
    return response


async def _act_on_notice(request: web.Request,
                         action: Callable[[Session, Context, Notice], dict[str, Any]], *,
                         refused_status: int) -> web.Response:
    """Load the notice, act on it in one transaction, answer with its state afterwards."""
    viewer = _publisher(request)
    notice_id = _id(request)
    tz = request.app[SETTINGS].general.tz
    ctx = request.app[RUNTIME].context
    assert ctx is not None

    def run(session: Session) -> dict[str, Any] | None:
        notice = session.get(Notice, notice_id)
        if notice is None or not reaches(session, notice, viewer.scope.grid_ids):
            return None
        extra = action(session, ctx, notice)
        session.flush()
        return {**(_detail(session, notice_id, tz) or {}), **extra}

    try:
        body = await in_session(request.app, run)
    except NoticeForbidden as exc:
        return json_error(403, str(exc), exc.key)
    except NoticeError as exc:
        return json_error(refused_status, str(exc), exc.key)
    if body is None:
        return json_error(404, api_text("notice_not_found", id=notice_id), "notice_not_found")
    return json_response(body)


# --- JSON in ------------------------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NoticeError("bad_json") from None
    if not isinstance(body, dict):
        raise NoticeError("not_an_object")
    return body


def _notice_request(body: dict[str, Any], tz: ZoneInfo) -> NoticeRequest:
    known = {"title", "body", "targets", "send_at", "repeat", "ask_receipt"}
    unknown = set(body) - known
    if unknown:
        raise NoticeError("unknown_fields", fields=sorted(unknown))
    for key in ("title", "body"):
        if not isinstance(body.get(key), str):
            raise NoticeError("not_text", field=key)
    parse_targets(body.get("targets"))  # shape errors first; names are checked in the domain
    rule, until = _repeat(body.get("repeat"))
    ask = body.get("ask_receipt", True)
    if not isinstance(ask, bool):
        raise NoticeError("ask_receipt_bool")
    return NoticeRequest(title=body["title"], body=body["body"], targets=body["targets"],
                         send_at=_moment(body.get("send_at"), tz), repeat=rule,
                         repeat_until=until, ask_receipt=ask)


def _moment(value: Any, tz: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NoticeError("send_at_type")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise NoticeError("send_at_format", value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _repeat(value: Any) -> tuple[str | None, date | None]:
    """A rule string ("每周一 9:00" or "0 9 * * 1"), or {"rule": ..., "until": "2027-01-31"}."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    if not isinstance(value, dict) or not isinstance(value.get("rule"), str):
        raise NoticeError("repeat_shape")
    until = value.get("until")
    if until is None:
        return value["rule"], None
    try:
        return value["rule"], date.fromisoformat(str(until))
    except ValueError:
        raise NoticeError("until_format", value=until) from None


def _grids(request: web.Request) -> frozenset[int] | None:
    viewer = request.get(VIEWER)
    return viewer.scope.grid_ids if viewer is not None else None


def _id(request: web.Request) -> int:
    found = queries.as_id(request.match_info["id"])
    if found is None:
        raise web.HTTPBadRequest(text=api_text("bad_notice_id"))
    return found


# --- JSON out -----------------------------------------------------------------------------------


def _iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def _summary(session: Session, notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    prog = status.progress(session, notice.id or 0)
    return {
        "id": notice.id,
        "title": notice.title,
        "body": notice.body,
        "targets": notice.targets,
        "send_at": _iso(notice.send_at, tz),
        "repeat": ({"rule": notice.repeat, "until": notice.repeat_until.astimezone(tz).date()
                    .isoformat() if notice.repeat_until else None} if notice.repeat else None),
        "ask_receipt": notice.ask_receipt,
        "status": status.state(session, notice, prog),
        "next_run_at": _iso(notice.next_run_at, tz),
        "created_by": notice.created_by,
        "created_at": _iso(notice.created_at, tz),
        "cancelled_at": _iso(notice.cancelled_at, tz),
        "progress": {"total": prog.total, "sent": prog.sent, "pending": prog.pending,
                     "failed": prog.failed, "cancelled": prog.cancelled},
        "receipt_count": len(status.receipts(session, notice.id or 0)),
    }


def _detail(session: Session, notice_id: int, tz: ZoneInfo) -> dict[str, Any] | None:
    notice = session.get(Notice, notice_id)
    if notice is None:
        return None
    receipts = status.receipts(session, notice_id)
    return {
        **_summary(session, notice, tz),
        "runs": [{"id": r.id, "scheduled_for": _iso(r.scheduled_for, tz), "kind": r.kind,
                  "status": r.status, "note": r.note}
                 for r in status.runs(session, notice_id)],
        "deliveries": [{"run": d.run_id, "room": d.group.room_id, "topic": d.group.topic,
                        "status": d.status, "sent_at": _iso(d.sent_at, tz), "error": d.error}
                       for d in status.deliveries(session, notice_id)],
        "receipts": {
            "count": len(receipts),
            "people": [{"name": r.person, "room": r.group.room_id, "at": _iso(r.at, tz)}
                       for r in receipts],
            "by_group": [{"room": g.room_id, "topic": g.topic, "count": n}
                         for g, n in status.receipt_counts(session, notice_id)],
        },
    }
