"""Run a piece of synchronous database work from a request, in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlmodel import Session

from bot.web.keys import RUNTIME
from storage.db import session_scope

T = TypeVar("T")


async def in_session(app: web.Application, fn: Callable[[Session], T]) -> T:
    engine = app[RUNTIME].engine
    assert engine is not None, "the runtime is not started"

    def run() -> T:
        with session_scope(engine) as session:
            return fn(session)

    return await asyncio.to_thread(run)
