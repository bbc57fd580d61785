"""A notice broadcast to many groups: how fast the outbox drains, and whether pacing holds.

Builds a SQLite database in a temporary folder with the demo world plus N extra grids, each with
its residents' group, starts a gridbot runtime on the simulator transport (no web server), publishes
one notice to every group and times (1) queueing the deliveries and (2) sending them.

Run 1: ``min_interval_ms = 0`` over ``--groups`` groups (default 1,000): outbox throughput.
Run 2: ``min_interval_ms = 1000`` over ``--paced-groups`` groups (default 20; the full 1,000 take
about 17 minutes): the wall time should be (groups - 1) x 1 s. Not a test: figures only.

    .venv/bin/python bench/broadcast.py [--groups 1000] [--paced-groups 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import replace

from sqlmodel import func, select

from bot.cli import quiet_libraries
from bot.config import SendingSettings, Settings, StorageSettings
from bot.runtime import Runtime, prepare_database
from bot.transport.sim import SimTransport
from handlers.notices.publish import NoticeRequest, create_notice
from storage.db import session_scope
from storage.models import ChatGroup, Community, Grid, OutboxMessage, OutboxStatus


def build_world(url: str, groups: int) -> None:
    engine = prepare_database(Settings(storage=StorageSettings(url=url)))
    with session_scope(engine) as session:
        community = session.exec(select(Community)).first()
        assert community is not None and community.id is not None
        for i in range(groups - 3):  # the demo has three residents' groups already
            grid = Grid(community_id=community.id, name=f"压测网格{i}")
            session.add(grid)
            session.flush()
            session.add(ChatGroup(room_id=f"bench-{i}@chatroom", topic=f"压测{i}群",
                                  grid_id=grid.id))
    engine.dispose()


async def broadcast(groups: int, interval_ms: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        build_world(url, groups)
        settings = replace(Settings(storage=StorageSettings(url=url)),
                           sending=SendingSettings(min_interval_ms=interval_ms))
        sim = SimTransport()
        runtime = Runtime(settings, transport=sim, run_scheduler=False)
        await runtime.start()
        try:
            assert runtime.engine is not None and runtime.context is not None
            with session_scope(runtime.engine) as session:
                create_notice(session, runtime.context, NoticeRequest(
                    title="压测通知", body="{{ grid }}的居民朋友们：这是一条压测通知。",
                    targets={"all": True}), created_by="bench")
            t0 = time.perf_counter()
            report = await runtime.run_notices()
            queued = time.perf_counter() - t0
            t1 = time.perf_counter()
            while _pending(runtime):
                await asyncio.sleep(0.01)
            sending = time.perf_counter() - t1
            sent = sum(1 for room in await sim.rooms() for m in sim.history(room=room.id)
                       if m.from_bot)
            assert sent == report.deliveries == groups, (sent, report.deliveries, groups)
        finally:
            await runtime.stop()
    return queued, sending, sent


def _pending(runtime: Runtime) -> int:
    assert runtime.engine is not None
    with session_scope(runtime.engine) as session:
        return session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))).one()


async def main(groups: int, paced: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    quiet_libraries()
    queued, sending, sent = await broadcast(groups, 0)
    print(f"unpaced broadcast to {sent} groups: queued in {queued * 1000:.0f} ms, sent in "
          f"{sending:.2f} s = {sent / sending:.0f} sends/s")
    queued, sending, sent = await broadcast(paced, 1000)
    expected = (sent - 1) * 1.0
    print(f"paced broadcast (min_interval_ms=1000) to {sent} groups: wall time {sending:.2f} s, "
          f"pacing alone needs {expected:.2f} s ({sending / expected:.3f}x)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--paced-groups", type=int, default=20)
    args = ap.parse_args()
    asyncio.run(main(args.groups, args.paced_groups))
