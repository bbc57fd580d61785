"""Who is calling the web app, and the signed cookie that remembers a dashboard login.

The session lives entirely in the cookie, signed with HMAC-SHA256 under the app's secret: the
server keeps no session table, a tampered cookie fails the signature, and a password change
(``session_epoch``) or the session's age ends it. The cookie also carries the CSRF token that
every form and every cookie-authenticated JSON write must echo back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from handlers.accounts import EVERYTHING, ROLE_NAMES, Scope, account_scope, may_manage
from storage import queries
from storage.models import AccountRole, Person, StaffAccount, TokenScope


@dataclass(frozen=True)
class CookieSession:
    """What the cookie holds. ``account_id`` None is an anonymous visitor (the login form still
    needs a CSRF token)."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    account_id: int | None = None
    epoch: int = 0
    issued: float = 0.0  # unix seconds, on the domain clock
    flash: str = ""  # a notice for the next page after a redirect (signed, so not spoofable)
    changed: bool = True  # to be written back in the response

    def login(self, account: StaffAccount, now: datetime) -> CookieSession:
        """A new session for a fresh login: a new CSRF token too, so one fixed before the
        login (session fixation) is worthless after it."""
        assert account.id is not None
        return CookieSession(account_id=account.id, epoch=account.session_epoch,
                             issued=now.timestamp())

    def logout(self) -> CookieSession:
        return CookieSession()

    def with_flash(self, text: str) -> CookieSession:
        return replace(self, flash=text[:500], changed=True)

    def take_flash(self) -> tuple[str, CookieSession]:
        return self.flash, replace(self, flash="", changed=True) if self.flash else self


class SessionCodec:
    """Encodes and verifies the session cookie: ``base64(json).base64(hmac)``."""

    COOKIE = "gridbot_session"

    def __init__(self, secret: str, max_age: timedelta) -> None:
        self._key = hashlib.sha256(b"gridbot-session:" + secret.encode()).digest()
        self.max_age = max_age

    def encode(self, s: CookieSession) -> str:
        body = json.dumps({"c": s.csrf, "a": s.account_id, "e": s.epoch, "t": s.issued,
                           "f": s.flash}, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def decode(self, value: str, now: datetime) -> CookieSession | None:
        """The session in a cookie, or None when it is forged, malformed or too old."""
        head, _, sig = value.partition(".")
        try:
            body = _unb64(head)
            if not hmac.compare_digest(_unb64(sig), self._sign(body)):
                return None
            raw = json.loads(body)
            s = CookieSession(csrf=str(raw["c"]), account_id=raw["a"], epoch=int(raw["e"]),
                              issued=float(raw["t"]), flash=str(raw.get("f", "")),
                              changed=False)
        except (ValueError, KeyError, TypeError):
            return None
        if s.account_id is not None and not isinstance(s.account_id, int):
            return None
        if s.account_id is not None and now.timestamp() - s.issued > self.max_age.total_seconds():
            return None
        return s

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Viewer:
    """Whoever calls, by dashboard login or by API token: what they see and whether they may
    act. A token without an account reads the whole township and cannot act (nobody to record
    as the actor)."""

    scope: Scope
    can_write: bool
    via: str  # "session" or "token"
    account: StaffAccount | None = None
    person: Person | None = None

    @property
    def name(self) -> str:
        return self.person.name if self.person else ""

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(AccountRole(self.account.role), "") if self.account else ""

    @property
    def may_manage(self) -> bool:
        return self.account is not None and may_manage(self.account)

    @property
    def is_admin(self) -> bool:
        return self.account is not None and self.account.role == AccountRole.TOWNSHIP_ADMIN


# --- building a viewer from a cookie or a token -------------------------------------------------


def session_viewer(session: Session, cookie: CookieSession) -> Viewer | None:
    """The logged-in account behind a cookie; None if it was disabled, deleted, or its password
    changed since the cookie was issued."""
    if cookie.account_id is None:
        return None
    account = session.get(StaffAccount, cookie.account_id)
    if account is None or account.disabled_at is not None \
            or account.session_epoch != cookie.epoch:
        return None
    return _account_viewer(session, account, can_write=True, via="session")


def token_viewer(session: Session, token: str) -> tuple[str, Viewer] | None:
    """The role and viewer of a live API token (see ``Viewer`` for tokens without an account)."""
    row = queries.token_row(session, token=token)
    if row is None:
        return None
    if row.account_id is None:
        return row.role, Viewer(scope=EVERYTHING, can_write=False, via="token")
    account = session.get(StaffAccount, row.account_id)
    if account is None or account.disabled_at is not None:
        return None
    return row.role, _account_viewer(session, account, via="token",
                                     can_write=row.scope == TokenScope.WRITE)


def _account_viewer(session: Session, account: StaffAccount, *, can_write: bool,
                    via: str) -> Viewer:
    return Viewer(scope=account_scope(session, account), can_write=can_write, via=via,
                  account=account, person=session.get(Person, account.person_id))
