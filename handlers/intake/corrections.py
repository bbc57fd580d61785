"""Learning from corrections: what workers re-categorised or marked as not a request, measured
against today's rules and counted, so whoever edits intake_rules.toml sees where to start."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, col, select

from handlers.intake.classifier import Classifier
from handlers.intake.evaluation import Example, evaluate, format_report
from storage.models import Case, Correction


def corrected_examples(session: Session) -> list[Example]:
    """One labelled example per corrected case, from its latest correction."""
    latest: dict[int, Correction] = {}
    for c in session.exec(select(Correction).order_by(col(Correction.id))).all():
        latest[c.case_id] = c
    examples = []
    for case_id, corr in latest.items():
        case = session.get(Case, case_id)
        if case is None:
            continue
        if corr.field == "is_request":
            examples.append(Example(corr.text, False, None, False, None))
        else:
            examples.append(Example(corr.text, True, corr.new_value, case.urgent, None))
    return examples


def correction_report(session: Session, classifier: Classifier, *,
                      category_names: dict[str, str], top: int = 10) -> str:
    rows = session.exec(select(Correction).order_by(col(Correction.id))).all()
    if not rows:
        return "no corrections recorded yet (workers correct with 改类 #N 类别 and 不是工单 #N)"
    pairs = Counter(
        (r.old_value, r.new_value) if r.field == "category" else ("request", "not a request")
        for r in rows)
    samples: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r.old_value, r.new_value) if r.field == "category" else ("request",
                                                                        "not a request")
        samples.setdefault(key, r.text)
    lines = [f"corrections recorded: {len(rows)}", "most frequent:"]
    for (old, new), n in pairs.most_common(top):
        lines.append(f"  {n:>4}  {old} → {new}   e.g. {samples[(old, new)][:40]}")
    report = evaluate(classifier, corrected_examples(session))
    lines += ["", "today's rules on the corrected messages:",
              format_report(report, category_names=category_names)]
    return "\n".join(lines)
