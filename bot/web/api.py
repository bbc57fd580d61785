"""The JSON API (Bearer token): groups and cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session

from bot.web.keys import RUNTIME, SETTINGS
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from storage import queries
from storage.models import Case, CaseStatus, ChatGroup, Grid, Person

routes = web.RouteTableDef()

MAX_LIMIT = 1000
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@routes.get("/api/groups")
async def list_groups(request: web.Request) -> web.Response:
    def load(session: Session) -> list[dict[str, Any]]:
        return [
            {
                "room": v.group.room_id,
                "topic": v.group.topic,
                "kind": v.group.kind,
                "grid": v.grid.name if v.grid else None,
                "community": v.community.name if v.community else None,
                "workers": [{"name": p.name, "role": p.role} for p in v.staff],
            }
            for v in queries.list_groups(session)
        ]

    return json_response(await in_session(request.app, load))


@routes.get("/api/cases")
async def list_cases(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status") or None
    if status and status not in set(CaseStatus):
        return json_error(400, f"未知的状态 {status}，可选：{'、'.join(CaseStatus)}")
    category = q.get("category") or None
    keys = _category_keys(request)
    if category and category not in keys:
        return json_error(400, f"未知的类别 {category}，可选：{'、'.join(keys)}")
    urgent: bool | None = None
    if "urgent" in q:
        value = q["urgent"].lower()
        if value not in _TRUE | _FALSE:
            return json_error(400, "urgent 只能是 true 或 false")
        urgent = value in _TRUE
    try:
        limit = min(int(q.get("limit", 100)), MAX_LIMIT)
        offset = int(q.get("offset", 0))
        if limit < 1 or offset < 0:
            raise ValueError
    except ValueError:
        return json_error(400, f"limit 应为 1 到 {MAX_LIMIT} 的整数，offset 应为非负整数")
    grid_ref = q.get("grid") or None
    tz = request.app[SETTINGS].general.tz

    def load(session: Session) -> list[dict[str, Any]] | None:
        grid_id = None
        if grid_ref:
            grid = queries.find_grid(session, ref=grid_ref)
            if grid is None:
                return None
            grid_id = grid.id
        cases = queries.list_cases(session, status=status, grid_id=grid_id, category=category,
                                   urgent=urgent, limit=limit, offset=offset)
        return [case_json(session, c, tz) for c in cases]

    result = await in_session(request.app, load)
    if result is None:
        return json_error(400, f"没有名为或编号为 {grid_ref} 的网格")
    return json_response(result)


@routes.get("/api/cases/{no}")
async def get_case(request: web.Request) -> web.Response:
    raw = request.match_info["no"].lstrip("#")
    if not raw.isdigit():
        return json_error(400, "工单编号应为数字，例如 /api/cases/12")
    no = int(raw)
    tz = request.app[SETTINGS].general.tz

    def load(session: Session) -> dict[str, Any] | None:
        case = queries.get_case(session, no=no)
        if case is None:
            return None
        body = case_json(session, case, tz)
        body["events"] = [
            {
                "at": _iso(e.at, tz),
                "actor": _name(session, e.actor_id),
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "note": e.note,
            }
            for e in queries.case_events(session, case_id=case.id or 0)
        ]
        return body

    body = await in_session(request.app, load)
    if body is None:
        return json_error(404, f"没有 #{no} 号工单")
    return json_response(body)


def case_json(session: Session, case: Case, tz: ZoneInfo) -> dict[str, Any]:
    grid = session.get(Grid, case.grid_id)
    group = session.get(ChatGroup, case.group_id)
    return {
        "no": case.no,
        "grid": grid.name if grid else None,
        "room": group.room_id if group else None,
        "reporter": _name(session, case.reporter_id),
        "text": case.text,
        "category": case.category,
        "urgent": case.urgent,
        "location": case.location,
        "status": case.status,
        "satisfaction": case.satisfaction,
        "assignee": _name(session, case.assignee_id),
        "dispatched_to": case.dispatched_to,
        "merged_into": case.merged_into,
        "reopen_count": case.reopen_count,
        "escalation_level": case.escalation_level,
        "confidence": case.confidence,
        "accept_due_at": _iso(case.accept_due_at, tz),
        "resolve_due_at": _iso(case.resolve_due_at, tz),
        "created_at": _iso(case.created_at, tz),
        "updated_at": _iso(case.updated_at, tz),
        "resolved_at": _iso(case.resolved_at, tz),
        "closed_at": _iso(case.closed_at, tz),
    }


def _iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None


def _name(session: Session, person_id: int | None) -> str | None:
    person = session.get(Person, person_id) if person_id else None
    return person.name if person else None


def _category_keys(request: web.Request) -> list[str]:
    processor = request.app[RUNTIME].processor
    assert processor is not None
    return [c.key for c in processor.context.classifier.rules.categories]

