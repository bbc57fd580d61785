"""The grids-and-people page (/admin): the hierarchy, groups bound to grids, workers and leaders
matched to their chat contacts, a sheet import, and the accounts; plus ``GET /api/grids`` and
``GET /api/people``. The rules live in handlers/roster.py; this module is forms and JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.web.dashboard.common import page, redirect, say
from bot.web.keys import RUNTIME, SESSION, VIEWER
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.viewer import Viewer
from handlers import roster
from handlers.accounts import ROLE_NAMES, WEB_CONTACT_PREFIX, AccountError, community_ids
from handlers.roster import RosterError, RosterForbidden
from storage import queries
from storage.models import ChatGroup, Community, Grid, Person, Role

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

STAFF_ROLES = (Role.GRID_WORKER, Role.GRID_LEADER, Role.STAFF)


def roster_view(session: Session, viewer: Viewer) -> dict[str, Any]:
    """The hierarchy, groups and people the viewer's scope reaches."""
    scope = viewer.scope
    visible = community_ids(session, scope)

    def community_visible(c: Community) -> bool:
        return visible is None or c.id in visible or scope.manages(c.id)

    grids = [g for g in queries.list_grids(session)
             if scope.allows_grid(g.id) or scope.manages(g.community_id)]
    grid_ids = {g.id for g in grids}
    communities = [c for c in queries.list_communities(session) if community_visible(c)]
    streets = [s for s in queries.list_streets(session)
               if scope.everything or any(c.street_id == s.id for c in communities)]
    groups = [v for v in queries.list_groups(session)
              if scope.everything or (v.grid and v.grid.id in grid_ids)
              or (v.grid is None and v.community is not None and scope.manages(v.community.id))
              or (v.group.grid_id is None and v.group.community_id is None)]
    people = session.exec(select(Person).where(col(Person.role).in_(STAFF_ROLES))
                          .order_by(col(Person.grid_id), col(Person.id))).all()
    # browser-only identities of staff accounts are nobody's chat contact: listed as accounts
    people = [p for p in people if (scope.everything or p.grid_id in grid_ids)
              and not p.contact_id.startswith(WEB_CONTACT_PREFIX)]
    contacts = session.exec(select(Person).where(Person.role == Role.RESIDENT)
                            .order_by(col(Person.name))).all()
    return {
        "streets": streets, "communities": communities, "grids": grids, "groups": groups,
        "people": people, "people_by_grid": _by_grid(people),
        "contacts": [p for p in contacts if scope.everything or p.grid_id in grid_ids],
        "accounts": queries.list_accounts(session) if scope.everything else [],
        "grid_names": {g.id: g.name for g in queries.list_grids(session)},
        "community_names": {c.id: c.name for c in queries.list_communities(session)},
        "person_names": {p.id: p.name for p in session.exec(select(Person).where(
            col(Person.role).in_(STAFF_ROLES))).all()},
    }


def _by_grid(people: list[Person]) -> dict[int | None, list[Person]]:
    out: dict[int | None, list[Person]] = {}
    for p in people:
        out.setdefault(p.grid_id, []).append(p)
    return out


async def _page(request: web.Request, *, notices: list[dict[str, str]] | None = None,
                report: list[roster.RowResult] | None = None, status: int = 200
                ) -> web.Response:
    viewer = request[VIEWER]
    if not viewer.may_manage:
        return _forbidden(request)
    data = await in_session(request.app, lambda session: roster_view(session, viewer))
    flash, request[SESSION] = request[SESSION].take_flash()
    notices = ([{"kind": "ok", "text": flash}] if flash else []) + (notices or [])
    return page("admin.html", request, {
        **data, "notices": notices, "report": report,
        "role_names": roster.ROLE_NAMES, "account_roles": ROLE_NAMES,
        "is_admin": viewer.is_admin,
    }, status=status)


def _forbidden(request: web.Request) -> web.Response:
    return page("error.html", request, {
        "title": say(request, "forbidden_title"), "message": say(request, "admin_forbidden")},
        status=403)


@routes.get("/admin")
async def admin_page(request: web.Request) -> web.Response:
    return await _page(request)


#: a roster change: runs in a session, returns the message to flash and its variables
Change = Callable[[Session, Viewer, Any], tuple[str, dict[str, Any]]]


def _change(fn: Change) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A form that changes the roster: run it, then back to the page with what happened."""

    async def handler(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        if not viewer.may_manage:
            return _forbidden(request)
        form = await request.post()
        try:
            done = await in_session(request.app, lambda session: fn(session, viewer, form))
        except RosterError as exc:
            return await _page(request, notices=[{"kind": "error", "text": str(exc)}],
                               status=403 if isinstance(exc, RosterForbidden) else 400)
        request[SESSION] = request[SESSION].with_flash(say(request, done[0], **done[1]))
        await request.app[RUNTIME].groups_changed()
        return redirect("/admin")

    return handler


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _add_street(session: Session, viewer: Viewer, form: Any) -> tuple[str, dict[str, Any]]:
    street = roster.add_street(session, viewer.scope, str(form.get("name", "")))
    return "added", {"level": "street", "name": street.name}


def _add_community(session: Session, viewer: Viewer, form: Any) -> tuple[str, dict[str, Any]]:
    community = roster.add_community(session, viewer.scope, _int(form.get("street_id")) or 0,
                                     str(form.get("name", "")))
    return "added", {"level": "community", "name": community.name}


def _add_grid(session: Session, viewer: Viewer, form: Any) -> tuple[str, dict[str, Any]]:
    grid = roster.add_grid(session, viewer.scope, _int(form.get("community_id")) or 0,
                           str(form.get("name", "")))
    return "added", {"level": "grid", "name": grid.name}


def _bind(session: Session, viewer: Viewer, form: Any) -> tuple[str, dict[str, Any]]:
    """``target`` is ``grid:ID``, ``staff:COMMUNITY_ID`` (a community's working group) or
    empty (unbound)."""
    kind, _, ref = str(form.get("target", "")).partition(":")
    group = roster.bind_group(
        session, viewer.scope, room_id=str(form.get("room_id", "")),
        topic=str(form.get("topic", "")),
        grid_id=_int(ref) if kind == "grid" else None,
        community_id=_int(ref) if kind == "staff" else None)
    grid = session.get(Grid, group.grid_id) if group.grid_id else None
    community = session.get(Community, group.community_id) if group.community_id else None
    return "group_bound", {"group": group.topic or group.room_id,
                           "grid": grid.name if grid else None,
                           "community": community.name if community else None}


def _register(session: Session, viewer: Viewer, form: Any) -> tuple[str, dict[str, Any]]:
    person = roster.register_person(
        session, viewer.scope, contact_id=str(form.get("contact_id", "")),
        name=str(form.get("name", "")), role=str(form.get("role", "")),
        grid_id=_int(form.get("grid_id")))
    return "person_registered", {"role": roster.ROLE_NAMES[Role(person.role)],
                                 "name": person.name, "contact": person.contact_id}


routes.post("/admin/streets")(_change(_add_street))
routes.post("/admin/communities")(_change(_add_community))
routes.post("/admin/grids")(_change(_add_grid))
routes.post("/admin/groups")(_change(_bind))
routes.post("/admin/people")(_change(_register))


@routes.post("/admin/import")
async def import_sheet(request: web.Request) -> web.Response:
    viewer = request[VIEWER]
    if not viewer.may_manage:
        return _forbidden(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await _page(request, notices=[{"kind": "error",
                                              "text": say(request, "import_no_file")}],
                           status=400)
    data = upload.file.read()
    try:
        rows = roster.read_sheet(upload.filename, data)
    except RosterError as exc:
        return await _page(request, notices=[{"kind": "error", "text": str(exc)}], status=400)
    report = await in_session(request.app,
                              lambda session: roster.import_rows(session, viewer.scope, rows))
    await request.app[RUNTIME].groups_changed()
    good = sum(r.ok for r in report)
    notice = {"kind": "ok" if good == len(report) else "warn",
              "text": say(request, "import_done", good=good, bad=len(report) - good)}
    return await _page(request, notices=[notice], report=report)


# --- the JSON API -------------------------------------------------------------------------------


@api_routes.get("/api/grids")
async def grids_api(request: web.Request) -> web.Response:
    """The hierarchy the caller sees: streets → communities → grids with their groups and
    registered workers and leaders."""
    viewer = request[VIEWER]

    def load(session: Session) -> list[dict[str, Any]]:
        v = roster_view(session, viewer)
        groups_of: dict[int | None, list[ChatGroup]] = {}
        for g in v["groups"]:
            groups_of.setdefault(g.group.grid_id, []).append(g.group)
        return [{"id": s.id, "street": s.name, "communities": [
            {"id": c.id, "community": c.name,
             "staff_groups": [g.group.room_id for g in v["groups"]
                              if g.group.community_id == c.id],
             "grids": [{"id": g.id, "grid": g.name,
                        "groups": [{"room": x.room_id, "topic": x.topic}
                                   for x in groups_of.get(g.id, [])],
                        "people": [_person_json(p, v) for p in v["people_by_grid"].get(g.id, [])
                                   if p.role != Role.STAFF]}
                       for g in v["grids"] if g.community_id == c.id]}
            for c in v["communities"] if c.street_id == s.id]}
            for s in v["streets"]]

    return json_response(await in_session(request.app, load))


@api_routes.get("/api/people")
async def people_api(request: web.Request) -> web.Response:
    """Registered workers, leaders and staff the caller sees, with their chat contact ids."""
    viewer = request[VIEWER]
    role = request.query.get("role") or None
    if role and role not in STAFF_ROLES:
        return json_error(400, str(AccountError("unknown_role", role=role, known=STAFF_ROLES)),
                          "bad_filter")

    def load(session: Session) -> list[dict[str, Any]]:
        v = roster_view(session, viewer)
        return [_person_json(p, v) for p in v["people"] if role is None or p.role == role]

    return json_response(await in_session(request.app, load))


def _person_json(p: Person, v: dict[str, Any]) -> dict[str, Any]:
    return {"name": p.name, "contact_id": p.contact_id, "role": p.role,
            "grid": v["grid_names"].get(p.grid_id)}

