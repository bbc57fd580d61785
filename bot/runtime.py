"""One gridbot process: storage, the intake context, a transport, the inbound worker, the sender.

Built and torn down by the web app's cleanup context, so nothing happens at import time and
tests can run several isolated instances side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.config import WEEKDAYS, DigestsSettings, Settings, parse_clock, resolve_path
from bot.inbound import InboundProcessor
from bot.leader import Leadership, holder_name
from bot.metrics import Metrics
from bot.scheduler import Scheduler
from bot.sender import OutboxSender
from bot.transport.base import BaseTransport, RoomInfo
from bot.transport.sim import SimTransport
from handlers.cases.timers import run_timers
from handlers.context import Context, system_clock
from handlers.deadlines import load_deadlines
from handlers.digests import DigestTimes, run_due_digests
from handlers.intake.classifier import Classifier
from handlers.intake.rules import load_rules
from handlers.notices.publish import SweepReport, run_due_notices
from handlers.notices.receipts import ReceiptRules
from handlers.texts import Texts
from handlers.worktime import WorkCalendar
from storage import db, queries
from storage.demo_seed import seed_demo
from storage.models import InboundMessage

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


def digest_times(d: DigestsSettings) -> DigestTimes:
    def at(value: str) -> time | None:
        hm = parse_clock(value) if value else None
        return time(*hm) if hm else None

    return DigestTimes(daily=at(d.daily_at), weekly_day=WEEKDAYS.index(d.weekly_day),
                       weekly=at(d.weekly_at), resident_summary=at(d.resident_summary_at))


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
        self._notices_lock = asyncio.Lock()
        self._digests_lock = asyncio.Lock()
        self.transport: BaseTransport = transport or make_transport(settings)
        self.engine: Engine | None = None
        self.processor: InboundProcessor | None = None
        self.sender: OutboxSender | None = None
        self.leadership: Leadership | None = None
        self.account = settings.instance.account or None
        self.metrics = Metrics()
        self.started = False

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
            receipts=ReceiptRules.load(window=timedelta(hours=s.notices.receipt_hours)),
            account=self.account, messages_per_minute=s.limits.messages_per_minute,
        )
        self.sender = OutboxSender(self.engine, self.transport, s.sending, tz=s.general.tz,
                                   account=self.account, metrics=self.metrics)
        self.processor = InboundProcessor(self.engine, ctx, transport=self.transport.name,
                                          settings=s.processing, on_sendable=self.sender.wake,
                                          account=self.account,
                                          max_text=s.limits.max_message_chars,
                                          metrics=self.metrics)
        self.metrics.bind(depths=self._queue_depths, leader=self.is_leader,
                          transport_up=lambda: self.transport.is_connected)
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
            self.leadership = Leadership(self.engine, holder=holder_name(s.instance.account),
                                         ttl=s.instance.lease_seconds)
            await self.leadership.start()
            self.scheduler = Scheduler()
            every = s.processing.timer_seconds
            self.scheduler.every("case-timers", every, self._if_leader(self.run_timers))
            self.scheduler.every("notices", every, self._if_leader(self.run_notices))
            self.scheduler.every("digests", every, self._if_leader(self.run_digests))
            self.scheduler.start()
        self.started = True

    def is_leader(self) -> bool:
        return self.leadership is not None and self.leadership.is_leader

    def _queue_depths(self) -> tuple[int, int, int]:
        assert self.engine is not None
        with db.session_scope(self.engine) as session:
            return queries.queue_depths(session)

    def _if_leader(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Of several processes on one database, only the lease holder runs the sweeps."""
        async def run() -> None:
            if self.leadership is not None and self.leadership.is_leader:
                await job()

        return run

    def wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()

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

    async def run_notices(self) -> SweepReport:
        """Queue every notice occurrence that is due, then set a wake-up for the next one."""
        assert self.engine is not None and self.context is not None
        engine, ctx = self.engine, self.context
        grace = timedelta(minutes=self.settings.notices.grace_minutes)

        def sweep() -> tuple[SweepReport, datetime | None]:
            with db.session_scope(engine) as session:
                report = run_due_notices(session, ctx, grace=grace)
            with db.session_scope(engine) as session:
                return report, queries.next_notice_due(session)

        async with self._notices_lock:
            report, next_due = await asyncio.to_thread(sweep)
        if report.deliveries or report.missed:
            log.info("notices: %d occurrences queued (%d group messages), %d missed, %d failed",
                     report.sent, report.deliveries, report.missed, report.failed)
            self.wake_sender()
        if self.scheduler is not None and next_due is not None:
            self.scheduler.at("notice-next", next_due, self._if_leader(self.run_notices))
        return report

    async def run_digests(self) -> int:
        """Queue the daily, weekly and summary digests whose time has come (once each)."""
        assert self.engine is not None and self.context is not None
        engine, ctx, times = self.engine, self.context, digest_times(self.settings.digests)

        def sweep() -> int:
            with db.session_scope(engine) as session:
                return run_due_digests(session, ctx, times)

        async with self._digests_lock:
            queued = await asyncio.to_thread(sweep)
        if queued:
            log.info("digests: %d messages queued", queued)
            self.wake_sender()
        return queued

    async def _record_room(self, room: RoomInfo) -> None:
        """A room the bot is in, joined, or saw renamed: recorded by id, its topic kept fresh."""
        assert self.engine is not None
        engine = self.engine

        def record() -> None:
            with db.session_scope(engine) as session:
                queries.record_room(session, room_id=room.id, topic=room.topic,
                                    account=self.account)

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
                           for v in queries.list_groups(session)
                           if v.group.account in (None, self.account)])
            sim.continue_after(session.exec(
                select(InboundMessage.message_id)
                .where(InboundMessage.transport == sim.name,
                       InboundMessage.account == (self.account or ""),
                       col(InboundMessage.message_id).startswith("s"))
                # s<n>: the longest id, then the greatest, is the highest number
                .order_by(sa.func.length(InboundMessage.message_id).desc(),
                          col(InboundMessage.message_id).desc()).limit(1)).first())

    async def stop(self) -> None:
        """Graceful: take no new messages, finish the one in hand, send the message being sent,
        hand the scheduler lease over. What is left waits in the database for the next start."""
        self.started = False
        if self.scheduler:
            self.scheduler.stop()
            self.scheduler = None
        await self.transport.stop()
        if self.processor:
            await self.processor.stop()
        if self.sender:
            await self.sender.stop()
        if self.leadership:
            await self.leadership.stop()
        if self.engine:
            self.engine.dispose()
