"""Is a new report a problem we already track? Two residents describing the same broken light
should share one case, not fill the ledger with twins; the second one follows the first case as a
supporter and is @-ed on its updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from handlers.cases import workflow
from handlers.context import Context
from handlers.intake.classifier import Decision
from storage.models import Case, ChatGroup, Person


@dataclass(frozen=True)
class Match:
    case: Case
    same_reporter: bool
    similarity: float


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def find_duplicate(session: Session, ctx: Context, *, grid_id: int, reporter: Person,
                   decision: Decision) -> Match | None:
    """The open case this report repeats, if any: the same resident within a day (same
    category), or another resident within two days (same category and place, similar words)."""
    rules = ctx.classifier.rules.duplicates
    now = ctx.now()
    since = now - timedelta(hours=max(rules.same_reporter_hours, rules.supporter_hours))
    candidates = session.exec(
        select(Case).where(Case.grid_id == grid_id)
        .where(col(Case.status).in_(list(workflow.OPEN_STATES)))
        .where(Case.category == decision.category)
        .where(col(Case.created_at) >= since)
        .order_by(col(Case.created_at).desc())
    ).all()
    words = ctx.classifier.content_words(decision.text)
    place = str(decision.location) if decision.location else None
    best: Match | None = None
    for case in candidates:
        age = now - case.created_at
        score = similarity(words, ctx.classifier.content_words(case.text))
        if case.reporter_id == reporter.id:
            if age <= timedelta(hours=rules.same_reporter_hours):
                return Match(case, True, score)
            continue
        if age > timedelta(hours=rules.supporter_hours):
            continue
        if place and case.location and not _same_place(place, case.location):
            continue
        if score >= rules.min_similarity and (best is None or score > best.similarity):
            best = Match(case, False, score)
    return best


def _same_place(a: str, b: str) -> bool:
    """3号楼 and 3号楼2单元 are the same place for this purpose; 3号楼 and 5号楼 are not."""
    return a.startswith(b) or b.startswith(a)


def latest_case_in_group(session: Session, ctx: Context, group: ChatGroup,
                         person: Person) -> Case | None:
    """The case a "我家也是" reply most likely refers to: the group's latest open case that
    someone else reported within the last few hours."""
    since = ctx.now() - timedelta(hours=ctx.classifier.rules.duplicates.me_too_hours)
    return session.exec(
        select(Case).where(Case.group_id == group.id)
        .where(col(Case.status).in_(list(workflow.OPEN_STATES)))
        .where(Case.reporter_id != person.id)
        .where(col(Case.created_at) >= since)
        .order_by(col(Case.created_at).desc())
    ).first()
