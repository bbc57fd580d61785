"""The notices page: compose a notice with a live preview, pick its targets, send it now, at a
time or on a repeat rule; follow each notice's delivery and receipts per group; cancel; resend to
quiet groups. The same domain calls as the JSON API (bot/web/notices.py) and the chat command."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlmodel import Session, col, select

from bot.web.dashboard.common import context, page, redirect, say
from bot.web.keys import RUNTIME, SESSION, SETTINGS, VIEWER
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.viewer import Viewer
from handlers.notices import status
from handlers.notices.errors import NoticeError, NoticeForbidden
from handlers.notices.publish import (
    NoticeRequest,
    cancel_notice,
    create_notice,
    may_cancel,
    preview,
    reaches,
    resend,
)
from storage import queries
from storage.models import AccountRole, ChatGroup, Notice, NoticeStatus

routes = web.RouteTableDef()

PUBLISHERS = (AccountRole.TOWNSHIP_ADMIN, AccountRole.COMMUNITY_STAFF)
LIST_LIMIT = 100
STATE_NAMES = {"scheduled": "待发送", "sending": "发送中", "sent": "已发送", "missed": "已错过",
               "failed": "未能发送", "cancelled": "已取消", "draft": "草稿"}


def may_publish(viewer: Viewer | None) -> bool:
    return (viewer is not None and viewer.can_write and viewer.account is not None
            and viewer.account.role in PUBLISHERS)


# --- the list and the compose form ----------------------------------------------------------------


@routes.get("/notices")
async def notices_page(request: web.Request) -> web.Response:
    return await _render_list(request, notice=_flash(request))


@routes.post("/notices")
async def publish_from_page(request: web.Request) -> web.Response:
    viewer = request[VIEWER]
    if not may_publish(viewer):
        return _forbidden(request)
    form = await request.post()
    ctx = context(request)
    try:
        req = notice_from_form(form, request.app[SETTINGS].general.tz)

        def create(session: Session) -> int:
            return create_notice(session, ctx, req, created_by=viewer.name, person=viewer.person,
                                 within=viewer.scope.grid_ids).id or 0

        notice_id = await in_session(request.app, create)
    except NoticeError as exc:
        return await _render_list(request, notice={"kind": "error", "text": str(exc)},
                                  form=form, status=400)
    await request.app[RUNTIME].run_notices()  # due now: queued before the next page loads
    request[SESSION] = request[SESSION].with_flash(say(request, "notice_published"))
    return redirect(f"/notices/{notice_id}")


@routes.post("/notices/preview")
async def preview_from_page(request: web.Request) -> web.Response:
    """The compose form's live preview: the message the first group would receive, or why the
    notice would be refused. JSON for the page's script."""
    viewer = request[VIEWER]
    if not may_publish(viewer):
        return json_error(403, say(request, "notice_forbidden"))
    form = await request.post()
    ctx = context(request)

    def run(session: Session) -> dict[str, Any]:
        req = notice_from_form(form, request.app[SETTINGS].general.tz)
        checked, text = preview(session, ctx, req, within=viewer.scope.grid_ids)
        return {"text": text, "groups": len(checked.groups),
                "targets": checked.targets.describe(), "first": ctx.when(checked.first)}

    try:
        return json_response(await in_session(request.app, run))
    except NoticeError as exc:
        return json_response({"error": str(exc), "code": exc.key})  # shown as they type


async def _render_list(request: web.Request, *, notice: dict[str, str] | None = None,
                       form: MultiMapping[Any] | None = None, status: int = 200) -> web.Response:
    viewer = request[VIEWER]

    def load(session: Session) -> dict[str, Any]:
        rows = session.exec(select(Notice).where(Notice.status != NoticeStatus.DRAFT)
                            .order_by(col(Notice.id).desc()).limit(LIST_LIMIT)).all()
        items = [_summary(session, n) for n in rows if reaches(session, n, viewer.scope.grid_ids)]
        grids = [g for g in queries.list_grids(session)
                 if viewer.scope.grid_ids is None or g.id in viewer.scope.grid_ids]
        communities = [c for c in queries.list_communities(session)
                       if viewer.scope.grid_ids is None or c.id in viewer.scope.communities]
        tags = sorted({t for g in session.exec(select(ChatGroup)).all() for t in g.tags or ()})
        return {"items": items, "grids": grids, "communities": communities, "tags": tags}

    data = await in_session(request.app, load)
    chosen = {k: [str(v) for v in form.getall(k, [])] if form else []
              for k in ("community", "grid")}
    return page("notices.html", request, {
        **data, "may_publish": may_publish(viewer), "form": form or {}, "chosen": chosen,
        "state_names": STATE_NAMES, "notices": [notice] if notice else [],
    }, status=status)


# --- one notice -----------------------------------------------------------------------------------


@routes.get("/notices/{id}")
async def notice_page(request: web.Request) -> web.Response:
    return await _render_one(request, notice=_flash(request))


def _flash(request: web.Request) -> dict[str, str] | None:
    """The notice a redirect left for this page ("通知已发布"), shown once."""
    flash, request[SESSION] = request[SESSION].take_flash()
    return {"kind": "ok", "text": flash} if flash else None


@routes.post("/notices/{id}/cancel")
async def cancel_from_page(request: web.Request) -> web.Response:
    within = request[VIEWER].scope.grid_ids
    return await _act(request, lambda session, ctx, notice: say(
        request, "notice_cancelled",
        taken_back=cancel_notice(session, ctx, notice, within=within)))


@routes.post("/notices/{id}/resend")
async def resend_from_page(request: web.Request) -> web.Response:
    form = await request.post()
    raw = str(form.get("below", "1")).strip()
    below = int(raw) if raw.isdigit() and int(raw) > 0 else 1

    def run(session: Session, ctx: Any, notice: Notice) -> str:
        within = request[VIEWER].scope.grid_ids
        groups = [g for g in status.quiet_groups(session, notice.id or 0, below=below)
                  if within is None or g.grid_id in within]
        return say(request, "notice_resent", groups=resend(session, ctx, notice, groups=groups))

    return await _act(request, run)


async def _act(request: web.Request, action: Any) -> web.Response:
    viewer = request[VIEWER]
    if not may_publish(viewer):
        return _forbidden(request)
    notice_id = _id(request)
    ctx = context(request)

    def run(session: Session) -> str | None:
        notice = session.get(Notice, notice_id) if notice_id else None
        if notice is None or not reaches(session, notice, viewer.scope.grid_ids):
            return None
        return str(action(session, ctx, notice))

    try:
        message = await in_session(request.app, run)
    except NoticeForbidden as exc:
        return await _render_one(request, notice={"kind": "error", "text": str(exc)}, code=403)
    except NoticeError as exc:
        return await _render_one(request, notice={"kind": "error", "text": str(exc)}, code=409)
    if message is None:
        return _missing(request)
    request.app[RUNTIME].wake_sender()
    request[SESSION] = request[SESSION].with_flash(message)
    return redirect(f"/notices/{notice_id}")


async def _render_one(request: web.Request, *, notice: dict[str, str] | None = None,
                      code: int = 200) -> web.Response:
    viewer = request[VIEWER]
    notice_id = _id(request)

    def load(session: Session) -> dict[str, Any] | None:
        row = session.get(Notice, notice_id) if notice_id else None
        if row is None or row.status == NoticeStatus.DRAFT or \
                not reaches(session, row, viewer.scope.grid_ids):
            return None
        prog = status.progress(session, row.id or 0)
        receipts = status.receipts(session, row.id or 0)
        per_group: dict[str, list[str]] = {}
        for r in receipts:
            per_group.setdefault(r.group.room_id, []).append(r.person)
        return {
            "n": row, "state": status.state(session, row, prog), "progress": prog,
            "runs": status.runs(session, row.id or 0),
            "deliveries": status.deliveries(session, row.id or 0),
            "receipts": receipts, "by_group": status.receipt_counts(session, row.id or 0),
            "receipt_people": per_group,
            # the domain's own rule: a township notice is not a community's to take back
            "may_cancel": may_publish(viewer) and may_cancel(
                session, row, viewer.scope.grid_ids),
        }

    data = await in_session(request.app, load)
    if data is None:
        return _missing(request)
    return page("notice.html", request, {
        **data, "may_publish": may_publish(viewer), "state_names": STATE_NAMES,
        "notices": [notice] if notice else [],
    }, status=code)


def _summary(session: Session, notice: Notice) -> dict[str, Any]:
    prog = status.progress(session, notice.id or 0)
    return {"n": notice, "state": status.state(session, notice, prog), "progress": prog,
            "receipts": len(status.receipts(session, notice.id or 0))}


# --- the form -------------------------------------------------------------------------------------


def notice_from_form(form: MultiMapping[Any], tz: Any) -> NoticeRequest:
    """The compose form as the domain's request: targets from the chosen kind and boxes, the
    time from the chosen mode."""
    kind = str(form.get("scope", "all"))
    if kind == "all":
        targets: dict[str, Any] = {"all": True}
    elif kind == "tags":
        tags = [t.strip() for t in str(form.get("tags", "")).replace("，", ",").split(",")]
        targets = {"tags": [t for t in tags if t]}
    elif kind == "communities":
        targets = {"communities": [str(v) for v in form.getall("community", [])]}
    elif kind == "grids":
        targets = {"grids": [str(v) for v in form.getall("grid", [])]}
    else:
        raise NoticeError("choose_targets")
    when = str(form.get("when", "now"))
    send_at = repeat = until = None
    if when == "at":
        send_at = _local(str(form.get("send_at", "")), tz)
        if send_at is None:
            raise NoticeError("choose_time")
    elif when == "repeat":
        repeat = str(form.get("repeat", "")).strip() or None
        if repeat is None:
            raise NoticeError("fill_rule")
        send_at = _local(str(form.get("send_at", "")), tz)
        raw_until = str(form.get("until", "")).strip()
        try:
            until = date.fromisoformat(raw_until) if raw_until else None
        except ValueError:
            raise NoticeError("until_format", value=raw_until) from None
    return NoticeRequest(title=str(form.get("title", "")), body=str(form.get("body", "")),
                         targets=targets, send_at=send_at, repeat=repeat, repeat_until=until,
                         ask_receipt=form.get("ask_receipt") == "1")


def _local(value: str, tz: Any) -> datetime | None:
    """A ``datetime-local`` field (no zone): the deployment's local time."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise NoticeError("time_format", value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _id(request: web.Request) -> int | None:
    return queries.as_id(request.match_info["id"])


def _missing(request: web.Request) -> web.Response:
    return page("error.html", request, {"title": say(request, "notice_missing_title"),
                                        "message": say(request, "notice_missing")}, status=404)


def _forbidden(request: web.Request) -> web.Response:
    return page("error.html", request, {"title": say(request, "forbidden_title"),
                                        "message": say(request, "notice_forbidden")}, status=403)
