"""Posting a case's news into its group, @-ing the reporter and the supporters, and private notes
to staff. Everything goes through the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from handlers.context import Context
from handlers.intake.location import LocationExtractor
from handlers.privacy import mask
from handlers.texts import formats
from storage import queries
from storage.models import WEB_CONTACT_PREFIX, Case, CaseSupporter, ChatGroup, Person, Priority

URGENT_PRIORITY = Priority.URGENT


def audience(session: Session, case: Case) -> list[Person]:
    """Who hears about a case: its reporter first, then residents who reported the same thing."""
    people = [session.get(Person, case.reporter_id)]
    supporters = session.exec(
        select(Person).join(CaseSupporter, col(CaseSupporter.person_id) == col(Person.id))
        .where(CaseSupporter.case_id == case.id).order_by(col(CaseSupporter.id))
    ).all()
    seen: set[int | None] = set()
    out = []
    for p in [*people, *supporters]:
        if p is not None and p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def case_facts(ctx: Context, case: Case) -> dict[str, Any]:
    """The variables every case template may use, with the place masked for group posts."""
    place = None
    if case.location:
        parsed = LocationExtractor(()).extract(case.location)
        place = parsed.masked if parsed else case.location
    return {"no": case.no, "category_name": ctx.category_name(case.category), "location": place,
            "full_location": case.location}


def titled(person: Person | None) -> str | None:
    """A person as residents are told who acts on their case, with their title: a leader or
    staff member who takes a step is not to be called 网格员."""
    if person is None:
        return None
    return formats("titled", role=str(person.role), name=person.name)


def post_to_group(session: Session, ctx: Context, case: Case, template: str, /,
                  **variables: Any) -> None:
    group = session.get(ChatGroup, case.group_id)
    if group is None:
        return
    people = audience(session, case)
    at = " ".join(f"@{p.name}" for p in people)
    safe = {k: mask(v) if isinstance(v, str) and k in ("note", "reason") else v
            for k, v in variables.items()}
    # reporter/others: only the reporter rates, so a question to rate names them when
    # supporters are @-ed too
    text = ctx.texts.render(template, at=at, reporter=people[0].name if people else "",
                            others=len(people) > 1, **case_facts(ctx, case), **safe)
    queries.enqueue(session, room_id=group.room_id, text=text,
                    mention_ids=[p.contact_id for p in people], case_id=case.id,
                    priority=URGENT_PRIORITY if case.urgent else 0)


def tell(session: Session, ctx: Context, person: Person, template: str, /, *,
         case: Case | None = None, urgent: bool = False, **variables: Any) -> None:
    """A private message to one person (staff alerts, reminders, confirmations). Browser-only
    identities (contact ``web:…``, dashboard staff without a chat contact) cannot be written to."""
    if person.contact_id.startswith(WEB_CONTACT_PREFIX):
        return
    facts = case_facts(ctx, case) if case is not None else {}
    text = ctx.texts.render(template, **{**facts, **variables})
    queries.enqueue(session, contact_id=person.contact_id, text=text,
                    case_id=case.id if case else None,
                    priority=URGENT_PRIORITY if urgent else 0)


def post_to_room(session: Session, ctx: Context, room_id: str, template: str, /, *,
                 case: Case | None = None, mention: list[Person] | None = None,
                 **variables: Any) -> None:
    facts = case_facts(ctx, case) if case is not None else {}
    people = mention or []
    text = ctx.texts.render(template, at=" ".join(f"@{p.name}" for p in people),
                            **{**facts, **variables})
    queries.enqueue(session, room_id=room_id, text=text,
                    mention_ids=[p.contact_id for p in people],
                    case_id=case.id if case else None)
