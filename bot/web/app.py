"""The aiohttp app factory: one function builds the whole process, nothing runs at import."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.config import Settings
from bot.runtime import Runtime
from bot.web import api, notices, open311, openapi, ops, sim
from bot.web.dashboard import admin, auth, cases, exports, failures, figures, ledger
from bot.web.dashboard import notices as notices_page
from bot.web.dashboard.common import install_filters
from bot.web.keys import MESSAGES, RUNTIME, SETTINGS
from bot.web.middleware import auth_middleware, error_middleware
from bot.web.texts import WEB_TEMPLATES, Messages
from handlers.intake.classifier import Classifier

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOAD_LIMIT = 5 * 1024 * 1024  # an Excel roster of a whole township fits comfortably


def create_app(settings: Settings, *, classifier: Classifier | None = None,
               runtime: Runtime | None = None) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, auth.session_middleware, auth_middleware],
        client_max_size=UPLOAD_LIMIT)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime or Runtime(settings, classifier=classifier)
    app[MESSAGES] = Messages()
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB_TEMPLATES),
                               autoescape=True)
    install_filters(env, settings.general.tz)
    app.cleanup_ctx.append(_runtime_ctx)
    app.cleanup_ctx.append(auth.codec_ctx)
    # The dashboard's API routes first: /api/cases/export.xlsx must win over /api/cases/{no}.
    for module in (auth, exports, ledger, cases, figures, admin, failures):
        app.add_routes(module.api_routes)
    app.add_routes(api.routes)
    app.add_routes(openapi.routes)
    for module in (auth, ledger, cases, figures, notices_page, admin, failures):
        app.add_routes(module.routes)
    app.add_routes(open311.routes)
    app.add_routes(notices.routes)
    app.add_routes(ops.routes)
    if settings.transport.kind == "sim":
        app.add_routes(sim.routes)
    app.router.add_static("/static", STATIC_DIR)
    return app


_frozen = False


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    await runtime.start()
    # What is alive once started (modules, templates, settings: hundreds of thousands of
    # objects that live as long as the process) leaves the garbage collector's view, so its
    # full collections stop walking it: building a city's figures (5,000 grids' dicts) set
    # off several, about half of /api/stats's Python time. Garbage made later is collected
    # as before. Once per process (a process serves one app; tests start many), after a
    # collection, so that no garbage is frozen with the living.
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True
    yield
    await runtime.stop()
