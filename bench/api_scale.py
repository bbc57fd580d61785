"""The ledger and figures APIs over a city's year: ``GET /api/cases`` with its filters,
``GET /api/cases/counts`` and ``GET /api/stats`` over ``--cases`` (default 1,000,000) cases.

Loads the world with bulk inserts (COPY on PostgreSQL; see bench/world.py), starts the real web
app with its runtime on a free port, and times each request through HTTP with an admin token
(best and worst of ``--repeat`` after one warm-up). Target (issue 9): each answer in ≤ 200 ms.
Figures only, nothing asserted.

    .venv/bin/python bench/api_scale.py [--cases 1000000] [--db postgres,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import world

from bot.cli import quiet_libraries
from bot.config import Settings, StorageSettings, WebSettings
from bot.runtime import Runtime
from bot.transport.sim import SimTransport
from bot.web.app import create_app
from storage import queries
from storage.db import make_engine, session_scope


def requests(today: datetime) -> list[tuple[str, dict[str, str]]]:
    week_ago = (today - timedelta(days=6)).date().isoformat()
    month_ago = (today - timedelta(days=29)).date().isoformat()
    return [
        ("/api/cases", {}),
        ("/api/cases", {"status": "open"}),
        ("/api/cases", {"grid": "网格17"}),
        ("/api/cases", {"community": "社区3"}),
        ("/api/cases", {"category": "repair", "urgent": "true"}),
        ("/api/cases", {"overdue": "true"}),
        ("/api/cases", {"from": week_ago, "to": today.date().isoformat()}),
        ("/api/cases", {"status": "closed", "sort": "created", "order": "asc"}),
        ("/api/cases", {"offset": "50000"}),
        ("/api/cases", {"q": "17号楼"}),
        ("/api/cases/counts", {}),
        ("/api/cases/counts", {"grid": "网格17"}),
        ("/api/stats", {}),
        ("/api/stats", {"from": month_ago}),
        ("/api/stats", {"from": month_ago, "community": "社区3"}),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(url: str, repeat: int) -> None:
    port = free_port()
    settings = replace(Settings(storage=StorageSettings(url=url)),
                       web=WebSettings(port=port))
    runtime = Runtime(settings, transport=SimTransport(), run_scheduler=False)
    app = create_app(settings, runtime=runtime)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    engine = make_engine(url)
    with session_scope(engine) as session:
        token = queries.create_token(session, role="admin", label="bench")
    engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            for path, params in requests(datetime.now(UTC)):
                times = []
                for _ in range(repeat + 1):
                    t0 = time.perf_counter()
                    async with http.get(path, params=params) as resp:
                        body = await resp.read()
                        assert resp.status == 200, (path, params, resp.status, body[:300])
                    times.append((time.perf_counter() - t0) * 1000)
                times = times[1:]  # the first one warmed caches
                query = "&".join(f"{k}={v}" for k, v in params.items())
                print(f"    {path}{'?' + query if query else '':45s} best {min(times):7.1f} ms  "
                      f"worst {max(times):7.1f} ms  ({len(body) / 1024:.0f} KB)")
                sys.stdout.flush()
    finally:
        await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=5000)
    ap.add_argument("--residents", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", default="postgres,sqlite")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    quiet_libraries()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db.split(","):
            with world.fresh_database(kind, tmp, name="api") as url:
                t0 = time.perf_counter()
                counts = world.build(url, groups=args.groups, residents=args.residents,
                                     cases=args.cases)
                print(f"[{kind}] world loaded in {time.perf_counter() - t0:.0f} s: {counts}")
                sys.stdout.flush()
                asyncio.run(measure(url, args.repeat))


if __name__ == "__main__":
    main()
