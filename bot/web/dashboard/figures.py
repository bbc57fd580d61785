"""The figures page and ``GET /api/stats?from=&to=&grid=&community=``: the numbers of
handlers/stats.py for a period, per grid and community, with the ranking. Both read the same
``Report``, so the page and the JSON never disagree; the figures export reads it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping
from sqlmodel import Session

from bot.web.dashboard.common import context, now, page
from bot.web.dashboard.ledger import BadFilter, filter_choices, grid_filter, parse_date
from bot.web.keys import SETTINGS, VIEWER
from bot.web.middleware import json_response
from bot.web.session import in_session
from bot.web.viewer import Viewer
from handlers import stats
from handlers.context import Context
from handlers.stats import CommunityFigures, Figures, GridFigures, Ranked

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

MAX_DAYS = 366


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    grids: list[GridFigures]
    communities: list[CommunityFigures]
    total: Figures
    ranking: list[Ranked]
    category_names: dict[str, str]

    def as_dict(self, tz: Any) -> dict[str, Any]:
        start, end = stats.day_bounds(self.first, self.last, tz)
        return {
            "period": {"from": self.first.isoformat(), "to": self.last.isoformat(),
                       "start": start.isoformat(), "end": end.isoformat()},
            "total": self.total.as_dict(),
            "communities": [{"community_id": c.community_id, "community": c.community,
                             **c.figures.as_dict()} for c in self.communities],
            "grids": [{"grid_id": g.grid_id, "grid": g.grid, "community": g.community,
                       **g.figures.as_dict()} for g in self.grids],
            "ranking": [{"rank": r.rank, "score": r.score, "grid": r.grid.grid,
                         "community": r.grid.community, "new": r.grid.figures.new,
                         "closure_rate": _r(r.grid.figures.closure_rate),
                         "on_time_rate": _r(r.grid.figures.on_time_rate),
                         "satisfaction_rate": _r(r.grid.figures.satisfaction_rate)}
                        for r in self.ranking],
            "category_names": self.category_names,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def period(q: MultiMapping[str], today: date) -> tuple[date, date]:
    """``from``/``to`` as local dates, both included; by default this week so far."""
    first = parse_date(q.get("from", ""), "from")
    last = parse_date(q.get("to", ""), "to")
    if first is None and last is None:
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=6)
    elif first is None:
        assert last is not None
        first = last - timedelta(days=6)
    elif last is None:
        last = max(first, today)
    if first > last:
        raise BadFilter("filter_period_reversed")
    if (last - first).days >= MAX_DAYS:
        raise BadFilter("filter_period_too_long", days=MAX_DAYS)
    return first, last


def build_report(session: Session, ctx: Context, viewer: Viewer, q: MultiMapping[str],
                 tz: Any) -> Report:
    moment = ctx.now()
    first, last = period(q, moment.astimezone(tz).date())
    grid_ids = grid_filter(session, viewer, grid=q.get("grid", "").strip(),
                           community=q.get("community", "").strip())
    start, end = stats.day_bounds(first, last, tz)
    grids = stats.grid_figures(session, start=start, end=end, now=moment,
                               grid_ids=viewer.scope.narrow(grid_ids))
    communities = stats.community_figures(grids)
    # the communities' sums added up: 100 additions for a city instead of 5,000 again
    return Report(first=first, last=last, grids=grids, communities=communities,
                  total=sum((c.figures for c in communities), stats.Figures()),
                  ranking=stats.rank_grids(grids),
                  category_names={c.key: c.name for c in ctx.classifier.rules.categories})


async def load_report(request: web.Request) -> Report:
    viewer, ctx, tz = request[VIEWER], context(request), request.app[SETTINGS].general.tz
    return await in_session(request.app,
                            lambda session: build_report(session, ctx, viewer, request.query, tz))


@routes.get("/figures")
async def figures_page(request: web.Request) -> web.Response:
    error = None
    try:
        report = await load_report(request)
    except BadFilter as exc:
        error = str(exc)
        report = await in_session(request.app, lambda session: build_report(
            session, context(request), request[VIEWER], {},  # type: ignore[arg-type]
            request.app[SETTINGS].general.tz))
    today = now(request).astimezone(request.app[SETTINGS].general.tz).date()
    monday = today - timedelta(days=today.weekday())
    presets = {  # the template names them
        "this_week": (monday, monday + timedelta(days=6)),
        "last_week": (monday - timedelta(days=7), monday - timedelta(days=1)),
        "this_month": (today.replace(day=1), today),
        "last_30_days": (today - timedelta(days=29), today),
    }
    choices = await in_session(request.app, lambda session: filter_choices(
        session, context(request), request[VIEWER]))
    query = {k: v for k, v in request.query.items() if v and k in ("from", "to", "grid",
                                                                  "community")}
    query.setdefault("from", report.first.isoformat())
    query.setdefault("to", report.last.isoformat())
    categories = sorted(report.total.categories.items(), key=lambda kv: -kv[1])
    return page("figures.html", request, {
        "r": report, "error": error, "presets": presets, "query": query,
        "categories_ranked": categories, "form": request.query, **choices,
        "max_new": max([g.figures.new for g in report.grids] + [1]),
    }, status=400 if error else 200)


@api_routes.get("/api/stats")
async def stats_api(request: web.Request) -> web.Response:
    """The figures page's numbers: totals, per community, per grid, the ranking."""
    report = await load_report(request)
    return json_response(report.as_dict(request.app[SETTINGS].general.tz))
