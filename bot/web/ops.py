"""Operations endpoints, outside /api/ and its tokens, for load balancers, orchestrators and
Prometheus: /healthz (the process answers), /readyz (it can do its work: database reachable and
migrated, transport connected, runtime started), /metrics (Prometheus text format)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.web.keys import RUNTIME
from bot.web.middleware import json_response
from storage import db

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, Any] = {"started": runtime.started,
                              "transport": runtime.transport.is_connected}
    engine = runtime.engine
    if engine is None:
        checks["database"] = False
    else:
        def probe() -> tuple[bool, bool]:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True, db.current_revision(engine) == db.head_revision()

        try:
            checks["database"], checks["schema"] = await asyncio.to_thread(probe)
        except Exception as exc:  # the database is down: not ready, say why
            checks["database"], checks["error"] = False, type(exc).__name__
    checks["scheduler_leader"] = runtime.is_leader()
    ready = all(checks.get(k) for k in ("started", "transport", "database", "schema"))
    return json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await asyncio.to_thread(generate_latest, runtime.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
