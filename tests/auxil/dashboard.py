"""Dashboard accounts and logged-in HTTP sessions against a running gridbot, as a browser uses
the pages (cookies, the CSRF token from the form) but without one."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from yarl import URL

from handlers.accounts import create_account
from storage import queries
from storage.db import session_scope
from tests.conftest import Harness

PASSWORD = "correct horse 1"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

#: username -> (role, community, grid, contact): one of each, in the demo world
ACCOUNTS = {
    "admin": ("township_admin", None, None, None),
    "zhou": ("community_staff", "幸福里社区", None, "周主任"),
    "wu": ("community_staff", "和平苑社区", None, "吴主任"),
    "lina": ("grid_worker", None, "幸福里第一网格", "李娜"),
    "zhangqiang": ("grid_leader", None, "幸福里第一网格", "张强"),
}


def add_account(bot: Harness, username: str, password: str = PASSWORD) -> None:
    role, community, grid, contact = ACCOUNTS[username]
    with session_scope(bot.runtime.engine) as session:
        create_account(session, username=username, password=password, role=role,
                       community=community, grid=grid, contact=contact)


def with_accounts(bot: Harness, *usernames: str) -> Harness:
    """A started gridbot with dashboard accounts (``ACCOUNTS``) for the given people."""
    for username in usernames or ("admin", "zhou", "wu", "lina"):
        add_account(bot, username)
    return bot


def token_for(bot: Harness, username: str | None, scope: str = "read") -> str:
    with session_scope(bot.runtime.engine) as session:
        account = queries.get_account(session, username=username) if username else None
        return queries.create_token(session, role="staff", scope=scope,
                                    account_id=account.id if account else None)


def csrf_in(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match[1]


class WebUser:
    """One browser-like session (its own cookie jar) on the running app."""

    def __init__(self, bot: Harness) -> None:
        self.base = URL(str(bot.client.make_url("/")))
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    def url(self, path: str) -> URL:
        return self.base.join(URL(path))

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        resp = await self.http.get(self.url(path), allow_redirects=False, **kwargs)
        await resp.read()
        return resp

    async def page(self, path: str, status: int = 200) -> str:
        resp = await self.get(path)
        text = await resp.text()
        assert resp.status == status, f"{path}: {resp.status} {text[:500]}"
        if "csrf" in text:
            self.csrf = csrf_in(text)
        return text

    async def post(self, path: str, data: Any = None, *, csrf: bool = True,
                   **kwargs: Any) -> aiohttp.ClientResponse:
        if isinstance(data, dict) and csrf:
            data = {"csrf": self.csrf, **data}
        resp = await self.http.post(self.url(path), data=data, allow_redirects=False, **kwargs)
        await resp.read()
        return resp

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        await self.page("/login")
        resp = await self.post("/login", {"username": username, "password": password})
        if resp.status == 303:
            await self.page("/cases")  # the session's CSRF token, for the forms to come
        return resp

    async def json(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        resp = await self.get(path, **kwargs)
        assert resp.status == status, f"{path}: {resp.status} {await resp.text()}"
        return await resp.json()


class Browsers:
    """Opens WebUsers for a test and closes them all at its end."""

    def __init__(self, bot: Harness) -> None:
        self.bot = bot
        self.open: list[WebUser] = []

    def new(self) -> WebUser:
        user = WebUser(self.bot)
        self.open.append(user)
        return user

    async def logged_in(self, username: str) -> WebUser:
        user = self.new()
        resp = await user.login(username)
        assert resp.status == 303, await resp.text()
        return user

    async def close(self) -> None:
        for user in self.open:
            await user.close()
