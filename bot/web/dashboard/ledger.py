"""The ledger (台账): the page, ``GET /api/cases`` and ``GET /api/cases/counts``.

One parser reads the filters from the query string for the page, the JSON API and the exports,
narrowed to what the viewer may see, so the three always agree on what a filter means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlmodel import Session

from bot.web.api import case_json, preload
from bot.web.dashboard.common import context, now, page
from bot.web.keys import SETTINGS, VIEWER
from bot.web.middleware import json_response
from bot.web.session import in_session
from bot.web.texts import api_text
from bot.web.viewer import Viewer
from handlers import ledger
from handlers.accounts import community_ids
from handlers.cases import timers, workflow
from handlers.context import Context
from handlers.ledger import CaseFilter
from handlers.stats import day_bounds
from storage import queries
from storage.models import Case, CaseStatus, Community, Grid

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

PAGE_SIZE = 20
MAX_LIMIT = 1000
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class BadFilter(web.HTTPBadRequest):
    """A filter value that cannot be used; the message says so in Chinese. Pages catch it and
    show it beside the form; on the API the error middleware answers ``{"error": message}``."""

    error_code = "bad_filter"

    def __init__(self, key: str, /, **variables: Any) -> None:
        """``key`` names a macro of templates/web/api_messages.j2."""
        message = api_text(key, **variables)
        super().__init__(text=message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class LedgerQuery:
    filter: CaseFilter
    sort: str = "no"
    descending: bool = True
    form: dict[str, str] = field(default_factory=dict)  # the values as given, for the form


def parse_query(session: Session, ctx: Context, viewer: Viewer, q: MultiMapping[str],
                tz: Any) -> LedgerQuery:
    """The ledger's filters from a query string; raises BadFilter with a Chinese message."""
    form = {k: q.get(k, "").strip() for k in (
        "status", "grid", "community", "category", "urgent", "overdue", "from", "to", "q",
        "sort", "order")}
    status = form["status"] or None
    if status and status != ledger.OPEN and status not in set(CaseStatus):
        raise BadFilter("filter_status", value=status, known=["open", *CaseStatus])
    category = form["category"] or None
    keys = [c.key for c in ctx.classifier.rules.categories]
    if category and category not in keys:
        raise BadFilter("filter_category", value=category, known=keys)
    urgent = _flag(form["urgent"], "urgent")
    overdue = _flag(form["overdue"], "overdue") or False
    grid_ids = grid_filter(session, viewer, grid=form["grid"], community=form["community"])
    start = end = None
    if form["from"] or form["to"]:
        first, last = parse_date(form["from"], "from"), parse_date(form["to"], "to")
        if first and last and first > last:
            raise BadFilter("filter_period_reversed")
        start = day_bounds(first, first, tz)[0] if first else None
        end = day_bounds(last, last, tz)[1] if last else None
    sort = form["sort"] or "no"
    if sort not in ledger.SORT_KEYS:
        raise BadFilter("filter_sort", value=sort, known=ledger.SORT_KEYS)
    order = form["order"] or "desc"
    if order not in ("asc", "desc"):
        raise BadFilter("filter_order")
    text = form["q"][:100] or None
    return LedgerQuery(
        filter=CaseFilter(grid_ids=viewer.scope.narrow(grid_ids), status=status,
                          category=category, urgent=urgent, overdue=overdue, start=start,
                          end=end, text=text),
        sort=sort, descending=order == "desc", form=form)


def _flag(value: str, name: str) -> bool | None:
    if not value:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BadFilter("filter_boolean", name=name)


def grid_filter(session: Session, viewer: Viewer, *, grid: str,
                community: str) -> frozenset[int] | None:
    """The grids a ``grid`` and/or ``community`` filter (name or id) selects, within the
    viewer's scope; one outside it is answered like one that does not exist."""
    ids: frozenset[int] | None = None
    if grid:
        row = queries.find_grid(session, ref=grid)
        if row is None or row.id is None or not viewer.scope.allows_grid(row.id):
            raise BadFilter("filter_unknown_place", place="grid", value=grid)
        ids = frozenset({row.id})
    if community:
        found = queries.find_community(session, ref=community)
        visible = community_ids(session, viewer.scope)
        if found is None or (visible is not None and found.id not in visible):
            raise BadFilter("filter_unknown_place", place="community", value=community)
        members = frozenset(g.id for g in queries.list_grids(session)
                            if g.community_id == found.id and g.id is not None)
        ids = members if ids is None else ids & members
    return ids


def parse_date(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter("filter_date", name=name) from None


def _paging(q: MultiMapping[str], default: int) -> tuple[int, int]:
    """``limit`` 1–1000 and ``offset`` from 0: a page larger than that is refused rather than
    quietly cut, so a client that asks for 5000 knows it did not get them."""
    try:
        limit = int(q.get("limit", default))
        offset = int(q.get("offset", 0))
        if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= queries.MAX_ID:
            raise ValueError
    except ValueError:
        raise BadFilter("filter_paging", limit=MAX_LIMIT) from None
    return limit, offset


# --- presenting a case --------------------------------------------------------------------------


def case_row(session: Session, ctx: Context, case: Case, moment: datetime) -> dict[str, Any]:
    """A case as the ledger, the exports and the JSON API show it."""
    grid = session.get(Grid, case.grid_id)
    community = session.get(Community, grid.community_id) if grid else None
    due = timers.current_due(case) if workflow.is_open(case.status) else None
    return {
        "case": case, "no": case.no, "status": case.status,
        "status_name": workflow.STATUS_NAMES[case.status],
        "category": case.category, "category_name": ctx.category_name(case.category),
        "urgent": case.urgent, "grid": grid.name if grid else None,
        "community": community.name if community else None,
        "reporter": queries.person_name(session, person_id=case.reporter_id),
        "assignee": queries.person_name(session, person_id=case.assignee_id), "text": case.text,
        "location": case.location, "due": due, "overdue": ledger.is_overdue(case, moment),
        "created_at": case.created_at,
    }


# --- the page -----------------------------------------------------------------------------------


@routes.get("/cases")
async def ledger_page(request: web.Request) -> web.Response:
    viewer = request[VIEWER]
    ctx, moment, tz = context(request), now(request), request.app[SETTINGS].general.tz
    try:
        page_no = max(1, int(request.query.get("page", "1") or 1))
    except ValueError:
        page_no = 1

    def load(session: Session) -> dict[str, Any]:
        try:
            lq = parse_query(session, ctx, viewer, request.query, tz)
        except BadFilter as exc:
            lq, error = LedgerQuery(CaseFilter(grid_ids=viewer.scope.grid_ids)), str(exc)
        else:
            error = None
        counts = ledger.status_counts(session, lq.filter, now=moment)
        total = ledger.total_of(counts, lq.filter)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        cases = ledger.search(session, lq.filter, now=moment, sort=lq.sort,
                              descending=lq.descending, limit=PAGE_SIZE,
                              offset=(min(page_no, pages) - 1) * PAGE_SIZE)
        preload(session, cases)
        return {
            "error": error, "lq": lq, "total": total, "page": min(page_no, pages), "pages": pages,
            "rows": [case_row(session, ctx, c, moment) for c in cases],
            "counts": counts,
            "overdue_count": ledger.count(session, _without_status(lq.filter, overdue=True),
                                          now=moment),
            **filter_choices(session, ctx, viewer),
        }

    data = await in_session(request.app, load)
    data["status_names"] = workflow.STATUS_NAMES
    data["query"] = {k: v for k, v in data["lq"].form.items() if v}
    return page("ledger.html", request, data,
                                          status=400 if data["error"] else 200)


def _without_status(f: CaseFilter, **changes: Any) -> CaseFilter:
    from dataclasses import replace

    return replace(f, status=None, **changes)


def filter_choices(session: Session, ctx: Context, viewer: Viewer) -> dict[str, Any]:
    """The grids, communities and categories the viewer can pick from."""
    grids = [g for g in queries.list_grids(session) if viewer.scope.allows_grid(g.id)]
    visible = community_ids(session, viewer.scope)
    communities = [c for c in queries.list_communities(session)
                   if visible is None or c.id in visible]
    return {"grids": grids, "communities": communities,
            "categories": ctx.classifier.rules.categories}


# --- the JSON API -------------------------------------------------------------------------------


@api_routes.get("/api/cases")
async def list_cases(request: web.Request) -> web.Response:
    """Cases, newest first by default, with the ledger's filters and ``limit``/``offset``."""
    viewer = request[VIEWER]
    ctx, moment, tz = context(request), now(request), request.app[SETTINGS].general.tz

    def load(session: Session) -> list[dict[str, Any]]:
        lq = parse_query(session, ctx, viewer, request.query, tz)
        limit, offset = _paging(request.query, 100)
        cases = ledger.search(session, lq.filter, now=moment, sort=lq.sort,
                              descending=lq.descending, limit=limit, offset=offset)
        preload(session, cases)
        return [case_json(session, c, tz, now=moment) for c in cases]

    return json_response(await in_session(request.app, load))


@api_routes.get("/api/cases/counts")
async def case_counts(request: web.Request) -> web.Response:
    """The ledger's top line: how many cases match, per status, and how many are overdue."""
    viewer = request[VIEWER]
    ctx, moment, tz = context(request), now(request), request.app[SETTINGS].general.tz

    def load(session: Session) -> dict[str, Any]:
        lq = parse_query(session, ctx, viewer, request.query, tz)
        counts = ledger.status_counts(session, lq.filter, now=moment)
        return {"total": ledger.total_of(counts, lq.filter), "by_status": counts,
                "overdue": ledger.count(session, _without_status(lq.filter, overdue=True),
                                        now=moment)}

    return json_response(await in_session(request.app, load))
