"""Open311 GeoReport v2, read-only, JSON: so city platforms that speak the standard can pull
cases. https://wiki.open311.org/GeoReport_v2

- ``GET /open311/v2/services.json``: the categories as services.
- ``GET /open311/v2/requests.json``: cases, filtered by ``service_request_id`` (comma list),
  ``service_code`` (comma list), ``status`` (``open``/``closed``, comma list), ``start_date``
  and ``end_date`` (W3C datetimes on ``requested_datetime``). As the spec says, without dates
  the last 90 days, and at most 1000 requests, newest first.
- ``GET /open311/v2/requests/{id}.json``: one case, as a list of one (the spec's shape).

Residents' words leave the township only masked (phone and ID numbers, room numbers) and
without their names; ``address`` is the place as posted in the group. A token is required,
as ``Authorization: Bearer`` or the spec's ``api_key`` parameter, and its account's scope
applies. Errors use the spec's shape: ``[{"code": 400, "description": "…"}]``.

Status: open while the grid is working on it (reported, accepted, dispatched, reopened);
closed once resolved, closed, rejected or merged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.web.dashboard.common import context, now
from bot.web.keys import SETTINGS, VIEWER
from bot.web.middleware import authenticate_token, json_response
from bot.web.session import in_session
from bot.web.texts import api_text
from handlers.cases import workflow
from handlers.cases.relay import case_facts
from handlers.context import Context
from handlers.privacy import mask
from storage import queries
from storage.models import Case, CaseEvent, CaseStatus, Community, Grid

routes = web.RouteTableDef()

DEFAULT_SPAN = timedelta(days=90)
MAX_REQUESTS = 1000
NOTE_ACTIONS = ("progress", "dispatch", "resolve", "reject", "merge", "expire", "rate",
                "reopen")


def open311_error(status: int, description: str) -> web.Response:
    return json_response([{"code": status, "description": description}], status=status)


async def _authorised(request: web.Request) -> web.Response | None:
    """None when the caller presented a live token; else the 401 to send."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else request.query.get("api_key", "")
    if token and await authenticate_token(request, token) is not None:
        return None
    resp = open311_error(401, api_text("open311_token"))
    resp.headers["WWW-Authenticate"] = 'Bearer realm="gridbot"'
    return resp


@routes.get("/open311/v2/services.json")
async def services(request: web.Request) -> web.Response:
    if (refused := await _authorised(request)) is not None:
        return refused
    ctx = context(request)
    return json_response([
        {"service_code": c.key, "service_name": c.name, "description": c.name,
         "metadata": False, "type": "realtime", "keywords": "", "group": ""}
        for c in ctx.classifier.rules.categories])


@routes.get("/open311/v2/requests.json")
async def requests(request: web.Request) -> web.Response:
    if (refused := await _authorised(request)) is not None:
        return refused
    q = request.query
    ctx, moment = context(request), now(request)
    try:
        start = _when(q.get("start_date"), "start_date")
        end = _when(q.get("end_date"), "end_date")
    except ValueError as exc:
        return open311_error(400, str(exc))
    if start is None and end is None:
        start = moment - DEFAULT_SPAN
    statuses = _list(q.get("status"))
    if any(s not in ("open", "closed") for s in statuses):
        return open311_error(400, api_text("open311_status"))
    codes = _list(q.get("service_code"))
    known = {c.key for c in ctx.classifier.rules.categories}
    if unknown := [c for c in codes if c not in known]:
        return open311_error(400, api_text("open311_unknown_services", codes=unknown))
    ids = _list(q.get("service_request_id"))
    if any(queries.as_id(i) is None for i in ids):
        return open311_error(400, api_text("open311_ids"))
    viewer = request[VIEWER]
    tz = request.app[SETTINGS].general.tz

    def load(session: Session) -> list[dict[str, Any]]:
        stmt = select(Case).order_by(col(Case.created_at).desc(), col(Case.no).desc()) \
            .limit(MAX_REQUESTS)
        if viewer.scope.grid_ids is not None:
            stmt = stmt.where(col(Case.grid_id).in_(viewer.scope.grid_ids or [-1]))
        if ids:
            stmt = stmt.where(col(Case.no).in_([int(i) for i in ids]))
        else:
            if start is not None:
                stmt = stmt.where(col(Case.created_at) >= start)
            if end is not None:
                stmt = stmt.where(col(Case.created_at) <= end)
        if codes:
            stmt = stmt.where(col(Case.category).in_(codes))
        if statuses == ["open"]:
            stmt = stmt.where(col(Case.status).in_(list(workflow.OPEN_STATES)))
        elif statuses == ["closed"]:
            stmt = stmt.where(col(Case.status).not_in(list(workflow.OPEN_STATES)))
        return [service_request(session, ctx, c, tz) for c in session.exec(stmt).all()]

    return json_response(await in_session(request.app, load))


@routes.get("/open311/v2/requests/{id}.json")
async def one_request(request: web.Request) -> web.Response:
    if (refused := await _authorised(request)) is not None:
        return refused
    raw = request.match_info["id"]
    if queries.as_id(raw) is None:
        return open311_error(400, api_text("open311_id"))
    viewer, ctx, tz = request[VIEWER], context(request), request.app[SETTINGS].general.tz

    def load(session: Session) -> dict[str, Any] | None:
        case = queries.get_case(session, no=int(raw))
        if case is None or not viewer.scope.allows_grid(case.grid_id):
            return None
        return service_request(session, ctx, case, tz)

    body = await in_session(request.app, load)
    if body is None:
        return open311_error(404, api_text("open311_not_found", id=raw))
    return json_response([body])


def service_request(session: Session, ctx: Context, case: Case, tz: Any) -> dict[str, Any]:
    grid = session.get(Grid, case.grid_id)
    community = session.get(Community, grid.community_id) if grid else None
    agency = case.dispatched_to or " ".join(x.name for x in (community, grid) if x)
    return {
        "service_request_id": str(case.no),
        "status": "open" if workflow.is_open(case.status) else "closed",
        "status_notes": _status_notes(session, case),
        "service_name": ctx.category_name(case.category),
        "service_code": case.category,
        "description": mask(case.text),
        "agency_responsible": agency,
        "service_notice": "",
        "requested_datetime": _w3c(case.created_at, tz),
        "updated_datetime": _w3c(case.updated_at, tz),
        "expected_datetime": _w3c(case.resolve_due_at, tz)
        if workflow.is_open(case.status) else None,
        "address": case_facts(ctx, case)["location"] or "",
        "address_id": "",
        "zipcode": "",
        "lat": None,
        "long": None,
        "media_url": "",
    }


def _status_notes(session: Session, case: Case) -> str:
    """The state in words and the latest note a worker wrote on it, masked."""
    latest = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case.id)
        .where(col(CaseEvent.action).in_(NOTE_ACTIONS)).order_by(col(CaseEvent.id).desc())
    ).first()
    merged = case.merged_into if case.status == CaseStatus.MERGED else None
    return api_text("open311_status_notes", state=workflow.STATUS_NAMES[case.status],
                    merged_into=merged, note=mask(latest.note) if latest and latest.note else "")


def _w3c(moment: datetime | None, tz: Any) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(api_text("open311_time_format", name=name)) from None
    if moment.tzinfo is None:
        raise ValueError(api_text("open311_time_zone", name=name))
    return moment


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
