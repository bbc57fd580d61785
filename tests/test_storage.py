"""Storage on a real SQLite file and on the local PostgreSQL server."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from storage import db, queries
from storage.demo_seed import seed_demo
from storage.models import Case, ChatGroup, Grid, InboundMessage, OutboxMessage, Person, Role

HEAD = db.head_revision()


@pytest.fixture
def engine(db_url: str):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


def test_migrations_build_exactly_the_models(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"
    assert db.current_revision(engine) == HEAD


def test_upgrade_is_idempotent(engine) -> None:
    db.upgrade(engine)
    assert db.current_revision(engine) == HEAD


def test_demo_seed_builds_the_hierarchy_once(engine) -> None:
    with db.session_scope(engine) as session:
        assert seed_demo(session) is True
    with db.session_scope(engine) as session:
        assert seed_demo(session) is False
        views = [v for v in queries.list_groups(session) if v.group.kind == "resident"]
        assert len(views) == 3
        assert {v.community.name for v in views} == {"幸福里社区", "和平苑社区"}
        for v in views:
            roles = [p.role for p in v.staff]
            assert roles == [Role.GRID_WORKER, Role.GRID_LEADER]
        assert len(session.exec(select(Grid)).all()) == 3


def _seeded_case(session, text: str = "路灯坏了") -> Case:
    group = session.exec(select(ChatGroup).where(ChatGroup.kind == "resident")).first()
    reporter = queries.get_or_create_resident(session, contact_id="wx_res", name="居民")
    case = Case(no=0, grid_id=group.grid_id, group_id=group.id, reporter_id=reporter.id,
                text=text, category="facility")
    return queries.add_case(session, case, actor_id=reporter.id)


def test_case_numbers_are_unique_under_concurrency(engine) -> None:
    with db.session_scope(engine) as session:
        seed_demo(session)

    def open_one(i: int) -> int:
        with db.session_scope(engine) as session:
            return _seeded_case(session, f"问题{i}").no

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(open_one, range(40)))
    assert sorted(numbers) == list(range(1, 41))
    with db.session_scope(engine) as session:
        case = queries.get_case(session, no=40)
        assert case is not None
        events = queries.case_events(session, case_id=case.id)
        assert [(e.action, e.to_status) for e in events] == [("report", "reported")]


def test_inbound_log_rejects_a_redelivered_id(engine) -> None:
    def msg(text: str) -> InboundMessage:
        return InboundMessage(transport="wechaty", message_id="m-1", sender_id="a", text=text)

    with db.session_scope(engine) as session:
        assert queries.record_inbound(session, msg("第一次")) is not None
        assert queries.record_inbound(session, msg("又来一次")) is None
        # the same id from another transport is a different message
        other = InboundMessage(transport="sim", message_id="m-1", sender_id="a", text="x")
        assert queries.record_inbound(session, other) is not None
    with db.session_scope(engine) as session:
        texts = [m.text for m in session.exec(select(InboundMessage)).all()]
        assert sorted(texts) == ["x", "第一次"]


def test_datetimes_come_back_aware_in_utc(engine) -> None:
    beijing = timezone(timedelta(hours=8))
    sent = datetime(2026, 11, 23, 9, 30, tzinfo=beijing)
    with db.session_scope(engine) as session:
        session.add(InboundMessage(transport="sim", message_id="t", sender_id="a", sent_at=sent))
    with db.session_scope(engine) as session:
        row = session.exec(select(InboundMessage)).one()
        assert row.sent_at == sent
        assert row.sent_at.utcoffset() == timedelta(0)
        assert row.sent_at.hour == 1


def test_naive_datetimes_are_refused(engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.session_scope(engine) as session:
        session.add(InboundMessage(transport="sim", message_id="n", sender_id="a",
                                   sent_at=datetime(2026, 1, 1)))
        session.flush()


def test_outbox_orders_urgent_first_and_respects_retry_time(engine) -> None:
    now = datetime.now(UTC)
    with db.session_scope(engine) as session:
        queries.enqueue(session, room_id="r@chatroom", text="普通")
        queries.enqueue(session, contact_id="worker", text="紧急", priority=10)
        later = queries.enqueue(session, room_id="r@chatroom", text="稍后重试")
        later.next_attempt_at = now + timedelta(minutes=5)
    with db.session_scope(engine) as session:
        assert [m.text for m in queries.due_outbox(session, now=now)] == ["紧急", "普通"]
        assert len(session.exec(select(OutboxMessage)).all()) == 3
    with pytest.raises(ValueError), db.session_scope(engine) as session:
        queries.enqueue(session, room_id="r", contact_id="c", text="两处")


def test_residents_are_created_once_and_follow_renames(engine) -> None:
    with db.session_scope(engine) as session:
        first = queries.get_or_create_resident(session, contact_id="wx_1", name="老王")
    with db.session_scope(engine) as session:
        again = queries.get_or_create_resident(session, contact_id="wx_1", name="王建国")
        assert again.id == first.id and again.name == "王建国"
        assert len(session.exec(select(Person)).all()) == 1


def test_tokens_are_stored_hashed(engine) -> None:
    from storage.models import ApiToken

    with db.session_scope(engine) as session:
        token = queries.create_token(session, role="admin")
    with db.session_scope(engine) as session:
        row = session.exec(select(ApiToken)).one()
        assert token not in row.token_hash and len(row.token_hash) == 64
        assert queries.token_role(session, token=token) == "admin"


def test_migration_from_the_first_revision_keeps_existing_rows(db_url: str) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO streets (name) VALUES ('老街道')"))
        conn.execute(sa.text("INSERT INTO communities (street_id, name) VALUES (1, '老社区')"))
        conn.execute(sa.text("INSERT INTO grids (community_id, name) VALUES (1, '老网格')"))
        conn.execute(sa.text("INSERT INTO chat_groups (room_id, topic, grid_id, created_at) "
                             "VALUES ('old@chatroom', '老群', 1, '2026-01-01 00:00:00')"))
        conn.execute(sa.text("INSERT INTO people (contact_id, name, role, created_at) "
                             "VALUES ('wf', '王芳', 'resident', '2026-01-01 00:00:00')"))
        # rows that point at the tables later migrations rebuild (SQLite's batch mode)
        conn.execute(sa.text(
            "INSERT INTO cases (no, grid_id, group_id, reporter_id, text, category, urgent, "
            "confidence, status, created_at, updated_at) VALUES (1, 1, 1, 1, '楼道灯坏了', "
            "'repair', false, 0.9, 'reported', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO outbox (room_id, text, mention_ids, priority, status, attempts, "
            "created_at) VALUES ('old@chatroom', '您好', '[]', 0, 'sent', 1, "
            "'2026-01-01 00:00:00')"))
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        group = queries.get_group(session, room_id="old@chatroom")
        assert group is not None and group.kind == "resident" and group.tags == []
        case = queries.get_case(session, no=1)
        assert case is not None and case.group_id == group.id and case.reopen_count == 0
    db.downgrade(engine, "0001")  # and back down, so a bad release can be rolled back
    assert db.current_revision(engine) == "0001"
    engine.dispose()


def test_the_open_cases_index_covers_exactly_the_open_states() -> None:
    """The partial index's predicate is SQL text; it must name the workflow's open states, or
    the overdue count would miss cases (or stop using the index)."""
    from handlers.cases.workflow import OPEN_STATES
    from storage.models import OPEN_CASES_SQL

    named = set(re.findall(r"'(\w+)'", OPEN_CASES_SQL))
    assert named == {s.value for s in OPEN_STATES}


def test_the_overdue_count_reads_the_open_cases_index_on_sqlite(sqlite_url: str) -> None:
    """SQLite uses a partial index only when the query names its condition the same way
    (values inline, same order): the ledger's open-state condition must keep doing so."""
    from handlers import ledger

    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    plans: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def explain(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT count(*)"):
            plans.extend(str(row) for row in cursor.execute(
                "EXPLAIN QUERY PLAN " + statement, params).fetchall())

    with db.session_scope(engine) as session:
        assert ledger.count(session, ledger.CaseFilter(overdue=True), now=datetime.now(UTC)) == 0
    engine.dispose()
    assert any("ix_cases_open_due" in p for p in plans), plans


def test_staff_community_backfill_reads_what_the_rows_say(db_url: str) -> None:
    """0008_staff_community: staff registered in a grid serve its community, staff linked to a
    community account serve that community, the township admin's person the street; a staff row
    with none of these stays unset (refused in chat until an admin sets it)."""
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0007")
    ts = "'2026-01-01 00:00:00'"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO streets (name) VALUES ('老街道')"))
        for name in ("东社区", "西社区"):
            conn.execute(sa.text(f"INSERT INTO communities (street_id, name) VALUES (1, '{name}')"))
        conn.execute(sa.text("INSERT INTO grids (community_id, name) VALUES (2, '西一网格')"))
        for contact, grid in (("in-grid", "1"), ("east-account", "NULL"), ("admin", "NULL"),
                              ("nobody", "NULL"), ("resident", "1")):
            role = "resident" if contact == "resident" else "staff"
            conn.execute(sa.text(
                "INSERT INTO people (contact_id, name, role, grid_id, created_at) "
                f"VALUES ('{contact}', '{contact}', '{role}', {grid}, {ts})"))
        for username, role, community, person in (("east", "community_staff", "1", 2),
                                                  ("boss", "township_admin", "NULL", 3)):
            conn.execute(sa.text(
                "INSERT INTO staff_accounts (username, password_hash, role, community_id, "
                f"person_id, session_epoch, created_at) VALUES ('{username}', 'x', '{role}', "
                f"{community}, {person}, 0, {ts})"))
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = {r[0]: (r[1], r[2]) for r in conn.execute(sa.text(
            "SELECT contact_id, community_id, street_id FROM people"))}
    assert rows == {"in-grid": (2, None), "east-account": (1, None), "admin": (None, 1),
                    "nobody": (None, None), "resident": (None, None)}
    db.downgrade(engine, "0007")
    assert db.current_revision(engine) == "0007"
    engine.dispose()
