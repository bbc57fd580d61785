"""The intake rules file, parsed into typed objects once at start-up.

The file is written by staff, so every mistake in it (a bad regular expression, an unknown
category) is reported with its place in the file instead of failing later on a message.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


class RulesError(Exception):
    """The rules file is wrong; the message names the entry."""


@dataclass(frozen=True)
class Category:
    key: str
    name: str


@dataclass(frozen=True)
class WeightedPattern:
    pattern: re.Pattern[str]
    weight: float

    def __repr__(self) -> str:
        return f"/{self.pattern.pattern}/={self.weight:g}"


@dataclass(frozen=True)
class UrgentTrigger:
    pattern: re.Pattern[str]
    category: str


@dataclass(frozen=True)
class TieBreak:
    """One principle for choosing between categories that a message's words all support:
    when the problem families in `when` are present (and none in `unless`) and the scoring
    picked one of `over`, the message belongs to `category` (a hazard to life on a street
    light is a safety case, a quarrel about a leak is a dispute)."""

    name: str
    when: tuple[str, ...]
    category: str
    over: frozenset[str]
    unless: tuple[str, ...] = ()
    urgent: bool = False  # also applies to urgent messages, whose danger names a category
    only_urgent: bool = False  # applies to urgent messages only (an injured person)


@dataclass(frozen=True)
class CategoryRules:
    keywords: dict[str, float]
    patterns: tuple[WeightedPattern, ...]


@dataclass(frozen=True)
class DuplicateRules:
    same_reporter_hours: float = 24
    supporter_hours: float = 48
    min_similarity: float = 0.25
    me_too_hours: float = 6
    me_too: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class IntakeRules:
    categories: tuple[Category, ...]
    request_score: float
    strong_score: float
    topic_score: float  # a category this clear needs no problem signal, unless its tone is calm
    max_request_chars: int
    signals: dict[str, float]
    signal_patterns: tuple[WeightedPattern, ...]
    by_category: dict[str, CategoryRules]
    vetoes: dict[str, tuple[re.Pattern[str], ...]]  # reason -> patterns
    veto_exceptions: dict[str, tuple[re.Pattern[str], ...]]
    urgent_triggers: tuple[UrgentTrigger, ...]
    urgent_negations: tuple[re.Pattern[str], ...]
    places: tuple[str, ...]
    # words just before a danger word that make it not happen now (万一, 去年), and how far back
    urgent_unreal: tuple[re.Pattern[str], ...] = ()
    urgent_window: int = 8
    # a message with no problem signal is not a request when its tone is calm (挺好, 明天保养)
    calm: tuple[re.Pattern[str], ...] = ()
    calm_signal: float = 1.5  # calm tone is only looked for below this much problem signal
    urgent_bonus: float = 2.0  # what the danger an urgency trigger names adds to its category
    duplicates: DuplicateRules = DuplicateRules()
    # problem families (hazard, quarrel, policy question…) and the principles that use them
    families: dict[str, re.Pattern[str]] = field(default_factory=dict)
    tiebreaks: tuple[TieBreak, ...] = ()

    def category_name(self, key: str) -> str:
        for c in self.categories:
            if c.key == key:
                return c.name
        return key

    @property
    def all_keywords(self) -> set[str]:
        words = set(self.signals)
        for rules in self.by_category.values():
            words.update(rules.keywords)
        return words


def load_categories(path: Path | None = None) -> tuple[Category, ...]:
    raw = _read_toml(path, "categories.toml")
    try:
        return tuple(Category(key=c["key"], name=c["name"]) for c in raw["category"])
    except (KeyError, TypeError) as exc:
        raise RulesError(f"categories file: each [[category]] needs key and name ({exc})") from None


def load_rules(path: Path | None = None, categories: tuple[Category, ...] | None = None,
               places: tuple[str, ...] | None = None) -> IntakeRules:
    raw = _read_toml(path, "intake_rules.toml")
    categories = categories or load_categories()
    keys = {c.key for c in categories}
    where = str(path or "intake_rules.toml")

    by_category: dict[str, CategoryRules] = {}
    for key, body in raw.get("categories", {}).items():
        if key not in keys:
            raise RulesError(f"{where}: [categories.{key}] is not a known category")
        by_category[key] = CategoryRules(
            keywords=_weights(body.get("keywords", {}), f"categories.{key}.keywords", where),
            patterns=tuple(
                WeightedPattern(_compile(p, f"categories.{key}.patterns", where), float(w))
                for p, w in body.get("patterns", {}).items()
            ),
        )
    not_request = raw.get("not_request", {})
    vetoes = {
        reason: tuple(_compile(alt, f"not_request.{reason}", where)
                      for p in pats for alt in alternatives(p))
        for reason, pats in not_request.items()
        if not reason.endswith("_except")
    }
    exceptions = {
        reason.removesuffix("_except"): tuple(
            _compile(p, f"not_request.{reason}", where) for p in pats
        )
        for reason, pats in not_request.items()
        if reason.endswith("_except")
    }
    urgent = raw.get("urgent", {})
    triggers = []
    for i, t in enumerate(urgent.get("triggers", [])):
        if t.get("category") not in keys:
            raise RulesError(f"{where}: urgent trigger #{i + 1} needs a known category")
        _compile(t["pattern"], "urgent.triggers", where)  # reported whole if it is wrong
        triggers += [UrgentTrigger(_compile(alt, "urgent.triggers", where), t["category"])
                     for alt in alternatives(t["pattern"])]
    families = {name: _compile(p, f"families.{name}", where)
                for name, p in raw.get("families", {}).items()}
    tiebreaks = []
    for i, t in enumerate(raw.get("tiebreaks", [])):
        name = t.get("name", f"#{i + 1}")
        if t.get("category") not in keys:
            raise RulesError(f"{where}: tiebreak {name!r} needs a known category")
        when, unless = _names(t.get("when")), _names(t.get("unless"))
        over = _names(t.get("over"))
        for fam in (*when, *unless):
            if fam not in families:
                raise RulesError(f"{where}: tiebreak {name!r} names an unknown family {fam!r}")
        if not when or any(k not in keys for k in over):
            raise RulesError(f"{where}: tiebreak {name!r} needs `when` families and known "
                             "categories in `over`")
        urgent_mode = t.get("urgent", False)
        if urgent_mode not in (True, False, "only"):
            raise RulesError(f"{where}: tiebreak {name!r}: urgent is true, false or \"only\"")
        tiebreaks.append(TieBreak(name, when, t["category"], frozenset(over or keys), unless,
                                  urgent_mode is not False, urgent_mode == "only"))
    th = raw.get("thresholds", {})
    location = raw.get("location", {})
    dup = raw.get("duplicates", {})
    duplicates = DuplicateRules(
        same_reporter_hours=float(dup.get("same_reporter_hours", 24)),
        supporter_hours=float(dup.get("supporter_hours", 48)),
        min_similarity=float(dup.get("min_similarity", 0.25)),
        me_too_hours=float(dup.get("me_too_hours", 6)),
        me_too=tuple(_compile(p, "duplicates.me_too", where) for p in dup.get("me_too", [])),
    )
    return IntakeRules(
        categories=categories,
        request_score=float(th.get("request_score", 2.0)),
        strong_score=float(th.get("strong_score", 4.0)),
        topic_score=float(th.get("topic_score", th.get("strong_score", 4.0))),
        max_request_chars=int(th.get("max_request_chars", 300)),
        signals=_weights(raw.get("signals", {}).get("problem", {}), "signals.problem", where),
        signal_patterns=tuple(
            WeightedPattern(_compile(p, "signals.patterns", where), float(w))
            for p, w in raw.get("signals", {}).get("patterns", {}).items()),
        by_category=by_category,
        vetoes=vetoes,
        veto_exceptions=exceptions,
        urgent_triggers=tuple(triggers),
        urgent_negations=tuple(
            _compile(p, "urgent.negations", where) for p in urgent.get("negations", [])
        ),
        places=tuple(places if places is not None else location.get("places", ())),
        duplicates=duplicates,
        urgent_unreal=tuple(
            _compile(p, "urgent.unreal", where) for p in urgent.get("unreal", [])
        ),
        urgent_window=int(urgent.get("window", 8)),
        urgent_bonus=float(urgent.get("bonus", th.get("request_score", 2.0))),
        calm_signal=float(raw.get("calm", {}).get("below_signal", 1.5)),
        calm=tuple(_compile(p, "calm.patterns", where)
                   for p in raw.get("calm", {}).get("patterns", [])),
        families=families,
        tiebreaks=tuple(tiebreaks),
    )


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def alternatives(pattern: str) -> list[str]:
    """A pattern's top-level alternatives (`a|b(c|d)|e` -> a, b(c|d), e), for rules where any
    match is enough. Each alternative is then filed by its own first characters (screen.py), so
    a long family of danger words costs only the searches of the words that can occur. A pattern
    that is one plain group, `(a|b|c)`, is split like `a|b|c`."""
    if (inner := _one_group(pattern)) is not None:
        return alternatives(inner)
    parts, start = [], 0
    for i, ch, depth in _structure(pattern):
        if ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts if all(parts) else [pattern]


def _one_group(pattern: str) -> str | None:
    """The inside of a pattern that is a single capturing group and nothing else, or None."""
    if not pattern.startswith("(") or pattern.startswith("(?") or not pattern.endswith(")"):
        return None
    for i, ch, depth in _structure(pattern):
        if ch == ")" and depth == 0:
            return pattern[1:-1] if i == len(pattern) - 1 else None
    return None


def _structure(pattern: str) -> Iterator[tuple[int, str, int]]:
    """Each character of a pattern outside escapes and character classes, with its position
    and the group depth after it: what both splitting functions above walk."""
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
        else:
            depth += (ch == "(") - (ch == ")")
            yield i, ch, depth
        i += 1


def default_userdict() -> Path:
    return DATA / "userdict.txt"


def _read_toml(path: Path | None, default_name: str) -> dict[str, Any]:
    try:
        return tomllib.loads((path or DATA / default_name).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path or default_name}: {exc}") from None


def _weights(table: dict[str, Any], section: str, where: str) -> dict[str, float]:
    out = {}
    for word, weight in table.items():
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise RulesError(f"{where}: [{section}] {word!r} needs a number, got {weight!r}")
        out[word] = float(weight)
    return out


def _compile(pattern: str, section: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise RulesError(f"{where}: [{section}] bad pattern {pattern!r}: {exc}") from None
