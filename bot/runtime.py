"""One gridbot process: storage, the intake context, a transport, the inbound worker, the sender.

Built and torn down by the web app's cleanup context, so nothing happens at import time and
tests can run several isolated instances side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.config import Settings, resolve_path
from bot.inbound import InboundProcessor
from bot.scheduler import Scheduler
from bot.sender import OutboxSender
from bot.transport.base import BaseTransport, RoomInfo
from bot.transport.sim import SimTransport
from handlers.cases.timers import run_timers
from handlers.context import Context, system_clock
from handlers.deadlines import load_deadlines
from handlers.intake.classifier import Classifier
from handlers.intake.rules import load_rules
from handlers.texts import Texts
from handlers.worktime import WorkCalendar
from storage import db, queries
from storage.demo_seed import seed_demo

log = logging.getLogger(__name__)


def build_classifier(settings: Settings) -> Classifier:
    rules = load_rules(resolve_path(settings, settings.intake.rules))
    return Classifier(rules, userdict=resolve_path(settings, settings.intake.userdict))


def prepare_database(settings: Settings) -> Engine:
    """Open the database, bring its schema to head, and seed the demo world if asked."""
    engine = db.make_engine(settings.storage.url)
    db.upgrade(engine)
    if settings.demo.seed:
        with db.session_scope(engine) as session:
            if seed_demo(session):
                log.info("demo world seeded")
    return engine


def make_transport(settings: Settings) -> BaseTransport:
    t = settings.transport
    if t.kind == "wechaty":
        from bot.transport.wechaty import WechatyTransport

        return WechatyTransport(t.resolved_endpoint, t.resolved_token,
                                bot_name=settings.general.bot_name,
                                backoff_max=t.reconnect_max_seconds)
    return SimTransport(settings.general.bot_name)


class Runtime:
    def __init__(self, settings: Settings, *, classifier: Classifier | None = None,
                 transport: BaseTransport | None = None,
                 clock: Callable[[], datetime] = system_clock,
                 run_scheduler: bool = True) -> None:
        self.settings = settings
        self._run_scheduler = run_scheduler  # tests that move the clock run the sweeps
        self._classifier = classifier
        self._clock = clock
        self.context: Context | None = None
        self.scheduler: Scheduler | None = None
        self._timers_lock = asyncio.Lock()  # one sweep at a time, scheduled or called
        self.transport: BaseTransport = transport or make_transport(settings)
        self.engine: Engine | None = None
        self.processor: InboundProcessor | None = None
        self.sender: OutboxSender | None = None

    async def start(self) -> None:
        s = self.settings
        self.engine = await asyncio.to_thread(prepare_database, s)
        classifier = self._classifier or await asyncio.to_thread(build_classifier, s)
        ctx = self.context = Context(
            classifier=classifier, texts=Texts(),
            deadlines=load_deadlines(resolve_path(s, s.intake.deadlines)),
            calendar=WorkCalendar.load(s.general.tz, resolve_path(s, s.intake.calendar)),
            bot_id=self.transport.self_id, bot_name=self.transport.self_name,
            clock=self._clock,
        )
        self.sender = OutboxSender(self.engine, self.transport, s.sending)
        self.processor = InboundProcessor(self.engine, ctx, transport=self.transport.name,
                                          settings=s.processing, on_sendable=self.sender.wake)
        if isinstance(self.transport, SimTransport):
            await asyncio.to_thread(self._load_sim_world, self.transport)
        on_room = getattr(self.transport, "on_room", None)
        if on_room is not None:
            on_room(self._record_room)
        await self.transport.start(self.processor.receive)
        # A real account's id is known only after login.
        self.context = ctx = replace(ctx, bot_id=self.transport.self_id)
        self.processor.context = ctx
        await self.processor.start()
        await self.sender.start()
        if self._run_scheduler:
            self.scheduler = Scheduler(self.run_timers,
                                       interval_seconds=s.processing.timer_seconds)
            self.scheduler.start()

    async def run_timers(self) -> int:
        """One sweep of reminders, escalations and follow-ups, then wake the sender."""
        assert self.engine is not None and self.context is not None
        engine, ctx = self.engine, self.context

        def sweep() -> int:
            with db.session_scope(engine) as session:
                return run_timers(session, ctx)

        async with self._timers_lock:
            steps = await asyncio.to_thread(sweep)
        if steps and self.sender:
            self.sender.wake()
        return steps

    async def _record_room(self, room: RoomInfo) -> None:
        """A room the bot is in, joined, or saw renamed: recorded by id, its topic kept fresh."""
        assert self.engine is not None
        engine = self.engine

        def record() -> None:
            with db.session_scope(engine) as session:
                queries.record_room(session, room_id=room.id, topic=room.topic)

        await asyncio.to_thread(record)

    async def groups_changed(self) -> None:
        """Groups were registered or rebound (dashboard, import): the simulator offers every
        group in the database, so a new one can be tried at once. Real transports report
        their rooms themselves."""
        if isinstance(self.transport, SimTransport):
            await asyncio.to_thread(self._load_sim_world, self.transport)

    def _load_sim_world(self, sim: SimTransport) -> None:
        assert self.engine is not None
        with db.session_scope(self.engine) as session:
            sim.set_rooms([RoomInfo(id=v.group.room_id, topic=v.group.topic)
                           for v in queries.list_groups(session)])

    async def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        await self.transport.stop()
        if self.processor:
            await self.processor.stop()
        if self.sender:
            await self.sender.stop()
        if self.engine:
            self.engine.dispose()
