"""Measuring the classifier on a labelled corpus: request P/R/F1, category accuracy, urgent recall
and precision, location hit rate, and the lines it got wrong.

Corpus lines are JSON objects: {"text", "is_request", "category", "urgent", "location"}.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.intake.classifier import Classifier, Decision


@dataclass(frozen=True)
class Example:
    text: str
    is_request: bool
    category: str | None
    urgent: bool
    location: str | None
    split: str = "train"


def load_corpus(path: Path, split: str | None = None) -> list[Example]:
    """Corpus lines, optionally only one split ("train" for tuning, "test" held out)."""
    examples = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = json.loads(line)
            ex = Example(row["text"], bool(row["is_request"]), row.get("category"),
                         bool(row.get("urgent", False)), row.get("location"),
                         row.get("split", "train"))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not a corpus line ({exc})") from None
        if split is None or ex.split == split:
            examples.append(ex)
    return examples


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


@dataclass
class Report:
    total: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    category_right: int = 0
    category_total: int = 0
    urgent_tp: int = 0
    urgent_fp: int = 0
    urgent_fn: int = 0
    location_hit: int = 0
    location_total: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_category: Counter[tuple[str, bool]] = field(default_factory=Counter)
    mistakes: list[tuple[str, Example, Decision]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def category_accuracy(self) -> float:
        return _ratio(self.category_right, self.category_total)

    @property
    def urgent_recall(self) -> float:
        return _ratio(self.urgent_tp, self.urgent_tp + self.urgent_fn)

    @property
    def urgent_precision(self) -> float:
        return _ratio(self.urgent_tp, self.urgent_tp + self.urgent_fp)

    @property
    def location_rate(self) -> float:
        return _ratio(self.location_hit, self.location_total)

    def summary(self) -> str:
        return (
            f"messages {self.total}: request P={self.precision:.3f} R={self.recall:.3f} "
            f"F1={self.f1:.3f}; category {self.category_accuracy:.3f} "
            f"({self.category_right}/{self.category_total}); urgent R={self.urgent_recall:.3f} "
            f"P={self.urgent_precision:.3f}; location {self.location_rate:.3f} "
            f"({self.location_hit}/{self.location_total})"
        )


def evaluate(classifier: Classifier, examples: Iterable[Example]) -> Report:
    report = Report()
    for ex in examples:
        d = classifier.classify(ex.text)
        report.total += 1
        wrong = []
        if d.is_request and ex.is_request:
            report.tp += 1
        elif d.is_request:
            report.fp += 1
            wrong.append("false request")
        elif ex.is_request:
            report.fn += 1
            wrong.append("missed request")
        if ex.is_request and d.is_request:
            # category accuracy over true requests that were detected; a missed request is
            # already counted against recall
            report.category_total += 1
            report.per_category[(ex.category or "-", d.category == ex.category)] += 1
            if d.category == ex.category:
                report.category_right += 1
            else:
                report.confusion[(ex.category or "-", d.category or "-")] += 1
                wrong.append(f"category {ex.category}→{d.category}")
        if ex.urgent and d.urgent:
            report.urgent_tp += 1
        elif d.urgent:
            report.urgent_fp += 1
            wrong.append("false urgent")
        elif ex.urgent:
            report.urgent_fn += 1
            wrong.append("missed urgent")
        if ex.is_request and ex.location:
            report.location_total += 1
            # measured on every true request, so a missed request does not hide the extractor
            found = classifier.locate(ex.text)
            got = str(found) if found else None
            if got == ex.location:
                report.location_hit += 1
            else:
                wrong.append(f"location {ex.location}→{got}")
        if wrong:
            report.mistakes.append(("; ".join(wrong), ex, d))
    return report


def format_report(report: Report, *, category_names: dict[str, str],
                  mistakes: int | None = None) -> str:
    lines = [report.summary(), "", "per category (detected true requests):"]
    for key, name in category_names.items():
        right = report.per_category[(key, True)]
        total = right + report.per_category[(key, False)]
        if total:
            lines.append(f"  {key:<11} {name}  {right}/{total} = {right / total:.3f}")
    if report.confusion:
        lines += ["", "category confusion (labelled → predicted: count):"]
        lines += [f"  {a} → {b}: {n}" for (a, b), n in report.confusion.most_common()]
    shown = report.mistakes if mistakes is None else report.mistakes[:mistakes]
    if shown:
        lines += ["", f"misclassified ({len(report.mistakes)}):"]
        for why, ex, d in shown:
            lines.append(f"  [{why}] {ex.text}  (rules: {d.reason}; "
                         f"{', '.join(f'{k}={v:g}' for k, v in d.scores.items()) or '-'})")
    return "\n".join(lines)
