"""Rendering a notice for one group.

The body is a jinja2 template written by staff ("{{ grid }}的居民朋友们…"), so it runs in jinja2's
sandbox with a fixed set of variables, and StrictUndefined turns a misspelt variable into an error
found when the notice is submitted — not a hole in 500 group messages. The frame around the body
(title, the request to reply 收到) is our own template, templates/chat/notice.j2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import Session

from handlers.context import Context
from handlers.notices.errors import NoticeError
from handlers.texts import formats, phrases
from storage import queries
from storage.models import ChatGroup, Community, Grid, Role

#: the variables a notice body may use (what staff read about each: notice_errors.j2's
#: variables_hint)
VARIABLES = ("grid", "community", "worker", "leader", "group", "date")

_UNDEFINED = re.compile(r"'([^']+)' is undefined")
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                            keep_trailing_newline=False)


@dataclass(frozen=True)
class Draft:
    title: str
    body: str
    ask_receipt: bool


def compile_body(body: str) -> jinja2.Template:
    try:
        return _ENV.from_string(body)
    except jinja2.TemplateSyntaxError as exc:
        raise NoticeError("template_syntax", line=exc.lineno, detail=exc.message or "",
                          hint=_variables_hint()) from None


def group_variables(session: Session, ctx: Context, group: ChatGroup,
                    when: datetime) -> dict[str, Any]:
    grid = session.get(Grid, group.grid_id) if group.grid_id else None
    community_id = grid.community_id if grid else group.community_id
    community = session.get(Community, community_id) if community_id else None
    staff = queries.grid_staff(session, grid_id=grid.id) if grid and grid.id else []
    worker = next((p.name for p in staff if p.role == Role.GRID_WORKER), "")
    leader = next((p.name for p in staff if p.role == Role.GRID_LEADER), "")
    local = when.astimezone(ctx.calendar.tz)
    return {"grid": grid.name if grid else "", "community": community.name if community else "",
            "worker": worker or leader, "leader": leader, "group": group.topic,
            "date": formats("date", month=local.month, day=local.day)}


def render(session: Session, ctx: Context, draft: Draft, group: ChatGroup,
           when: datetime) -> str:
    """The whole message one group receives."""
    body = render_body(compile_body(draft.body), group_variables(session, ctx, group, when))
    return ctx.texts.render("notice", title=draft.title, body=body,
                            ask_receipt=draft.ask_receipt)


def render_body(template: jinja2.Template, variables: dict[str, Any]) -> str:
    try:
        return template.render(**variables).strip()
    except jinja2.UndefinedError as exc:
        name = _UNDEFINED.search(exc.message or "")
        raise NoticeError("template_undefined", detail=name[1] if name else exc.message or "",
                          hint=_variables_hint()) from None
    except jinja2.TemplateError as exc:
        raise NoticeError("template_failed", detail=str(exc), hint=_variables_hint()) from None


def check(session: Session, ctx: Context, draft: Draft, groups: list[ChatGroup],
          when: datetime) -> None:
    """Render for every target group now, so any template error is found before sending."""
    template = compile_body(draft.body)
    for group in groups:
        if not render_body(template, group_variables(session, ctx, group, when)):
            raise NoticeError("template_empty", group=group.topic)


def _variables_hint() -> str:
    return phrases("notice_errors")("variables_hint", names=VARIABLES)
