"""The simulator's page (/sim) and JSON API (/api/sim/…), present when [transport] kind = "sim"."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from bot.transport.sim import SimInputError, SimMessage, SimTransport
from bot.web.keys import RUNTIME, SETTINGS
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.texts import api_text
from storage import queries

routes = web.RouteTableDef()


def _sim(request: web.Request) -> SimTransport:
    transport = request.app[RUNTIME].transport
    assert isinstance(transport, SimTransport)
    return transport


@routes.get("/sim")
@aiohttp_jinja2.template("sim.html")
async def sim_page(request: web.Request) -> dict[str, Any]:
    return {"bot_name": request.app[SETTINGS].general.bot_name}


@routes.get("/api/sim/rooms")
async def sim_rooms(request: web.Request) -> web.Response:
    sim = _sim(request)

    def load(session: Session) -> list[dict[str, Any]]:
        return [
            {
                "room": v.group.room_id,
                "topic": v.group.topic,
                "grid": v.grid.name if v.grid else None,
                "members": [{"name": p.name, "role": p.role}
                            for p in queries.group_members(session, group=v.group)],
            }
            for v in queries.list_groups(session)
            if sim.known_room(v.group.room_id)
        ]

    rooms = await in_session(request.app, load)
    return json_response({"bot": {"name": sim.self_name}, "rooms": rooms})


@routes.get("/api/sim/messages")
async def sim_messages(request: web.Request) -> web.Response:
    room = request.query.get("room")
    contact = request.query.get("contact")
    if bool(room) == bool(contact):
        return json_error(400, api_text("sim_room_or_contact"))
    sim = _sim(request)
    if room and not sim.known_room(room):
        return json_error(404, api_text("sim_no_room"))
    tz = request.app[SETTINGS].general.tz
    history = sim.history(room=room, contact=contact, after=request.query.get("after"))
    return json_response([_message_json(m, tz) for m in history])


@routes.post("/api/sim/messages")
async def sim_post(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return json_error(400, api_text("body_not_json"))
    if not isinstance(body, dict):
        return json_error(400, api_text("body_not_object"))
    room, sender, text = body.get("room"), body.get("sender"), body.get("text")
    kind = body.get("kind", "text")
    if room is not None and not isinstance(room, str):
        return json_error(400, api_text("sim_room_type"))
    if not isinstance(sender, str):
        return json_error(400, api_text("sim_sender_field"))
    if not isinstance(text, str):
        return json_error(400, api_text("sim_text_type"))
    if not isinstance(kind, str):
        return json_error(400, api_text("sim_kind_type"))
    try:
        msg = await _sim(request).post(room=room, sender=sender, text=text, kind=kind)
    except SimInputError as exc:
        return json_error(400, str(exc))
    return json_response({"id": msg.id}, status=202)


def _message_json(m: SimMessage, tz: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "room": m.room,
        "sender": m.sender,
        "text": m.text,
        "kind": m.kind,
        "at": m.at.astimezone(tz).isoformat(),
        "from_bot": m.from_bot,
        "mentions": list(m.mentions),
    }
