"""Typed keys for what the app shares between routes."""

from aiohttp import web

from bot.config import Settings
from bot.runtime import Runtime

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
ROLE = web.RequestKey("role", str)  # the role of the token that authenticated the request
