"""The case ledger (台账) as a query: filters, sorting, paging and counts per status.

The dashboard's ledger page, ``GET /api/cases`` and the ledger exports all read cases through
``CaseFilter``, so a filter means the same thing wherever it is used. "Overdue" is the rule the
chat's 待办 and the timers use: an open case past the deadline that applies now (acceptance while
it waits for a worker, resolution after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from handlers.cases import timers, workflow
from storage.models import OPEN_CASE_STATES, Case, CaseStatus, Grid, Person

#: sort keys the ledger accepts -> the column (or expression) they order by
SORT_KEYS = ("no", "created", "status", "category", "grid", "due", "urgent")
OPEN = "open"  # a status filter meaning any open state


@dataclass(frozen=True)
class CaseFilter:
    """What the ledger shows. ``grid_ids`` is already narrowed to the viewer's scope (``None``:
    every grid); ``end`` is exclusive."""

    grid_ids: frozenset[int] | None = None
    status: str | None = None  # a CaseStatus, or OPEN
    category: str | None = None
    urgent: bool | None = None
    overdue: bool = False
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None


def current_due() -> Any:
    """SQL for the deadline that applies now (see timers.current_due, its Python twin)."""
    awaiting = [s.value for s in CaseStatus if workflow.awaiting_acceptance(s)]
    return sa.case((col(Case.status).in_(awaiting), col(Case.accept_due_at)),
                   else_=col(Case.resolve_due_at))


def open_status() -> Any:
    """SQL for "the case is open", written as the partial index ix_cases_open_due is (same
    values, same order, inline rather than bound), so both databases can use that index."""
    return col(Case.status).in_(sa.bindparam("open_states", list(OPEN_CASE_STATES),
                                             expanding=True, literal_execute=True))


def _where(q: Any, f: CaseFilter, now: datetime, *, with_status: bool = True) -> Any:
    if f.grid_ids is not None:
        q = q.where(col(Case.grid_id).in_(f.grid_ids or [-1]))
    if with_status and f.status == OPEN:
        q = q.where(open_status())
    elif with_status and f.status:
        q = q.where(Case.status == f.status)
    if f.category:
        q = q.where(Case.category == f.category)
    if f.urgent is not None:
        q = q.where(Case.urgent == f.urgent)
    if f.overdue:
        q = q.where(open_status()).where(current_due() < now)
    if f.start is not None:
        q = q.where(col(Case.created_at) >= f.start)
    if f.end is not None:
        q = q.where(col(Case.created_at) < f.end)
    if f.text:
        words = f.text.strip()
        pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        reporters = select(Person.id).where(col(Person.name).like(pattern, escape="\\"))
        conditions = [col(Case.text).like(pattern, escape="\\"),
                      col(Case.location).like(pattern, escape="\\"),
                      col(Case.dispatched_to).like(pattern, escape="\\"),
                      col(Case.reporter_id).in_(reporters)]
        if words.lstrip("#").isdigit():
            conditions.append(Case.no == int(words.lstrip("#")))
        q = q.where(sa.or_(*conditions))
    return q


def search(session: Session, f: CaseFilter, *, now: datetime, sort: str = "no",
           descending: bool = True, limit: int = 20, offset: int = 0) -> Sequence[Case]:
    order: Any = {
        "no": col(Case.no), "created": col(Case.created_at), "status": col(Case.status),
        "category": col(Case.category), "grid": col(Grid.name), "due": current_due(),
        "urgent": col(Case.urgent),
    }[sort]
    order = order.desc() if descending else order.asc()
    if sort == "due":  # the only key that can be NULL (a case with no deadline)
        order = order.nulls_last()
    q = select(Case)
    if sort == "grid":  # joined only to sort by: SQLite would otherwise drive by grids
        q = q.join(Grid, col(Grid.id) == col(Case.grid_id))
    q = _where(q, f, now)
    tie = col(Case.no).desc() if descending else col(Case.no).asc()
    # no NULLS LAST on a NOT NULL column: PostgreSQL would not read it off an index (whose
    # order is DESC NULLS FIRST) and would sort every matching case for one page
    keys = [order] if sort == "no" else [order, tie]
    return session.exec(q.order_by(*keys).offset(offset).limit(limit)).all()


def count(session: Session, f: CaseFilter, *, now: datetime) -> int:
    return session.exec(_where(select(func.count()).select_from(Case), f, now)).one()


def status_counts(session: Session, f: CaseFilter, *, now: datetime) -> dict[str, int]:
    """Cases per status under every filter except the status one: the ledger's top line, so
    each number says what clicking it would show."""
    rows = session.exec(_where(select(Case.status, func.count()).select_from(Case), f, now,
                               with_status=False).group_by(col(Case.status))).all()
    found = dict(rows)
    return {s.value: found.get(s.value, 0) for s in CaseStatus}


def total_of(counts: dict[str, int], f: CaseFilter) -> int:
    """``count(f)`` read off ``status_counts(f)``: one scan of the cases for the ledger's top
    line and its total instead of two (a city's ledger holds a million cases)."""
    if f.status == OPEN:
        return sum(counts[s] for s in workflow.OPEN_STATES)
    if f.status:
        return counts.get(f.status, 0)
    return sum(counts.values())


def is_overdue(case: Case, now: datetime) -> bool:
    due = timers.current_due(case)
    return workflow.is_open(case.status) and due is not None and due < now
