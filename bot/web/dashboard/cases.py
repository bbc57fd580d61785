"""The case page and its actions, and ``GET /api/cases/{no}`` / ``POST /api/cases/{no}/actions``.

An action taken here runs the same domain function as the chat command (handlers/cases/actions.py)
behind the same permission object (handlers/commands/permissions.py), as the Person the account
acts as, in one transaction: the same rules, the same event, the same relay to the group. Its
refusals are the chat's own sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.web.api import case_json, iso
from bot.web.dashboard.common import context, now, page, redirect, say
from bot.web.dashboard.ledger import case_row
from bot.web.keys import RUNTIME, SESSION, SETTINGS, VIEWER
from bot.web.middleware import json_error, json_response
from bot.web.session import in_session
from bot.web.texts import api_text
from bot.web.viewer import Viewer
from handlers.cases import actions, workflow
from handlers.cases.actions import Refusal
from handlers.commands.permissions import RULES, WORKER
from handlers.context import Context
from handlers.intake.classifier import Decision
from storage import queries
from storage.models import Case, CaseEvent, CaseSupporter, InboundMessage, Person

routes = web.RouteTableDef()
api_routes = web.RouteTableDef()

#: the closed-loop actions the dashboard offers, in the order it shows them
ACTIONS = ("accept", "assign", "dispatch", "progress", "resolve", "reject", "merge",
           "recategorize")
#: what each action needs besides the case: form field -> how the person calls it
INPUTS: dict[str, dict[str, str]] = {
    "assign": {"assignee": "被指派人"},
    "dispatch": {"department": "转办部门"},
    "progress": {"note": "进展内容"},
    "resolve": {"note": "办理结果"},
    "reject": {"note": "退回理由"},
    "merge": {"into": "保留的工单号"},
    "recategorize": {"category": "类别"},
}
#: events whose note is a resident's own words about the problem (shown with the original)
RESIDENT_EVENTS = ("repeat", "support", "photo")


class InputError(Exception):
    """A missing or wrong field; ``str()`` tells the person, from the macro ``key`` of
    templates/web/api_messages.j2."""

    def __init__(self, key: str, /, **variables: Any) -> None:
        self.key = key
        super().__init__(api_text(key, **variables))


class ReadOnly(Exception):
    """The caller may read but not act: a read-scoped token, or one without an account."""


@dataclass(frozen=True)
class Done:
    case: Case
    message: str


#: how long each field of an action may be (``dispatched_to`` is stored in 100 characters)
FIELD_LIMITS = {"note": 2000, "department": 100, "assignee": 100, "into": 12, "category": 50}


def _field_error(body: Mapping[str, Any]) -> InputError | None:
    """What is wrong with an action's fields as JSON types and lengths, or None: a list is not
    a note, and ``into`` may be a number or text."""
    unknown = sorted(set(body) - {"action", *FIELD_LIMITS})
    if unknown:
        return InputError("unknown_fields", fields=unknown)
    for key, limit in FIELD_LIMITS.items():
        value = body.get(key)
        if value is None:
            continue
        if key == "into" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return InputError("field_not_text", field=key)
        if len(value) > limit:
            return InputError("field_too_long", field=key, limit=limit)
    return None


def parse_no(raw: str) -> int | None:
    return queries.as_id(raw.lstrip("#"))


def visible_case(session: Session, viewer: Viewer, no: int) -> Case | None:
    """The case, if it exists and the viewer's scope reaches it (else as if it did not)."""
    case = queries.get_case(session, no=no)
    return case if case is not None and viewer.scope.allows_grid(case.grid_id) else None


def available_actions(session: Session, person: Person | None, case: Case) -> list[str]:
    """The actions the case's state allows and this person may take."""
    if person is None:
        return []
    return [a for a in ACTIONS
            if workflow.allowed(a, case.status) and RULES[a].allows(session, person, case)]


def perform(session: Session, ctx: Context, viewer: Viewer, case: Case, action: str,
            data: Mapping[str, Any]) -> str:
    """Run one action as the viewer's person; returns the confirmation to show. Raises Refusal
    (the chat's sentence), InputError, or ReadOnly."""
    person = viewer.person
    if not viewer.can_write or person is None:
        raise ReadOnly
    if action not in ACTIONS:
        raise InputError("unknown_action", action=action, actions=ACTIONS)
    permission = RULES[action]
    if not permission.allows(session, person, case):
        raise Refusal("refuse_role", reason=permission.reason_for(session, person, case),
                      no=case.no)
    values = {k: str(data.get(k) or "").strip() for k in ("note", "department", "assignee",
                                                          "into", "category")}
    for key, what in INPUTS.get(action, {}).items():
        if not values[key]:
            raise InputError("field_missing", what=what)
    match action:
        case "accept":
            actions.accept(session, ctx, case, person)
        case "assign":
            assignee = actions.find_assignee(session, case, values["assignee"])
            actions.assign(session, ctx, case, person, assignee)
        case "dispatch":
            actions.dispatch(session, ctx, case, person, values["department"], values["note"])
        case "progress":
            actions.progress(session, ctx, case, person, values["note"])
        case "resolve":
            actions.resolve(session, ctx, case, person, values["note"])
        case "reject":
            actions.reject(session, ctx, case, person, values["note"])
        case "merge":
            no = parse_no(values["into"])
            into = visible_case(session, viewer, no) if no else None
            if into is None:
                raise Refusal("refuse_unknown_case", no=values["into"].lstrip("#"))
            if not WORKER.allows(session, person, into):
                raise Refusal("refuse_role", reason=WORKER.reason_for(session, person, into),
                              no=into.no, into=into.no)
            actions.merge(session, ctx, case, into, person)
        case "recategorize":
            key = values["category"]
            if key not in {c.key for c in ctx.classifier.rules.categories}:
                raise Refusal("refuse_unknown_category", text=key, names="、".join(
                    c.name for c in ctx.classifier.rules.categories))
            old = actions.recategorize(session, ctx, case, person, key)
            return ctx.texts.render("recategorized", no=case.no, old=ctx.category_name(old),
                                    new=ctx.category_name(key))
    return ctx.texts.render("confirm", action=actions.ACTION_NAMES[action], no=case.no,
                            status=workflow.STATUS_NAMES[case.status])


# --- what the page and the API show -------------------------------------------------------------


def case_detail(session: Session, ctx: Context, viewer: Viewer, case: Case) -> dict[str, Any]:
    """Everything the case page shows: the row, the original messages, the classifier's reading
    of them, the timeline, and the actions open to the viewer."""
    moment = ctx.now()
    events = list(queries.case_events(session, case_id=case.id or 0))
    source = session.get(InboundMessage, case.source_message_id) \
        if case.source_message_id else None
    reporter = session.get(Person, case.reporter_id)
    messages = [{"at": case.created_at, "text": case.text, "kind": "text", "original": True,
                 "sender": source.sender_name if source and source.sender_name
                 else reporter.name if reporter else ""}]
    for e in events:
        if e.action in RESIDENT_EVENTS:
            messages.append({"at": e.at, "text": e.note, "original": False,
                             "sender": queries.person_name(session, person_id=e.actor_id),
                             "kind": "image" if e.action == "photo" else "text"})
    decision = ctx.classifier.classify(case.text)
    supporters = session.exec(
        select(Person).join(CaseSupporter, col(CaseSupporter.person_id) == col(Person.id))
        .where(CaseSupporter.case_id == case.id).order_by(col(CaseSupporter.id))).all()
    return {
        "row": case_row(session, ctx, case, moment),
        "messages": messages,
        "supporters": [p.name for p in supporters],
        "decision": decision,
        "events": [_event(session, e) for e in events],
        "actions": available_actions(session, viewer.person, case) if viewer.can_write else [],
        "staff": queries.grid_staff(session, grid_id=case.grid_id),  # who 指派 offers
        "categories": ctx.classifier.rules.categories,
        "category_names": {c.key: c.name for c in ctx.classifier.rules.categories},
    }


def _event(session: Session, e: CaseEvent) -> dict[str, Any]:
    return {"at": e.at, "actor": queries.person_name(session, person_id=e.actor_id),
            "action": e.action, "from_status": e.from_status, "to_status": e.to_status,
            "note": e.note}


def decision_json(d: Decision) -> dict[str, Any]:
    """The classifier's reading as ``gridbot classify --explain`` gives it, as JSON."""
    return {**d.as_json(), "reason": d.reason,
            "scores": dict(sorted(d.scores.items(), key=lambda kv: -kv[1])),
            "hits": [{"kind": h.kind, "rule": h.rule, "category": h.category,
                      "weight": h.weight} for h in d.hits]}


# --- the page -----------------------------------------------------------------------------------


@routes.get("/cases/{no}")
async def case_page(request: web.Request) -> web.Response:
    flash, request[SESSION] = request[SESSION].take_flash()
    return await _render(request, notice={"kind": "ok", "text": flash} if flash else None)


async def _render(request: web.Request, *, notice: dict[str, str] | None = None,
                  status: int = 200, form: Mapping[str, Any] | None = None) -> web.Response:
    viewer = request[VIEWER]
    ctx = context(request)
    no = parse_no(request.match_info["no"])

    def load(session: Session) -> dict[str, Any] | None:
        case = visible_case(session, viewer, no) if no else None
        return case_detail(session, ctx, viewer, case) if case else None

    detail = await in_session(request.app, load)
    if detail is None:
        return page("error.html", request, {
            "title": say(request, "case_missing_title"),
            "message": say(request, "case_missing", no=request.match_info["no"])}, status=404)
    return page("case.html", request, {
        **detail, "status_names": workflow.STATUS_NAMES,
        "action_names": actions.ACTION_NAMES, "notices": [notice] if notice else [],
        "form": form or {},
    }, status=status)


@routes.post("/cases/{no}/act")
async def act_from_page(request: web.Request) -> web.Response:
    form = await request.post()
    result = await _act(request, str(form.get("action", "")), form)
    if isinstance(result, Done):
        request[SESSION] = request[SESSION].with_flash(result.message)
        return redirect(f"/cases/{result.case.no}")
    status, message, _ = result
    return await _render(request, notice={"kind": "error", "text": message}, status=status,
                         form=form)


#: refusals about what was asked for (a name or number that does not exist, a name too long),
#: not about the state
UNKNOWN_REFUSALS = ("refuse_unknown_case", "refuse_unknown_person", "refuse_unknown_category",
                    "refuse_too_long", "refuse_assignee_elsewhere", "refuse_assignee_ambiguous")


async def _act(request: web.Request, action: str,
               data: Mapping[str, Any]) -> Done | tuple[int, str, str]:
    """Run an action for a page or an API call: Done, or (HTTP status, what to tell them, the
    machine code of the refusal): 403 not theirs to do, 409 not in this state, 422 naming
    something that does not exist, 400 a field missing."""
    viewer = request[VIEWER]
    ctx = context(request)
    no = parse_no(request.match_info["no"])

    def run(session: Session) -> Done | tuple[int, str, str]:
        case = visible_case(session, viewer, no) if no else None
        if case is None:
            return 404, ctx.texts.render("refuse_unknown_case", no=request.match_info["no"]), \
                "case_not_found"
        try:
            message = perform(session, ctx, viewer, case, action, data)
        except ReadOnly:
            return 403, say(request, "read_only"), "read_only"
        except InputError as exc:
            return 400, str(exc), "invalid_input"
        except Refusal as refusal:
            session.rollback()
            status = 403 if refusal.template == "refuse_role" else \
                422 if refusal.template in UNKNOWN_REFUSALS else 409
            return status, ctx.texts.render(refusal.template, **refusal.variables), \
                refusal.template.removeprefix("refuse_")
        return Done(case, message)

    result = await in_session(request.app, run)
    sender = request.app[RUNTIME].sender
    if isinstance(result, Done) and sender is not None:
        sender.wake()  # the relay is in the outbox: send it now, not at the next poll
    return result


# --- the JSON API -------------------------------------------------------------------------------


@api_routes.get("/api/cases/{no}")
async def get_case(request: web.Request) -> web.Response:
    """One case: its fields, events, original messages, the classifier's reading and the
    actions the caller may take."""
    no = parse_no(request.match_info["no"])
    if no is None:
        return json_error(400, api_text("bad_case_number"), "bad_case_number")
    viewer = request[VIEWER]
    ctx, tz = context(request), request.app[SETTINGS].general.tz

    def load(session: Session) -> dict[str, Any] | None:
        case = visible_case(session, viewer, no)
        if case is None:
            return None
        detail = case_detail(session, ctx, viewer, case)
        body = case_json(session, case, tz, now=ctx.now())
        body["events"] = [{**e, "at": iso(e["at"], tz)} for e in detail["events"]]
        body["messages"] = [{"at": iso(m["at"], tz), "sender": m["sender"], "text": m["text"],
                             "kind": m["kind"], "original": m["original"]}
                            for m in detail["messages"]]
        body["supporters"] = detail["supporters"]
        body["decision"] = decision_json(detail["decision"])
        body["actions"] = detail["actions"]
        return body

    body = await in_session(request.app, load)
    if body is None:
        return json_error(404, api_text("case_not_found", no=no), "case_not_found")
    return json_response(body)


@api_routes.post("/api/cases/{no}/actions")
async def act_from_api(request: web.Request) -> web.Response:
    """``{"action": "accept" | "assign" | …, "note", "department", "assignee", "into",
    "category"}``: 200 with the confirmation and the case, or 4xx with ``{"error"}``."""
    try:
        body = await request.json()
    except ValueError:  # also bytes that are not UTF-8
        return json_error(400, api_text("body_not_json"), "bad_json")
    if not isinstance(body, dict):
        return json_error(400, api_text("body_not_object"), "not_an_object")
    if not isinstance(body.get("action"), str):
        return json_error(400, api_text("action_missing", actions=ACTIONS), "invalid_input")
    if (wrong := _field_error(body)) is not None:
        return json_error(400, str(wrong), "invalid_input")
    result = await _act(request, body["action"], body)
    if not isinstance(result, Done):
        return json_error(*result)
    tz = request.app[SETTINGS].general.tz
    moment = now(request)
    case = await in_session(request.app, lambda session: case_json(
        session, queries.get_case(session, no=result.case.no) or result.case, tz, now=moment))
    return json_response({"message": result.message, "case": case})


