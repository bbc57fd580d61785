"""The figures staff judge themselves by (办结率, on-time rate, satisfaction, response and
resolution times), per grid and community for a period, and the weekly ranking of grids.

Plain functions over a session, no web: the dashboard's figures page, ``GET /api/stats``, the
figures export and the weekly digest to staff groups all read the same numbers from here.

**Which cases count.** A period is a half-open interval ``[start, end)``. Its cases are those
*reported* in it (``created_at``), in the grids asked for, except:

- merged duplicates (合并, status ``merged``): the problem is counted once, on the case kept;
- dismissed messages (不是工单, a ``dismiss`` event): they were never requests.

Rejected cases (退回: out of scope, the resident was told why) are counted as new cases, but not
as cases the grid had to handle, so they stand outside 办结率.

Each case is judged **as it stands at** ``now`` (its current state and timestamps), so a report
for last week computed today includes what was finished since: the usual 截至目前 reading.

**The figures** (each rate is ``None`` when its denominator is 0; a rate is never made up):

- ``new`` (新增): the cases counted, as above.
- ``handled`` (受理): ``new`` minus ``rejected``.
- ``resolved`` (办结): handled cases that are resolved (awaiting the resident's rating) or closed.
  A reopened case (不满意) is not resolved until it is resolved again.
- ``closure_rate`` (办结率) = ``resolved / handled``.
- ``on_time_rate`` (按期办结率) = ``on_time / (on_time + late)``: ``on_time`` are resolved cases
  whose resolution came by their resolution deadline; ``late`` are resolved cases that came after
  it plus open cases already past it at ``now`` (a case still open past its deadline is late
  already; one still within it is not judged yet). A reopened case is judged against its renewed
  deadline.
- ``overdue`` (超期未办): open cases past the deadline that applies now (acceptance while
  waiting for a worker, else resolution), as the ledger highlights them.
- Satisfaction counts every rating a resident gave or failed to give: ``satisfied`` (满意) and
  ``basic`` (基本满意) as final ratings, ``unsatisfied`` as the number of 不满意 ratings (each
  reopened the case once), ``unrated`` (未评价) for cases closed because the follow-up ran out.
  ``satisfaction_rate`` (满意率) = ``(satisfied + basic) / (satisfied + basic + unsatisfied +
  unrated)``: 未评价 is not satisfied.
- ``avg_response_hours`` (平均首次响应): from the report to the first step a worker took on it
  (接单, 指派, 转办, 进度, 办结 or 退回), over the cases that had one; wall-clock hours.
- ``avg_resolution_hours`` (平均办结用时): from the report to the latest resolution, over the
  resolved cases; wall-clock hours.
- ``categories``: new cases per category key.

Counts and sums are kept beside the rates, so figures of several grids add up exactly
(``a + b``) and a community's rate is computed from its cases, never averaged from its grids'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import ClauseAdapter
from sqlmodel import Session, col, select

from handlers.cases import workflow
from handlers.ledger import current_due, is_overdue
from storage.models import Case, CaseEvent, CaseStatus, Community, Grid, Satisfaction

#: The steps that count as a worker's first response to a case.
RESPONSE_ACTIONS = ("accept", "assign", "dispatch", "progress", "resolve", "reject")

#: Weights of the weekly ranking's score (see ``rank_grids``).
RANK_WEIGHTS = {"closure_rate": 0.4, "on_time_rate": 0.3, "satisfaction_rate": 0.3}


@dataclass(frozen=True)
class Figures:
    """The figures of a set of cases; see the module docstring for what each one means."""

    new: int = 0
    urgent: int = 0
    rejected: int = 0
    resolved: int = 0
    open: int = 0
    overdue: int = 0
    on_time: int = 0
    late: int = 0
    satisfied: int = 0
    basic: int = 0
    unsatisfied: int = 0
    unrated: int = 0
    responded: int = 0
    response_seconds: float = 0.0
    resolution_count: int = 0
    resolution_seconds: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.new - self.rejected

    @property
    def rated(self) -> int:
        return self.satisfied + self.basic + self.unsatisfied + self.unrated

    @property
    def closure_rate(self) -> float | None:
        return _ratio(self.resolved, self.handled)

    @property
    def on_time_rate(self) -> float | None:
        return _ratio(self.on_time, self.on_time + self.late)

    @property
    def satisfaction_rate(self) -> float | None:
        return _ratio(self.satisfied + self.basic, self.rated)

    @property
    def avg_response_hours(self) -> float | None:
        return _hours(self.response_seconds, self.responded)

    @property
    def avg_resolution_hours(self) -> float | None:
        return _hours(self.resolution_seconds, self.resolution_count)

    def __add__(self, other: Figures) -> Figures:
        summed: dict[str, Any] = {
            name: getattr(self, name) + getattr(other, name) for name in _COUNTS
        }
        categories = dict(self.categories)
        for key, n in other.categories.items():
            categories[key] = categories.get(key, 0) + n
        return Figures(**summed, categories=categories)

    def as_dict(self) -> dict[str, Any]:
        """Counts, rates (0..1, rounded to 4 places) and averages (hours, 2 places), for JSON."""
        return {
            "new": self.new, "urgent": self.urgent, "rejected": self.rejected,
            "handled": self.handled, "resolved": self.resolved, "open": self.open,
            "overdue": self.overdue, "on_time": self.on_time, "late": self.late,
            "satisfied": self.satisfied, "basic": self.basic, "unsatisfied": self.unsatisfied,
            "unrated": self.unrated, "rated": self.rated,
            "closure_rate": _round(self.closure_rate, 4),
            "on_time_rate": _round(self.on_time_rate, 4),
            "satisfaction_rate": _round(self.satisfaction_rate, 4),
            "avg_response_hours": _round(self.avg_response_hours, 2),
            "avg_resolution_hours": _round(self.avg_resolution_hours, 2),
            "categories": dict(sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


_COUNTS = [f for f in Figures.__dataclass_fields__ if f != "categories"]


@dataclass(frozen=True)
class GridFigures:
    grid_id: int
    grid: str
    community_id: int
    community: str
    figures: Figures


@dataclass(frozen=True)
class CommunityFigures:
    community_id: int
    community: str
    figures: Figures
    grids: tuple[GridFigures, ...]


@dataclass(frozen=True)
class Ranked:
    """A grid's place in the ranking: ``rank`` is None for a grid with no cases in the period
    (nothing to judge it by), listed after the ranked ones."""

    rank: int | None
    score: float | None
    grid: GridFigures


# --- periods ------------------------------------------------------------------------------------


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period from the start of local day ``first`` to the end of local day ``last``
    (both included), as aware datetimes: what "from 11月1日 to 11月30日" means to staff."""
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def week_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local week (Monday 00:00 to the next Monday 00:00) that contains ``day``: the
    period of the weekly ranking (一周一督查). Last week is ``week_bounds(today - 7 days)``."""
    monday = day - timedelta(days=day.weekday())
    return day_bounds(monday, monday + timedelta(days=6), tz)


# --- computing ----------------------------------------------------------------------------------


def grid_figures(session: Session, *, start: datetime, end: datetime, now: datetime,
                 grid_ids: Iterable[int] | None = None) -> list[GridFigures]:
    """The figures of every grid (of ``grid_ids``, or all), in the order of the hierarchy.
    Grids with no cases in the period are included, with zero figures.

    Computed in the database (two grouped queries), so a year of a city's cases is not loaded
    into Python; ``case_figures`` is the same definition for one case, and a test keeps the two
    in step."""
    wanted = None if grid_ids is None else set(grid_ids)
    # plain columns, not ORM objects: a city has 5,000 grids
    grids = [row for row in session.connection().execute(
        select(Grid.id, Grid.name, Community.id, Community.name)
        .join(Community, col(Community.id) == col(Grid.community_id))
        .order_by(col(Community.id), col(Grid.id))
    ).all() if wanted is None or row[0] in wanted]
    per_grid: dict[int, Figures] = {grid_id: Figures() for grid_id, *_ in grids}
    if per_grid:
        per_grid.update(_figures_in_sql(session, start=start, end=end, now=now,
                                        grid_ids=None if wanted is None else list(per_grid)))
    return [GridFigures(grid_id=grid_id, grid=grid, community_id=community_id,
                        community=community, figures=per_grid[grid_id])
            for grid_id, grid, community_id, community in grids]


def _figures_in_sql(session: Session, *, start: datetime, end: datetime, now: datetime,
                    grid_ids: list[int] | None) -> dict[int, Figures]:
    """``case_figures`` summed per grid by the database."""
    mark = aliased(CaseEvent)
    dismissed = (sa.exists().where(mark.case_id == Case.id).where(mark.action == "dismiss")
                 .correlate(Case))

    def counted(q: Any) -> Any:
        q = (q.where(col(Case.created_at) >= start).where(col(Case.created_at) < end)
             .where(Case.status != CaseStatus.MERGED).where(~dismissed))
        return q if grid_ids is None else q.where(col(Case.grid_id).in_(grid_ids))

    def n(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    # One read of the period's cases: the counted cases' columns and first response (a case's
    # own events looked up by index, not every event of the year grouped: a month of a city's
    # cases took 0.5 s that way on PostgreSQL) in a derived table, the figures written over
    # Case's columns and adapted onto it. Joining a subquery of the counted cases back to
    # cases read them twice. OFFSET 0 keeps PostgreSQL from pulling the derived table up into
    # the grouping, which copied the first-response lookup into each figure using it (three
    # index lookups per case instead of one).
    response_at = (select(sa.func.min(CaseEvent.at)).where(col(CaseEvent.case_id) == Case.id)
                   .where(col(CaseEvent.action).in_(RESPONSE_ACTIONS))
                   .correlate(Case).scalar_subquery())
    one = counted(select(
        col(Case.id), col(Case.grid_id), col(Case.status), col(Case.urgent),
        col(Case.satisfaction), col(Case.reopen_count), col(Case.created_at),
        col(Case.accept_due_at), col(Case.resolve_due_at), col(Case.resolved_at),
        response_at.label("first_at")).offset(0)).subquery()
    status = col(Case.status)
    resolved = status.in_([CaseStatus.RESOLVED, CaseStatus.CLOSED])
    is_open = status.in_(list(workflow.OPEN_STATES))
    resolved_at, resolve_due = col(Case.resolved_at), col(Case.resolve_due_at)
    judged = resolved & resolved_at.is_not(None) & resolve_due.is_not(None)
    dialect = session.get_bind().dialect.name
    response = _seconds(one.c.first_at, col(Case.created_at), dialect)
    resolution = _seconds(resolved_at, col(Case.created_at), dialect)
    due = current_due()
    figures = [
        sa.func.count(), n(col(Case.urgent)),
        n(status == CaseStatus.REJECTED), n(resolved), n(is_open),
        n(is_open & due.is_not(None) & (due < now)),
        n(judged & (resolved_at <= resolve_due)),
        n((judged & (resolved_at > resolve_due))
          | (~judged & is_open & resolve_due.is_not(None) & (resolve_due < now))),
        *(n(col(Case.satisfaction) == s) for s in (
            Satisfaction.SATISFIED, Satisfaction.BASIC, Satisfaction.UNRATED)),
        sa.func.sum(col(Case.reopen_count)),
        sa.func.count(one.c.first_at),
        sa.func.sum(sa.case((response > 0, response), else_=0.0)),
        n(resolved & resolved_at.is_not(None)),
        sa.func.sum(sa.case((resolved & (resolution > 0), resolution), else_=0.0))]
    onto = ClauseAdapter(one)
    # Core rows, not the ORM's: its row processing cost as much as the query for 5,000 grids
    conn = session.connection()
    rows = conn.execute(
        select(one.c.grid_id, *(onto.traverse(f) for f in figures))
        .select_from(one).group_by(one.c.grid_id)).all()
    categories: dict[int, dict[str, int]] = {}
    for grid_id, category, count in conn.execute(counted(
            select(col(Case.grid_id), col(Case.category), sa.func.count())
            .group_by(col(Case.grid_id), col(Case.category)))).all():
        categories.setdefault(grid_id, {})[category] = count
    out = {}
    for (grid_id, new, urgent, rejected, resolved_n, open_n, overdue, on_time, late, satisfied,
         basic, unrated, unsatisfied, responded, response_s, resolution_n,
         resolution_s) in rows:
        out[grid_id] = Figures(
            new=new, urgent=urgent or 0, rejected=rejected or 0, resolved=resolved_n or 0,
            open=open_n or 0, overdue=overdue or 0, on_time=on_time or 0, late=late or 0,
            satisfied=satisfied or 0, basic=basic or 0, unsatisfied=unsatisfied or 0,
            unrated=unrated or 0, responded=responded or 0,
            response_seconds=float(response_s or 0.0), resolution_count=resolution_n or 0,
            resolution_seconds=float(resolution_s or 0.0),
            categories=categories.get(grid_id, {}))
    return out


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """``later - earlier`` in seconds, as SQL (datetimes are stored as naive UTC)."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def community_figures(grids: Sequence[GridFigures]) -> list[CommunityFigures]:
    """The grids' figures added up per community, in the order the grids come."""
    order: dict[int, list[GridFigures]] = {}
    for g in grids:
        order.setdefault(g.community_id, []).append(g)
    return [CommunityFigures(community_id=cid, community=members[0].community,
                             figures=total(members), grids=tuple(members))
            for cid, members in order.items()]


def total(grids: Iterable[GridFigures]) -> Figures:
    return sum((g.figures for g in grids), Figures())


def rank_grids(grids: Sequence[GridFigures]) -> list[Ranked]:
    """The ranking of grids (一周一督查、一季一排名): by a score from 0 to 100, the weighted mean
    of 办结率 (40 %), 按期办结率 (30 %) and 满意率 (30 %). A rate without a denominator (no
    deadline came due, nobody rated yet) drops out and the other weights count in its place.
    Equal scores share a rank (1, 1, 3); among them, more cases first, then the name."""
    scored = [(score(g.figures), g) for g in grids]
    ranked = sorted(((s, g) for s, g in scored if s is not None),
                    key=lambda sg: (-sg[0], -sg[1].figures.new, sg[1].grid))
    out: list[Ranked] = []
    for i, (s, g) in enumerate(ranked):
        rank = out[-1].rank if out and out[-1].score == s else i + 1
        out.append(Ranked(rank=rank, score=s, grid=g))
    unranked = sorted((g for s, g in scored if s is None), key=lambda g: g.grid)
    return out + [Ranked(rank=None, score=None, grid=g) for g in unranked]


def score(f: Figures) -> float | None:
    """The ranking score of a grid's figures (see ``rank_grids``); None with no cases."""
    if f.new == 0:
        return None
    parts = [(w, getattr(f, name)) for name, w in RANK_WEIGHTS.items()
             if getattr(f, name) is not None]
    if not parts:
        return None
    weight = sum(w for w, _ in parts)
    return round(100 * sum(w * v for w, v in parts) / weight, 1)


def case_figures(case: Case, first_response: datetime | None, *, now: datetime) -> Figures:
    """One counted case's contribution to the figures."""
    rejected = case.status == CaseStatus.REJECTED
    resolved = case.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
    is_open = workflow.is_open(case.status)
    on_time = late = 0
    if resolved and case.resolved_at and case.resolve_due_at:
        on_time, late = (1, 0) if case.resolved_at <= case.resolve_due_at else (0, 1)
    elif is_open and case.resolve_due_at and case.resolve_due_at < now:
        late = 1
    resolution = (case.resolved_at - case.created_at).total_seconds() \
        if resolved and case.resolved_at else None
    response = (first_response - case.created_at).total_seconds() if first_response else None
    return Figures(
        new=1, urgent=int(case.urgent), rejected=int(rejected), resolved=int(resolved),
        open=int(is_open), overdue=int(is_overdue(case, now)),
        on_time=on_time, late=late,
        satisfied=int(case.satisfaction == Satisfaction.SATISFIED),
        basic=int(case.satisfaction == Satisfaction.BASIC),
        unsatisfied=case.reopen_count,
        unrated=int(case.satisfaction == Satisfaction.UNRATED),
        responded=int(response is not None), response_seconds=max(response or 0.0, 0.0),
        resolution_count=int(resolution is not None),
        resolution_seconds=max(resolution or 0.0, 0.0),
        categories={case.category: 1},
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _hours(seconds: float, count: int) -> float | None:
    return seconds / count / 3600 if count else None


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)
