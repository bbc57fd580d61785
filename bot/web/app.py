"""The aiohttp app factory: one function builds the whole process, nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

import templates
from bot.config import Settings
from bot.runtime import Runtime
from bot.web import api, notices, ops, sim
from bot.web.keys import RUNTIME, SETTINGS
from bot.web.middleware import auth_middleware, error_middleware
from handlers.intake.classifier import Classifier

STATIC_DIR = Path(__file__).resolve().parent / "static"
WEB_TEMPLATES = Path(templates.__file__).resolve().parent / "web"


def create_app(settings: Settings, *, classifier: Classifier | None = None,
               runtime: Runtime | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware, auth_middleware],
                          client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime or Runtime(settings, classifier=classifier)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB_TEMPLATES), autoescape=True)
    app.cleanup_ctx.append(_runtime_ctx)
    app.add_routes(api.routes)
    app.add_routes(notices.routes)
    app.add_routes(ops.routes)
    if settings.transport.kind == "sim":
        app.add_routes(sim.routes)
    app.router.add_static("/static", STATIC_DIR)
    return app


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    await runtime.start()
    yield
    await runtime.stop()
