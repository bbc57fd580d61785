"""Who may do what, apart from what matches (nonebot2's habit). Each permission is a small value
object that can say why it refused, in the words the person reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, select

from handlers.texts import phrases
from storage.models import Case, CaseSupporter, Person, Role

Check = Callable[[Session, Person, Case | None], bool]


@dataclass(frozen=True)
class Permission:
    name: str  # also the key of its reason in templates/chat/refusals.j2
    check: Check

    @property
    def reason(self) -> str:
        """Shown when refused: 只有…可以…"""
        return refusal(self.name)

    def allows(self, session: Session, person: Person, case: Case | None) -> bool:
        return self.check(session, person, case)

    def __repr__(self) -> str:
        return f"Permission({self.name})"


def _is_staff(person: Person) -> bool:
    return person.role == Role.STAFF


def _grid_worker(session: Session, person: Person, case: Case | None) -> bool:
    if _is_staff(person):
        return True
    if person.role not in (Role.GRID_WORKER, Role.GRID_LEADER):
        return False
    return case is None or person.grid_id == case.grid_id


def _grid_leader(session: Session, person: Person, case: Case | None) -> bool:
    if _is_staff(person):
        return True
    return person.role == Role.GRID_LEADER and (case is None or person.grid_id == case.grid_id)


def _binder(session: Session, person: Person, case: Case | None) -> bool:
    return person.role in (Role.STAFF, Role.GRID_LEADER)


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
PUBLISHER = Permission("publisher", lambda session, person, case: _is_staff(person))
BINDER = Permission("binder", _binder)
ANYONE = Permission("anyone", lambda session, person, case: True)

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
