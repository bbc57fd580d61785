"""Dashboard accounts: who they are, what they may see, and how they log in.

Every account acts as a Person, so a step taken in the browser is recorded, permitted and relayed
exactly like the same chat command. A grid worker's or leader's account must be linked to their
chat contact (the Person the bot already knows, or one registered here with that contact id):
otherwise the bot would hold two identities for one worker and send reminders to one it cannot
reach. Township and community staff may have a browser-only identity instead (contact id
``web:USERNAME``), since nothing is ever sent to them privately by contact.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed when those change). After
``MAX_FAILURES`` failed logins for one username within ``LOCKOUT_WINDOW`` the username is locked
until that window has passed; attempts made while locked are refused without being checked or
counted, so a lock ends on time even if someone keeps trying.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, func, select

from handlers.texts import WEB_TEMPLATES, phrases
from storage import queries
from storage.models import (
    WEB_CONTACT_PREFIX,
    AccountRole,
    Community,
    Grid,
    LoginAttempt,
    Person,
    Role,
    StaffAccount,
)

MAX_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 8

ROLE_NAMES = {
    AccountRole.TOWNSHIP_ADMIN: "街道（乡镇）管理员",
    AccountRole.COMMUNITY_STAFF: "社区工作人员",
    AccountRole.GRID_LEADER: "网格长",
    AccountRole.GRID_WORKER: "网格员",
}
#: the chat role the account's Person has, which the chat permissions read
PERSON_ROLES = {
    AccountRole.TOWNSHIP_ADMIN: Role.STAFF,
    AccountRole.COMMUNITY_STAFF: Role.STAFF,
    AccountRole.GRID_LEADER: Role.GRID_LEADER,
    AccountRole.GRID_WORKER: Role.GRID_WORKER,
}
GRID_ROLES = (AccountRole.GRID_LEADER, AccountRole.GRID_WORKER)

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name takes as long as a wrong
# password and the answer does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("gridbot-no-such-account")


class AccountError(Exception):
    """An account that cannot be created as asked; ``str()`` says why, for the operator, from
    the macro ``key`` of templates/web/account_messages.j2."""

    def __init__(self, key: str, /, **variables: Any) -> None:
        self.key = key
        self.variables = variables
        super().__init__(phrases("account_messages", WEB_TEMPLATES)(key, **variables))


# --- scope --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The grids an account sees (``None``: all of them, township admin), and the communities
    it manages (community staff: their own, including grids added to it later)."""

    grid_ids: frozenset[int] | None
    communities: frozenset[int] = frozenset()

    @property
    def everything(self) -> bool:
        return self.grid_ids is None

    def allows_grid(self, grid_id: int | None) -> bool:
        return self.grid_ids is None or grid_id in self.grid_ids

    def manages(self, community_id: int | None) -> bool:
        return self.grid_ids is None or community_id in self.communities

    def narrow(self, grid_ids: frozenset[int] | None) -> frozenset[int] | None:
        """The grids both this scope and a filter allow (``None``: no limit from either)."""
        if grid_ids is None:
            return self.grid_ids
        return grid_ids if self.grid_ids is None else grid_ids & self.grid_ids


EVERYTHING = Scope(None)


def account_scope(session: Session, account: StaffAccount) -> Scope:
    if account.role == AccountRole.TOWNSHIP_ADMIN:
        return EVERYTHING
    if account.role == AccountRole.COMMUNITY_STAFF:
        ids = session.exec(select(Grid.id).where(Grid.community_id == account.community_id)).all()
        return Scope(frozenset(i for i in ids if i is not None),
                     frozenset({account.community_id}) if account.community_id else frozenset())
    return Scope(frozenset({account.grid_id}) if account.grid_id else frozenset())


def community_ids(session: Session, scope: Scope) -> frozenset[int] | None:
    """The communities whose grids a scope reaches (``None``: all)."""
    if scope.grid_ids is None:
        return None
    ids = session.exec(select(Grid.community_id).where(col(Grid.id).in_(scope.grid_ids))).all()
    return frozenset(ids)


def may_manage(account: StaffAccount) -> bool:
    """Township admins and community staff manage grids, groups and people (within scope)."""
    return account.role in (AccountRole.TOWNSHIP_ADMIN, AccountRole.COMMUNITY_STAFF)


# --- creating -----------------------------------------------------------------------------------


def create_account(session: Session, *, username: str, password: str, role: str,
                   community: str | None = None, grid: str | None = None,
                   contact: str | None = None) -> StaffAccount:
    """An account, linked to its Person (see the module docstring for which one)."""
    username = username.strip()
    if not username:
        raise AccountError("no_username")
    if role not in set(AccountRole):
        raise AccountError("unknown_role", role=role, known=list(AccountRole))
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("short_password", minimum=MIN_PASSWORD_CHARS)
    if queries.get_account(session, username=username) is not None:
        raise AccountError("username_taken", username=username)
    community_row, grid_row = _place(session, role, community, grid)
    person = _person_for(session, username=username, role=AccountRole(role),
                         grid=grid_row, contact=contact,
                         community=community_row if role == AccountRole.COMMUNITY_STAFF
                         else None)
    assert person.id is not None
    if queries.account_for_person(session, person_id=person.id) is not None:
        raise AccountError("contact_has_account", contact=person.contact_id,
                           name=person.name)
    account = StaffAccount(
        username=username, password_hash=_hasher.hash(password), role=role,
        community_id=community_row.id if community_row else None,
        grid_id=grid_row.id if grid_row else None, person_id=person.id)
    session.add(account)
    session.flush()
    return account


def _place(session: Session, role: str, community: str | None,
           grid: str | None) -> tuple[Community | None, Grid | None]:
    if role == AccountRole.TOWNSHIP_ADMIN:
        if community or grid:
            raise AccountError("admin_no_place")
        return None, None
    if role == AccountRole.COMMUNITY_STAFF:
        if grid:
            raise AccountError("staff_no_grid")
        if not community:
            raise AccountError("staff_needs_community")
        row = queries.find_community(session, ref=community)
        if row is None:
            raise AccountError("unknown_community", ref=community)
        return row, None
    if not grid:
        raise AccountError("grid_role_needs_grid")
    grid_row = queries.find_grid(session, ref=grid)
    if grid_row is None:
        raise AccountError("unknown_grid", ref=grid)
    return session.get(Community, grid_row.community_id), grid_row


def _person_for(session: Session, *, username: str, role: AccountRole, grid: Grid | None,
                contact: str | None, community: Community | None = None) -> Person:
    """The account's Person. A community staff account's Person serves that community in chat
    too (``Person.community_id``): linking a contact registered for another community is
    refused, one registered without a community gets the account's."""
    wanted = PERSON_ROLES[role]
    if not contact:
        if role in GRID_ROLES:
            raise AccountError("grid_role_needs_contact")
        contact = WEB_CONTACT_PREFIX + username
    person = queries.get_person(session, contact_id=contact)
    if person is None:
        person = Person(contact_id=contact, name=username, role=wanted,
                        grid_id=grid.id if grid else None,
                        community_id=community.id if community else None)
        session.add(person)
        session.flush()
        return person
    if person.role != wanted or (grid is not None and person.grid_id != grid.id) or (
            community is not None and person.community_id not in (None, community.id)):
        raise AccountError("contact_role_mismatch", contact=contact, name=person.name)
    if community is not None:
        person.community_id = community.id
    return person


def set_password(session: Session, account: StaffAccount, password: str) -> None:
    """A new password; every session issued before it stops working."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("short_password", minimum=MIN_PASSWORD_CHARS)
    account.password_hash = _hasher.hash(password)
    account.session_epoch += 1


# --- logging in ---------------------------------------------------------------------------------


class LoginOutcome(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown name, wrong password or disabled: one answer
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    account: StaffAccount | None = None
    retry_after: timedelta | None = None  # while locked: how long until the next try counts


def authenticate(session: Session, *, username: str, password: str, now: datetime,
                 remote: str = "") -> LoginResult:
    username = username.strip()[:100]
    failures = _recent_failures(session, username=username, now=now)
    if len(failures) >= MAX_FAILURES:
        return LoginResult(LoginOutcome.LOCKED,
                           retry_after=failures[-MAX_FAILURES] + LOCKOUT_WINDOW - now)
    account = queries.get_account(session, username=username)
    ok = _verify(account.password_hash if account else _DUMMY_HASH, password)
    ok = ok and account is not None and account.disabled_at is None
    session.add(LoginAttempt(username=username, success=ok, remote=remote[:100], at=now))
    if not ok or account is None:
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return LoginResult(LoginOutcome.OK, account)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _recent_failures(session: Session, *, username: str, now: datetime) -> list[datetime]:
    """Failed attempts within the window and after the last success, oldest first."""
    last_ok = session.exec(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.username == username)
        .where(col(LoginAttempt.success).is_(True))
    ).one()
    since = now - LOCKOUT_WINDOW
    if last_ok is not None and last_ok > since:
        since = last_ok
    return list(session.exec(
        select(LoginAttempt.at).where(LoginAttempt.username == username)
        .where(col(LoginAttempt.success).is_(False)).where(col(LoginAttempt.at) > since)
        .order_by(col(LoginAttempt.at))
    ).all())


DEMO_ADMIN = "admin"


def demo_admin_password(session: Session) -> str:
    """For the demo world (`make run`): the township admin account ``admin``, created if need
    be, with a fresh random password for this run, to be shown once like the admin token."""
    import secrets

    password = secrets.token_urlsafe(9)
    account = queries.get_account(session, username=DEMO_ADMIN)
    if account is None:
        create_account(session, username=DEMO_ADMIN, password=password,
                       role=AccountRole.TOWNSHIP_ADMIN)
    else:
        set_password(session, account, password)
    return password
