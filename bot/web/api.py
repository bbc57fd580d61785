"""The JSON API (Bearer token): groups, and how a case looks in JSON. The ledger, case,
figures and admin routes live beside their pages in bot/web/dashboard/."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session, col, select

from bot.web.keys import VIEWER
from bot.web.middleware import json_response
from bot.web.session import in_session
from handlers.accounts import community_ids
from handlers.ledger import is_overdue
from storage import queries
from storage.models import Case, ChatGroup, Community, Grid, Person

routes = web.RouteTableDef()


@routes.get("/api/groups")
async def list_groups(request: web.Request) -> web.Response:
    """The chat groups the viewer's scope reaches: its grids' groups and its communities' staff
    groups (a township-wide viewer also sees groups not bound yet)."""
    scope = request[VIEWER].scope

    def load(session: Session) -> list[dict[str, Any]]:
        communities = community_ids(session, scope)
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
            if scope.everything or (v.grid and scope.allows_grid(v.grid.id))
            or (v.grid is None and v.community and communities is not None
                and v.community.id in communities)
        ]

    return json_response(await in_session(request.app, load))


def preload(session: Session, cases: Sequence[Case]) -> None:
    """Load the grids, communities, groups and people a page of cases refers to, a few IN
    queries in all, so ``case_json`` for each case finds them in the session instead of
    asking the database five times per case."""
    def load(model: Any, ids: set[int | None]) -> list[Any]:
        wanted = [i for i in ids if i is not None]
        return list(session.exec(select(model).where(col(model.id).in_(wanted))).all()) \
            if wanted else []

    grids = load(Grid, {c.grid_id for c in cases})
    # kept referenced for the session's life: its identity map holds objects weakly, so rows
    # loaded and dropped here were gone again before case_json asked (about 10 queries a case)
    session.info.setdefault("preloaded", []).extend([
        *grids, *load(Community, {g.community_id for g in grids}),
        *load(ChatGroup, {c.group_id for c in cases}),
        *load(Person, {c.reporter_id for c in cases} | {c.assignee_id for c in cases})])


def case_json(session: Session, case: Case, tz: ZoneInfo, *, now: datetime) -> dict[str, Any]:
    grid = session.get(Grid, case.grid_id)
    community = session.get(Community, grid.community_id) if grid else None
    group = session.get(ChatGroup, case.group_id)
    return {
        "no": case.no,
        "grid": grid.name if grid else None,
        "community": community.name if community else None,
        "room": group.room_id if group else None,
        "reporter": queries.person_name(session, person_id=case.reporter_id),
        "text": case.text,
        "category": case.category,
        "urgent": case.urgent,
        "location": case.location,
        "status": case.status,
        "satisfaction": case.satisfaction,
        "assignee": queries.person_name(session, person_id=case.assignee_id),
        "dispatched_to": case.dispatched_to,
        "merged_into": case.merged_into,
        "reopen_count": case.reopen_count,
        "escalation_level": case.escalation_level,
        "overdue": is_overdue(case, now),
        "confidence": case.confidence,
        "accept_due_at": iso(case.accept_due_at, tz),
        "resolve_due_at": iso(case.resolve_due_at, tz),
        "created_at": iso(case.created_at, tz),
        "updated_at": iso(case.updated_at, tz),
        "resolved_at": iso(case.resolved_at, tz),
        "closed_at": iso(case.closed_at, tz),
    }


def iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment else None



