"""A city-sized world for the scale benchmarks, loaded fast: bulk INSERTs of many rows per
statement (COPY on PostgreSQL for the big tables), never the ORM one object at a time.

One street, ``groups // 50`` communities, one grid per residents' group, a worker and a leader
per grid, ``residents`` residents per grid, and ``cases`` cases spread over the last year with a
realistic spread of states, deadlines, ratings and events. Used by bench/intake_load.py and
bench/api_scale.py; not a benchmark itself.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import db
from storage.models import (
    Case,
    CaseEvent,
    ChatGroup,
    Community,
    Counter,
    Grid,
    Person,
    Street,
)

PG_ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"
CATEGORIES = ["facility", "repair", "safety", "sanitation", "noise", "dispute", "security",
              "assistance", "inquiry", "violation"]
STATUSES = [("closed", 55), ("resolved", 8), ("accepted", 10), ("dispatched", 6),
            ("reported", 9), ("rejected", 5), ("merged", 4), ("reopened", 3)]


def room_id(g: int) -> str:
    return f"city-{g}@chatroom"


def resident_id(g: int, i: int) -> str:
    return f"r{g}-{i}"


def worker_id(g: int) -> str:
    return f"w{g}"


@contextmanager
def fresh_database(kind: str, tmp: str, name: str = "") -> Iterator[str]:
    """An empty database of our own: a SQLite file in ``tmp``, or a PostgreSQL database
    created on the local server and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/{name or 'bench'}.db"
        return
    dbname = f"gridbot_bench_{name or uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


def copy_database(kind: str, url: str, tmp: str, name: str) -> str:
    """A copy of a built world (a file copy, or CREATE DATABASE … TEMPLATE), so several runs
    start from the same state without building it again. The caller drops PostgreSQL copies
    with ``drop_database``."""
    if kind == "sqlite":
        import shutil

        src = sa.engine.make_url(url).database or ""
        engine = db.make_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        target = f"{tmp}/{name}.db"
        shutil.copyfile(src, target)
        return f"sqlite:///{target}"
    template = sa.engine.make_url(url).database
    dbname = f"gridbot_bench_{name}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"'))
    admin.dispose()
    return sa.engine.make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(
        hide_password=False)


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    dbname = sa.engine.make_url(url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    admin.dispose()


def build(url: str, *, groups: int, residents: int, cases: int, accounts: int = 1,
          events: bool = True, seed: int = 7, now: datetime | None = None) -> dict[str, int]:
    """Migrate ``url`` and load the world. Groups are shared out between ``accounts`` bot
    accounts ("bot-0", "bot-1", …) round-robin when there is more than one. Returns the row
    counts loaded."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    naive_now = now.astimezone(UTC)  # aware: the UTC columns insist (COPY strips it)
    with engine.begin() as conn:
        street = conn.execute(sa.insert(Street).values(name="城市街道")
                              .returning(Street.id)).scalar_one()
        communities = max(1, groups // 50)
        conn.execute(sa.insert(Community), [
            {"id": c + 1, "street_id": street, "name": f"社区{c}"} for c in range(communities)])
        _bulk(engine, conn, Grid, [
            {"id": g + 1, "community_id": g % communities + 1, "name": f"网格{g}"}
            for g in range(groups)])
        _bulk(engine, conn, ChatGroup, [
            {"id": g + 1, "room_id": room_id(g), "topic": f"网格{g}居民群", "kind": "resident",
             "grid_id": g + 1, "tags": [], "created_at": naive_now,
             "account": f"bot-{g % accounts}" if accounts > 1 else None}
            for g in range(groups)])
        people: list[dict[str, Any]] = []
        pid = 0
        for g in range(groups):
            for contact, role in ((worker_id(g), "grid_worker"), (f"l{g}", "grid_leader")):
                pid += 1
                people.append({"id": pid, "contact_id": contact, "name": contact, "role": role,
                               "grid_id": g + 1, "created_at": naive_now})
            for i in range(residents):
                pid += 1
                people.append({"id": pid, "contact_id": resident_id(g, i),
                               "name": f"居民{g}-{i}", "role": "resident", "grid_id": g + 1,
                               "created_at": naive_now})
        _bulk(engine, conn, Person, people)
        per_grid = 2 + residents
        case_rows, event_rows = _cases(rng, cases, groups, per_grid, residents, naive_now,
                                       events)
        _bulk(engine, conn, Case, case_rows)
        if event_rows:
            _bulk(engine, conn, CaseEvent, event_rows)
        conn.execute(sa.insert(Counter).values(name="case_no", value=cases))
        if engine.dialect.name == "postgresql":
            for table in ("streets", "communities", "grids", "chat_groups", "people", "cases",
                          "case_events"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
    if engine.dialect.name == "postgresql":
        # VACUUM too: a live database's autovacuum keeps the visibility map set, so counts
        # are read off indexes alone; a freshly COPYed table would read every row instead
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {"groups": groups, "people": len(people), "cases": len(case_rows),
            "events": len(event_rows)}


def _cases(rng: random.Random, n: int, groups: int, per_grid: int, residents: int,
           now: datetime, with_events: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    statuses = [s for s, w in STATUSES for _ in range(w)]
    cases, events = [], []
    # numbers in the order of creation, as the bot gives them: a period's cases lie together
    # in the table (random times in number order scattered a month across the whole table)
    created_times = sorted(now - timedelta(seconds=rng.randrange(365 * 86400))
                           for _ in range(n))
    for i in range(n):
        g = rng.randrange(groups)
        created = created_times[i]
        status = rng.choice(statuses)
        urgent = rng.random() < 0.03
        accept_due = created + timedelta(minutes=15 if urgent else 120)
        resolve_due = created + timedelta(hours=4 if urgent else 72)
        accepted = created + timedelta(minutes=rng.randrange(5, 300)) \
            if status not in ("reported", "rejected", "merged") else None
        resolved = created + timedelta(hours=rng.uniform(1, 100)) \
            if status in ("resolved", "closed") else None
        satisfaction = rng.choice(["satisfied", "satisfied", "basic", "unsatisfied", "unrated"]) \
            if status == "closed" else None
        worker = g * per_grid + 1  # then the leader, then the residents
        reporter = worker + 2 + rng.randrange(residents) if residents else worker
        cases.append({
            "id": i + 1, "no": i + 1, "grid_id": g + 1, "group_id": g + 1,
            "reporter_id": reporter, "text": f"{rng.randrange(1, 30)}号楼楼道灯坏了好几天了",
            "category": rng.choice(CATEGORIES), "urgent": urgent,
            "location": f"{rng.randrange(1, 30)}号楼", "confidence": 0.9, "status": status,
            "assignee_id": g * per_grid + 1 if accepted else None,
            "merged_into": None, "satisfaction": satisfaction,
            "reopen_count": 1 if status == "reopened" else 0, "escalation_level": 0,
            "accept_due_at": accept_due, "resolve_due_at": resolve_due,
            "accepted_at": accepted, "resolved_at": resolved,
            "closed_at": resolved + timedelta(hours=24) if status == "closed" and resolved
            else None,
            "created_at": created, "updated_at": resolved or accepted or created,
        })
        if with_events:
            events.append({"case_id": i + 1, "actor_id": reporter, "action": "report",
                           "from_status": None, "to_status": "reported", "note": "",
                           "at": created})
            if accepted:
                events.append({"case_id": i + 1, "actor_id": g * per_grid + 1,
                               "action": "accept", "from_status": "reported",
                               "to_status": "accepted", "note": "", "at": accepted})
            if resolved:
                events.append({"case_id": i + 1, "actor_id": g * per_grid + 1,
                               "action": "resolve", "from_status": "accepted",
                               "to_status": "resolved", "note": "已处理", "at": resolved})
    return cases, events


def _bulk(engine: Engine, conn: sa.Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (the fastest way in), multi-row INSERTs elsewhere."""
    if not rows:
        return
    table = model.__table__
    if engine.dialect.name != "postgresql":
        for i in range(0, len(rows), 5000):
            conn.execute(sa.insert(table), rows[i:i + 5000])
        return
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_copyable(row[c]) for c in columns])


def _copyable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC
    return value
