"""The roster: the street → community → grid hierarchy, chat groups bound to grids, and the
workers, leaders and staff matched to their chat contacts — edited one by one or imported from
a sheet (.xlsx or .csv) with a report per row.

Every function takes the editor's ``Scope``: community staff change only their own community.
Errors are ``RosterError``: a key and its variables, whose sentence (templates/web/
roster_messages.j2) is what ``str()`` shows.

**The sheet.** One header row, then one row per grid, group or person; blank cells are fine.
Columns (Chinese headers; the English in brackets is accepted too):

| 街道 (street) | 社区 (community) | 网格 (grid) | 群ID (room_id) | 群名称 (topic) |
| 姓名 (name) | 微信ID (contact_id) | 角色 (role: 网格员 / 网格长 / 社区工作人员) |

A row creates the street, community and grid it names if they are new, binds the group (by its
room id) to the grid, and registers the person in the grid. A row with an error changes nothing
and says why; the other rows are imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from handlers.accounts import Scope
from handlers.texts import WEB_TEMPLATES, phrases
from storage import queries
from storage.models import ChatGroup, Community, Grid, GroupKind, Person, Role, Street

ROLE_WORDS = {
    "网格员": Role.GRID_WORKER, "网格长": Role.GRID_LEADER, "社区工作人员": Role.STAFF,
    "工作人员": Role.STAFF, "grid_worker": Role.GRID_WORKER, "grid_leader": Role.GRID_LEADER,
    "staff": Role.STAFF,
}
ROLE_NAMES = {Role.GRID_WORKER: "网格员", Role.GRID_LEADER: "网格长", Role.STAFF: "社区工作人员",
              Role.RESIDENT: "居民"}
COLUMNS = {
    "street": ("街道", "乡镇", "街道/乡镇", "street"),
    "community": ("社区", "村", "社区/村", "community"),
    "grid": ("网格", "grid"),
    "room_id": ("群ID", "群id", "群号", "room_id", "room"),
    "topic": ("群名称", "群名", "topic"),
    "name": ("姓名", "name"),
    "contact_id": ("微信ID", "微信id", "微信号", "联系人ID", "contact_id", "contact"),
    "role": ("角色", "身份", "role"),
}
MAX_ROWS = 5000
MAX_NAME = 100


class RosterError(Exception):
    """Something the roster cannot do as asked; ``str()`` says why, for the person, from the
    macro ``key`` of templates/web/roster_messages.j2."""

    def __init__(self, key: str, /, **variables: Any) -> None:
        self.key = key
        self.variables = variables
        super().__init__(roster_text(key, **variables))


def roster_text(key: str, /, **variables: Any) -> str:
    return phrases("roster_messages", WEB_TEMPLATES)(key, **variables)


class RosterForbidden(RosterError):
    """Asked of someone it is not theirs to change: outside the editor's scope (403 on the
    page, where a ``RosterError`` is the form's 400)."""


# --- one at a time ------------------------------------------------------------------------------


def add_street(session: Session, scope: Scope, name: str) -> Street:
    name = _name(name, "street")
    if not scope.everything:
        raise RosterForbidden("street_admin_only")
    if session.exec(select(Street).where(Street.name == name)).first():
        raise RosterError("street_exists", name=name)
    street = Street(name=name)
    session.add(street)
    session.flush()
    return street


def add_community(session: Session, scope: Scope, street_id: int, name: str) -> Community:
    name = _name(name, "community")
    if not scope.everything:
        raise RosterForbidden("community_admin_only")
    if session.get(Street, street_id) is None:
        raise RosterError("choose_street")
    if session.exec(select(Community).where(Community.street_id == street_id)
                    .where(Community.name == name)).first():
        raise RosterError("community_exists", name=name)
    community = Community(street_id=street_id, name=name)
    session.add(community)
    session.flush()
    return community


def add_grid(session: Session, scope: Scope, community_id: int, name: str) -> Grid:
    name = _name(name, "grid")
    community = session.get(Community, community_id)
    if community is None:
        raise RosterError("choose_community")
    _check_community(session, scope, community)
    if queries.find_grid(session, ref=name) is not None or name.isdigit():
        raise RosterError("grid_exists", name=name)
    grid = Grid(community_id=community_id, name=name)
    session.add(grid)
    session.flush()
    return grid


def bind_group(session: Session, scope: Scope, *, room_id: str, topic: str = "",
               grid_id: int | None = None, community_id: int | None = None) -> ChatGroup:
    """A residents' group bound to a grid, a community's staff working group (where overdue
    cases escalate), or neither (unbound). Groups are known by room id, never by topic."""
    room_id = room_id.strip()
    if not room_id:
        raise RosterError("no_room_id")
    if grid_id is not None and community_id is not None:
        raise RosterError("one_binding")
    group = queries.get_group(session, room_id=room_id)
    if group is not None:
        _check_group(session, scope, group)
    if grid_id is not None and not _grid_ok(session, scope, grid_id):
        raise RosterForbidden("grid_out_of_reach")
    if community_id is not None:
        community = session.get(Community, community_id)
        if community is None:
            raise RosterError("no_community")
        _check_community(session, scope, community)
    group = queries.record_room(session, room_id=room_id[:200], topic=topic.strip()[:200])
    group.grid_id = grid_id
    group.community_id = community_id
    group.kind = GroupKind.STAFF if community_id is not None else GroupKind.RESIDENT
    session.flush()
    return group


def register_person(session: Session, scope: Scope, *, contact_id: str, name: str, role: str,
                    grid_id: int | None) -> Person:
    """A worker, leader or staff member, matched to their chat contact: the person the bot
    already knows by that contact id gets the role (a resident becomes a worker), or a new
    one is recorded for a contact who has not written yet."""
    contact_id = contact_id.strip()
    if not contact_id:
        raise RosterError("no_contact")
    name = _name(name, "name")
    if role not in (Role.GRID_WORKER, Role.GRID_LEADER, Role.STAFF):
        raise RosterError("bad_role")
    if role == Role.STAFF:
        if not scope.everything and grid_id is None:
            raise RosterError("staff_needs_grid")
    elif grid_id is None:
        raise RosterError("worker_needs_grid")
    if grid_id is not None and not _grid_ok(session, scope, grid_id):
        raise RosterForbidden("grid_out_of_reach")
    person = queries.get_person(session, contact_id=contact_id)
    if person is not None and person.role != Role.RESIDENT and person.grid_id is not None \
            and not _grid_ok(session, scope, person.grid_id):
        raise RosterForbidden("person_out_of_reach", name=person.name)
    street_id = None
    if role == Role.STAFF and grid_id is None:
        # registered by the township admin without a grid: the street's own staff
        streets = queries.list_streets(session)
        if len(streets) != 1:
            raise RosterError("staff_needs_grid")
        street_id = streets[0].id
    if person is None:
        person = Person(contact_id=contact_id, name=name)
        session.add(person)
    person.name, person.role = name, role
    person.grid_id = grid_id if role != Role.STAFF or grid_id else None
    grid = session.get(Grid, grid_id) if role == Role.STAFF and grid_id is not None else None
    # staff answer for their grid's community (or the street): what chat lets them touch
    person.community_id = grid.community_id if grid is not None else None
    person.street_id = street_id
    session.flush()
    return person


def _check_community(session: Session, scope: Scope, community: Community) -> None:
    if not scope.manages(community.id):
        raise RosterForbidden("community_out_of_reach", community=community.name)


def _grid_ok(session: Session, scope: Scope, grid_id: int | None) -> bool:
    """A grid the editor may change: in their scope, or added to their community since."""
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    return grid is not None and (scope.allows_grid(grid.id) or scope.manages(grid.community_id))


def _check_group(session: Session, scope: Scope, group: ChatGroup) -> None:
    if scope.everything or (group.grid_id is None and group.community_id is None):
        return
    if group.grid_id is not None and _grid_ok(session, scope, group.grid_id):
        return
    if group.community_id is not None:
        community = session.get(Community, group.community_id)
        if community is not None:
            _check_community(session, scope, community)
            return
    raise RosterForbidden("group_out_of_reach", group=group.topic or group.room_id)


def _name(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise RosterError("missing", field=field)
    if len(value) > MAX_NAME:
        raise RosterError("too_long", field=field, limit=MAX_NAME)
    return value


# --- a sheet ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    line: int  # the row number as the spreadsheet shows it
    ok: bool
    message: str


def read_sheet(filename: str, data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The rows of an .xlsx or .csv file with their row numbers as the spreadsheet shows them
    (blank rows skipped, not renumbered), keyed by the column names above."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        table = _xlsx_rows(data)
    elif lower.endswith(".csv"):
        table = _csv_rows(data)
    else:
        raise RosterError("sheet_type")
    table = [(n, r) for n, r in enumerate(table, start=1)
             if any(str(v).strip() for v in r if v is not None)]
    if not table:
        raise RosterError("sheet_empty")
    header = [_column(h) for h in table[0][1]]
    if "grid" not in header:
        raise RosterError("sheet_header", required=COLUMNS["grid"][0],
                          optional=[names[0] for key, names in COLUMNS.items() if key != "grid"])
    return [(line, {key: str(v).strip() for key, v in zip(header, values, strict=False)
                     if key and v is not None})
            for line, values in table[1:MAX_ROWS + 1]]


def _xlsx_rows(data: bytes) -> list[list[object]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError):
        raise RosterError("xlsx_unreadable") from None
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def _csv_rows(data: bytes) -> list[list[object]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterError("csv_encoding")
    return [list(r) for r in csv.reader(io.StringIO(text))]


def _column(header: object) -> str | None:
    text = str(header or "").strip()
    return next((key for key, names in COLUMNS.items() if text in names), None)


def import_rows(session: Session, scope: Scope, rows: Iterable[tuple[int, dict[str, str]]]
                ) -> list[RowResult]:
    """Each row in its own savepoint: a bad row changes nothing, the others go in."""
    results = []
    for line, row in rows:
        try:
            with session.begin_nested():
                message = _import_row(session, scope, row)
            results.append(RowResult(line, True, message))
        except RosterError as exc:
            results.append(RowResult(line, False, str(exc)))
    return results


def _import_row(session: Session, scope: Scope, row: dict[str, str]) -> str:
    grid_name = row.get("grid", "")
    if not grid_name:
        raise RosterError("row_no_grid")
    grid = queries.find_grid(session, ref=grid_name)
    new_grid = grid is None
    if grid is None:
        community = _community_for(session, scope, row)
        grid = add_grid(session, scope, community.id or 0, grid_name)
    else:
        if not _grid_ok(session, scope, grid.id):
            raise RosterError("grid_not_yours", grid=grid_name)
        named = row.get("community")
        community = session.get(Community, grid.community_id)
        if named and community is not None and community.name != named:
            raise RosterError("grid_elsewhere", grid=grid_name, community=community.name,
                              named=named)
    if room_id := row.get("room_id"):
        bind_group(session, scope, room_id=room_id, topic=row.get("topic", ""), grid_id=grid.id)
    person = None
    if row.get("name") or row.get("contact_id") or row.get("role"):
        role = ROLE_WORDS.get(row.get("role", ""))
        if role is None:
            raise RosterError("unknown_role", role=row.get("role", ""))
        person = register_person(session, scope, contact_id=row.get("contact_id", ""),
                                 name=row.get("name", ""), role=role, grid_id=grid.id)
    return roster_text("row_imported", grid=grid.name, new_grid=new_grid, room=room_id,
                       role=ROLE_NAMES[Role(person.role)] if person else "",
                       person=person.name if person else "")


def _community_for(session: Session, scope: Scope, row: dict[str, str]) -> Community:
    name = row.get("community", "")
    if not name:
        raise RosterError("new_grid_needs_community")
    streets = queries.list_streets(session)
    street_name = row.get("street", "")
    if street_name:
        street = next((s for s in streets if s.name == street_name), None)
        if street is None:
            street = add_street(session, scope, street_name)
    elif len(streets) == 1:
        street = streets[0]
    else:
        raise RosterError("new_community_needs_street")
    community = session.exec(select(Community).where(Community.street_id == street.id)
                             .where(Community.name == name)).first()
    if community is None:
        community = add_community(session, scope, street.id or 0, name)
    else:
        _check_community(session, scope, community)
    return community
