"""Typed keys for what the app shares between routes."""

from aiohttp import web

from bot.config import Settings
from bot.runtime import Runtime
from bot.web.texts import Messages
from bot.web.viewer import CookieSession, SessionCodec, Viewer

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
MESSAGES = web.AppKey("messages", Messages)  # the web app's sentences (templates/web/messages.j2)
CODEC = web.AppKey("session_codec", SessionCodec)  # signs the dashboard's session cookie
ROLE = web.RequestKey("role", str)  # the role of the token that authenticated the request
SESSION = web.RequestKey("session", CookieSession)  # the dashboard cookie session, if any
VIEWER = web.RequestKey("viewer", Viewer)  # who is calling, by session or by token
