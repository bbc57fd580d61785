"""Shared fixtures: real SQLite files, a fresh PostgreSQL database per test, one classifier.

``store_url`` is "this test's database": a SQLite file, or — with GRIDBOT_TEST_DB=postgres, as
`make test` runs the whole suite a second time — a fresh PostgreSQL database copied from a
migrated template. ``db_url`` runs a test on both in one pass.

In CI (CI=true) a skipped test is a failure: a skipped real component is a test that did not run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select

from bot.config import Settings, StorageSettings
from bot.runtime import Runtime
from bot.web.app import create_app
from handlers.intake.classifier import Classifier
from storage.db import session_scope
from storage.models import OutboxMessage, OutboxStatus

PG_ADMIN_URL = os.environ.get("GRIDBOT_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"
ON_POSTGRES = os.environ.get("GRIDBOT_TEST_DB", "sqlite") == "postgres"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"


# --- classifier ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """Built once: a jieba tokenizer takes about a second to initialise."""
    return Classifier.default()


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gridbot.db'}"


def _pg_reachable() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The local PostgreSQL server; started if it is down (as DEVELOPERS.md describes)."""
    if not _pg_reachable() and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
        for version in versions:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                            "start"], check=False, capture_output=True)
    if not _pg_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """An empty database of its own for each test, dropped afterwards."""
    yield from _pg_database(pg_server)


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A database migrated to head once per run, for fast copies (CREATE DATABASE … TEMPLATE)."""
    from storage import db

    for url in _pg_database(pg_server):
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield sa.engine.make_url(url).database or ""


def _pg_database(pg_server: str, template: str | None = None) -> Iterator[str]:
    name = f"gridbot_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    url = sa.engine.make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run; tests start from a copy (migrating a new
    file through every revision takes about half a second)."""
    from storage import db

    path = tmp_path_factory.mktemp("template") / "gridbot.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    engine.dispose()
    return path


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """This test's database, migrated to head and empty: SQLite, or PostgreSQL in the suite's
    PostgreSQL pass."""
    yield from _fresh_store(request, lambda: tmp_path)


@pytest.fixture(scope="module")
def module_stores(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """Makes databases like ``store_url`` that live as long as the module: for tables of checks
    that ask one world many questions (build it once, then parametrize)."""
    made: list[Iterator[str]] = []

    def new() -> str:
        store = _fresh_store(request, lambda: tmp_path_factory.mktemp("module"))
        made.append(store)
        return next(store)

    yield new
    for store in made:
        for _ in store:  # runs its clean-up (drops the PostgreSQL database)
            pass


def _fresh_store(request: pytest.FixtureRequest, directory: Callable[[], Path]) -> Iterator[str]:
    if not ON_POSTGRES:
        target = directory() / "gridbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    pg_server = request.getfixturevalue("pg_server")
    yield from _pg_database(pg_server, request.getfixturevalue("pg_template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


# --- a running gridbot --------------------------------------------------------------------------


def make_settings(url: str, **overrides: Any) -> Settings:
    settings = Settings(storage=StorageSettings(url=url))
    return replace(settings, **overrides)


class Clock:
    """A clock the test moves: deadlines and follow-ups without real waiting."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


# Monday 2026-11-23 10:00 in Beijing: inside office hours, on a working day.
START = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class Harness:
    """A started gridbot app plus helpers that speak the simulator API, as /sim does."""

    def __init__(self, client: TestClient, runtime: Runtime, clock: Clock | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.clock = clock

    async def tick(self) -> int:
        """Run the scheduler's sweep now (at the test clock's time) and send what it queued."""
        await self.settle()
        steps = await self.runtime.run_timers()
        await self.settle()
        return steps

    async def post(self, room: str | None, sender: str, text: str, **extra: Any) -> str:
        resp = await self.client.post("/api/sim/messages",
                                      json={"room": room, "sender": sender, "text": text, **extra})
        assert resp.status == 202, await resp.text()
        return (await resp.json())["id"]

    async def messages(self, *, room: str | None = None, contact: str | None = None,
                       after: str | None = None) -> list[dict[str, Any]]:
        params = {"room": room} if room else {"contact": contact or ""}
        if after:
            params["after"] = after
        resp = await self.client.get("/api/sim/messages", params=params)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every stored message is processed and every queued reply is sent."""
        processor, engine = self.runtime.processor, self.runtime.engine
        assert processor is not None and engine is not None

        def pending() -> int:
            with session_scope(engine) as session:
                # a claimed row (sending) is not in the chat yet either
                return len(session.exec(select(OutboxMessage.id).where(col(
                    OutboxMessage.status).in_([OutboxStatus.PENDING,
                                               OutboxStatus.SENDING]))).all())

        async def wait() -> None:
            await processor.drain()
            while await asyncio.to_thread(pending):
                self.runtime.sender.wake()  # type: ignore[union-attr]
                await asyncio.sleep(0.02)

        await asyncio.wait_for(wait(), timeout)

    async def bot_replies(self, *, room: str | None = None, contact: str | None = None,
                          after: str | None = None) -> list[dict[str, Any]]:
        await self.settle()
        return [m for m in await self.messages(room=room, contact=contact, after=after)
                if m["from_bot"]]

    async def api(self, path: str, token: str, **params: Any) -> Any:
        resp = await self.client.get(path, params=params,
                                     headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
def start_gridbot(aiohttp_client: Callable[..., Any], classifier: Classifier
                  ) -> Callable[..., Any]:
    async def start(url: str, *, scheduler: bool = False, transport: Any = None,
                    clock: Clock | None = None, **overrides: Any) -> Harness:
        settings = make_settings(url, **overrides)
        clock = clock or Clock(START)
        runtime = Runtime(settings, classifier=classifier, clock=clock, run_scheduler=scheduler,
                          transport=transport)
        client = await aiohttp_client(create_app(settings, runtime=runtime))
        return Harness(client, runtime, clock)

    return start


@asynccontextmanager
async def running_gridbot(url: str, classifier: Classifier, **overrides: Any
                          ) -> AsyncIterator[Harness]:
    """A started gridbot outside pytest-aiohttp's per-test client, for module-scoped worlds
    (``pytest_asyncio.fixture(scope="module", loop_scope="module")``)."""
    settings = make_settings(url, **overrides)
    clock = Clock(START)
    runtime = Runtime(settings, classifier=classifier, clock=clock, run_scheduler=False)
    client = TestClient(TestServer(create_app(settings, runtime=runtime)))
    await client.start_server()
    try:
        yield Harness(client, runtime, clock)
    finally:
        await client.close()


@pytest.fixture
async def gridbot(store_url: str, start_gridbot: Callable[..., Any]) -> AsyncIterator[Harness]:
    # the database first, so it is dropped only after the app has stopped
    yield await start_gridbot(store_url)


@pytest.fixture
def admin_token(gridbot: Harness) -> str:
    from storage import queries

    assert gridbot.runtime.engine is not None
    with session_scope(gridbot.runtime.engine) as session:
        return queries.create_token(session, role="admin", label="test")


@pytest.fixture
async def web(bot: Harness) -> AsyncIterator[Any]:
    """Browser-like HTTP sessions on a module's ``bot`` (tests/auxil/dashboard.py), closed at
    the end of the test."""
    from tests.auxil.dashboard import Browsers

    browsers = Browsers(bot)
    yield browsers
    await browsers.close()
