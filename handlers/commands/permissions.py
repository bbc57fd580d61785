"""Who may do what, apart from what matches (nonebot2's habit). Each permission is a small value
object that can say why it refused, in the words the person reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.texts import phrases
from storage.models import (
    AccountRole,
    Case,
    CaseSupporter,
    Community,
    Grid,
    Person,
    Role,
    StaffAccount,
)

Check = Callable[[Session, Person, Case | None], bool]


@dataclass(frozen=True)
class Reach:
    """The grids a staff person answers for in chat, as the dashboard limits their account:
    ``grid_ids`` None is the whole township; ``unset`` a staff person nobody gave a community."""

    grid_ids: frozenset[int] | None
    unset: bool = False

    def covers(self, grid_id: int | None) -> bool:
        return not self.unset and (self.grid_ids is None or grid_id in self.grid_ids)


NOWHERE = Reach(frozenset(), unset=True)


def staff_reach(session: Session, person: Person) -> Reach:
    """Where a staff person may act. In order: linked to a township admin account → everywhere;
    their community (``Person.community_id``); their street; a legacy row registered in a grid →
    that grid's community; linked to a community staff account → its community. Anyone else
    (a legacy row from before 0008_staff_community) is refused until an admin sets it, rather
    than guessing township-wide."""
    account = session.exec(select(StaffAccount).where(StaffAccount.person_id == person.id)
                           ).first() if person.id is not None else None
    if account is not None and account.role == AccountRole.TOWNSHIP_ADMIN:
        return Reach(None)
    community_id = person.community_id
    if community_id is None and person.street_id is not None:
        communities = select(Community.id).where(Community.street_id == person.street_id)
        ids = session.exec(select(Grid.id).where(col(Grid.community_id).in_(communities))).all()
        return Reach(frozenset(i for i in ids if i is not None))
    if community_id is None and person.grid_id is not None:
        grid = session.get(Grid, person.grid_id)
        community_id = grid.community_id if grid is not None else None
    if community_id is None and account is not None \
            and account.role == AccountRole.COMMUNITY_STAFF:
        community_id = account.community_id
    if community_id is None:
        return NOWHERE
    ids = session.exec(select(Grid.id).where(Grid.community_id == community_id)).all()
    return Reach(frozenset(i for i in ids if i is not None))


@dataclass(frozen=True)
class Permission:
    name: str  # also the key of its reason in templates/chat/refusals.j2
    check: Check

    @property
    def reason(self) -> str:
        """Shown when refused: 只有…可以…"""
        return refusal(self.name)

    def reason_for(self, session: Session, person: Person, case: Case | None) -> str:
        """Why ``person`` is refused: staff are told it is about their community (or that
        theirs is not set yet), everyone else the permission's own reason."""
        return (self.name in STAFF_SCOPED and staff_refusal(session, person, case)) \
            or self.reason

    def allows(self, session: Session, person: Person, case: Case | None) -> bool:
        return self.check(session, person, case)

    def __repr__(self) -> str:
        return f"Permission({self.name})"


def _is_staff(person: Person) -> bool:
    return person.role == Role.STAFF


def _staff_covers(session: Session, person: Person, case: Case | None) -> bool:
    """Staff act on the cases of their own community (their account's scope on the dashboard),
    and not at all while their community is unset."""
    reach = staff_reach(session, person)
    return not reach.unset and (case is None or reach.covers(case.grid_id))


def staff_refusal(session: Session, person: Person, case: Case | None) -> str | None:
    """The staff-specific reason for a refusal, or None when community is not the reason."""
    if not _is_staff(person):
        return None
    reach = staff_reach(session, person)
    if reach.unset:
        return refusal("staff_no_community")
    if case is not None and not reach.covers(case.grid_id):
        return refusal("staff_other_community")
    return None


def _grid_worker(session: Session, person: Person, case: Case | None) -> bool:
    if _is_staff(person):
        return _staff_covers(session, person, case)
    if person.role not in (Role.GRID_WORKER, Role.GRID_LEADER):
        return False
    return case is None or person.grid_id == case.grid_id


def _grid_leader(session: Session, person: Person, case: Case | None) -> bool:
    if _is_staff(person):
        return _staff_covers(session, person, case)
    return person.role == Role.GRID_LEADER and (case is None or person.grid_id == case.grid_id)


def _binder(session: Session, person: Person, case: Case | None) -> bool:
    if _is_staff(person):
        return _staff_covers(session, person, None)
    return person.role == Role.GRID_LEADER


def _reporter(session: Session, person: Person, case: Case | None) -> bool:
    if case is None:
        return True
    if person.id == case.reporter_id:
        return True
    return session.exec(select(CaseSupporter.id).where(CaseSupporter.case_id == case.id)
                        .where(CaseSupporter.person_id == person.id)).first() is not None


def _reporter_or_worker(session: Session, person: Person, case: Case | None) -> bool:
    return _reporter(session, person, case) or _grid_worker(session, person, case)


WORKER = Permission("worker", _grid_worker)
LEADER = Permission("leader", _grid_leader)
REPORTER = Permission("reporter", _reporter)
VIEWER = Permission("viewer", _reporter_or_worker)
PUBLISHER = Permission("publisher", lambda session, person, case: _is_staff(person) and
                       _staff_covers(session, person, None))
BINDER = Permission("binder", _binder)
ANYONE = Permission("anyone", lambda session, person, case: True)

#: the permissions staff have within their community only: a refusal says so
STAFF_SCOPED = frozenset({"worker", "leader", "viewer", "publisher", "binder"})

#: command name -> who may run it
RULES: dict[str, Permission] = {
    "accept": WORKER, "progress": WORKER, "dispatch": WORKER, "resolve": WORKER,
    "reject": WORKER, "merge": WORKER, "show": VIEWER, "todo": WORKER, "assign": LEADER,
    "query": VIEWER, "mine": ANYONE, "urge": REPORTER, "rate": ANYONE, "help": ANYONE,
    "recategorize": WORKER, "dismiss": WORKER, "bind": BINDER,
    "publish": PUBLISHER, "confirm_publish": PUBLISHER, "cancel_publish": PUBLISHER,
}


def refusal(key: str) -> str:
    """A reason for refusing, from templates/chat/refusals.j2."""
    return phrases("refusals")(key)


def commands_for(session: Session, person: Person) -> list[str]:
    """The commands this person may use at all, for 帮助."""
    return [name for name, perm in RULES.items() if perm.allows(session, person, None)]
