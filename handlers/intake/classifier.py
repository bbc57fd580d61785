"""Is this message a request, about what, how urgent, and where?

Rules, not a model: staff can read and tune them (handlers/data/intake_rules.toml), and every
decision carries the hits that made it, so `gridbot classify --explain` can show its reasons.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import jieba

from handlers.intake.location import Location, LocationExtractor
from handlers.intake.rules import IntakeRules, alternatives, default_userdict, load_rules
from handlers.intake.screen import Screen
from handlers.texts import WEB_TEMPLATES, phrases

_MENTION = re.compile(r"@[^\s@\u2005]{1,20}[\s\u2005]?")
_STICKER = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,6}\]")  # WeChat's [捂脸] [强] codes
_WORDLIKE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_CLAUSE_END = re.compile(r"[\s,，。.!！?？;；~～]")


class Hit(NamedTuple):
    """One reason behind a decision: which rule matched, for which category, with what weight.
    A named tuple, not a frozen dataclass: a message makes several and they must be cheap."""

    kind: str  # keyword | pattern | signal | veto | urgent | urgent-negation | tiebreak | filter
    rule: str
    category: str | None = None
    weight: float = 0.0

    def __str__(self) -> str:
        target = f" → {self.category}" if self.category else ""
        weight = f" ({self.weight:+g})" if self.weight else ""
        return f"{self.kind}: {self.rule}{target}{weight}"


@dataclass(frozen=True)
class Decision:
    text: str
    is_request: bool
    category: str | None
    urgent: bool
    location: Location | None
    confidence: float
    hits: tuple[Hit, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "is_request": self.is_request,
            "category": self.category,
            "urgent": self.urgent,
            "location": str(self.location) if self.location else None,
            "confidence": self.confidence,
        }


_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Full-width to half-width, @-names and sticker codes out, whitespace folded. Each step
    runs only when its character occurs: most messages have no @ and no sticker."""
    text = unicodedata.normalize("NFKC", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "[" in text:
        text = _STICKER.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class Classifier:
    """Holds its own jieba tokenizer (never the global one: its user dictionary would be shared
    with every other caller), initialised eagerly so the first message is not slow."""

    def __init__(self, rules: IntakeRules, userdict: Path | None = None) -> None:
        self.rules = rules
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self._tokenizer.load_userdict(str(userdict or default_userdict()))
        for word in rules.all_keywords:
            if len(word) > 1 and _WORDLIKE.search(word):
                self._tokenizer.add_word(word, freq=2000)
        self._category_order = {c.key: i for i, c in enumerate(rules.categories)}
        self._lock = threading.Lock()  # jieba's tokenizer is not safe to share across threads
        self._locations = LocationExtractor(rules.places)
        self._keyword_index: dict[str, list[tuple[str, float]]] = {}
        for key, cat in rules.by_category.items():
            for word, weight in cat.keywords.items():
                self._keyword_index.setdefault(word.lower(), []).append((key, weight))
        # Every pattern in one list, screened once per message (see screen.py); the ranges say
        # which rule each index belongs to, in the order the rules file gives them.
        self._category_patterns = [(wp.pattern, key, wp.weight)
                                   for key, cat in rules.by_category.items()
                                   for wp in cat.patterns]
        self._veto_patterns = [(reason, p) for reason, pats in rules.vetoes.items()
                               for p in pats]
        patterns = ([p for p, _, _ in self._category_patterns]
                    + [wp.pattern for wp in rules.signal_patterns]
                    + [t.pattern for t in rules.urgent_triggers]
                    + [p for _, p in self._veto_patterns])
        self._n_category = len(self._category_patterns)
        self._n_signal = self._n_category + len(rules.signal_patterns)
        self._n_urgent = self._n_signal + len(rules.urgent_triggers)
        self._n_veto = self._n_urgent + len(self._veto_patterns)
        patterns += list(rules.calm)
        self._n_calm = self._n_veto + len(rules.calm)
        # The tie-break families go last, each split into its alternatives (a family is a long
        # list of words, and one search of the whole list tries every word at every place):
        # only the alternatives whose keys occur are searched.
        self._family_alts = [(name, re.compile(alt, pattern.flags))
                             for name, pattern in rules.families.items()
                             for alt in alternatives(pattern.pattern)]
        patterns += [p for _, p in self._family_alts]
        self._screen = Screen(patterns)
        # what --explain and the case page say about a message passed over unread
        self._empty = phrases("intake_filters", WEB_TEMPLATES)("empty")
        self._too_long = phrases("intake_filters", WEB_TEMPLATES)(
            "too_long", limit=rules.max_request_chars)
        # each principle with the families it looks at, its `when` ones first
        self._tiebreaks = [(tb, (*tb.when, *tb.unless), frozenset(tb.when))
                           for tb in rules.tiebreaks]
        self._bounds = (self._n_category, self._n_signal, self._n_urgent, self._n_veto,
                        self._n_calm)
        # one look-up per distinct token: its category keywords and its problem signal
        self._token_table: dict[str, tuple[tuple[tuple[str, float], ...], float | None]] = {
            word: (tuple(self._keyword_index.get(word, ())), rules.signals.get(word))
            for word in set(self._keyword_index) | set(rules.signals)}

    @classmethod
    def default(cls) -> Classifier:
        return cls(load_rules())

    def tokens(self, text: str) -> list[str]:
        with self._lock:
            return self._tokenizer.lcut(text)

    def content_words(self, raw_text: str) -> frozenset[str]:
        """What a report is about, for comparing two reports of the same problem: its category
        keywords (楼道灯, 电梯) when it has any, else its words of two characters or more that
        are not problem signals (坏了, 好几天) or numbers."""
        words = [t.lower() for t in self.tokens(normalise(raw_text or ""))]
        topic = frozenset(w for w in words if w in self._keyword_index and len(w) > 1)
        if topic:
            return topic
        return frozenset(w for w in words if len(w) > 1 and _WORDLIKE.search(w)
                         and not w.isdigit() and w not in self.rules.signals)

    def is_me_too(self, raw_text: str) -> bool:
        text = normalise(raw_text or "")
        return any(p.search(text) for p in self.rules.duplicates.me_too)

    def locate(self, raw_text: str) -> Location | None:
        return self._locations.extract(normalise(raw_text or ""))

    def classify(self, raw_text: str) -> Decision:
        text = normalise(raw_text or "")
        if not _WORDLIKE.search(text):
            return self._silent(raw_text, "empty", self._empty)
        if len(text) > self.rules.max_request_chars:
            return self._silent(raw_text, "too-long", self._too_long)

        seen = dict.fromkeys(self.tokens(text.lower()))  # distinct tokens, in order
        hits: list[Hit] = []
        scores: dict[str, float] = {}
        signal = 0.0
        signal_hits: list[Hit] = []
        table = self._token_table
        for tok in seen:
            if (entry := table.get(tok)) is None:
                continue
            keywords, w = entry
            for key, weight in keywords:
                scores[key] = scores.get(key, 0.0) + weight
                hits.append(Hit("keyword", tok, key, weight))
            if w is not None:
                signal += w
                signal_hits.append(Hit("signal", tok, None, w))
        candidates = self._screen.candidates(text)  # sorted: split by the section bounds
        n_cat, n_sig, n_urg, n_veto, n_calm = self._bounds
        a = bisect_left(candidates, n_cat)
        b = bisect_left(candidates, n_sig, a)
        c = bisect_left(candidates, n_urg, b)
        d = bisect_left(candidates, n_veto, c)
        e = bisect_left(candidates, n_calm, d)
        signal_ids = [i - n_cat for i in candidates[a:b]]
        urgent_ids = [i - n_sig for i in candidates[b:c]]
        veto_ids = [i - n_urg for i in candidates[c:d]]
        calm_ids = [i - n_veto for i in candidates[d:e]]
        families: dict[str, list[re.Pattern[str]]] = {}
        for i in candidates[e:]:
            name, alt = self._family_alts[i - n_calm]
            families.setdefault(name, []).append(alt)
        for i in candidates[:a]:
            pattern, key, weight = self._category_patterns[i]
            if pattern.search(text):
                scores[key] = scores.get(key, 0.0) + weight
                hits.append(Hit("pattern", pattern.pattern, key, weight))
        hits += signal_hits
        for i in signal_ids:
            wp = self.rules.signal_patterns[i]
            if m := wp.pattern.search(text):
                signal += wp.weight
                hits.append(Hit("signal", m.group(0), None, wp.weight))
        for ch in ("?", "？"):
            if ch in text and ch not in seen and (w := self.rules.signals.get(ch)):
                signal += w
                hits.append(Hit("signal", ch, None, w))

        urgent_category = self._urgent(text, hits, urgent_ids)

        # the best category (ties go to the one listed first in categories.toml), and the
        # runner-up's score
        best_key: str | None = None
        best = second = 0.0
        order = self._category_order
        for key, score in scores.items():
            if best_key is None or score > best or (
                    score == best and order.get(key, 99) < order.get(best_key, 99)):
                if best_key is not None:
                    second = best
                best_key, best = key, score
            elif score > second:
                second = score

        if urgent_category:
            # An emergency is never silenced. The danger named by the trigger (smoke, a fight)
            # counts as much as one clear keyword for its category, so a fight with blood is a
            # security case, not a call for medical help; clearer keywords still win.
            bonus = self.rules.urgent_bonus
            scores[urgent_category] = scores.get(urgent_category, 0.0) + bonus
            hits.append(Hit("urgent", "danger", urgent_category, bonus))
            category = max(scores.items(), key=lambda kv: (kv[1], -self._order(kv[0])))[0]
            category = self._tiebreak(text, category, hits, families, urgent=True)
            return Decision(raw_text, True, category, True, self._locations.extract(text),
                            0.95, tuple(hits), scores, "urgent")

        # A clear topic without a problem signal (路灯黑了半个月, 高龄补贴今年还发不发) is still a
        # request in a grid group, unless it sounds calm: praise, a plan, a tip.
        topic_only = (best_key is not None and signal <= 0
                      and self.rules.topic_score <= best < self.rules.strong_score)
        candidate = (
            best_key is not None
            and best >= self.rules.request_score
            and (signal > 0 or best >= self.rules.strong_score or topic_only)
        )
        # vetoes only matter for what would otherwise be a request
        veto = self._veto(text, hits, veto_ids) if candidate else None
        if candidate and veto is None and signal < self.rules.calm_signal:
            veto = self._calm(text, hits, calm_ids)
        is_request = candidate and veto is None
        if not is_request:
            reason = veto or ("no-category" if best_key is None else "weak")
            return Decision(raw_text, False, None, False, None,
                            _confidence(best, second, signal, self.rules.request_score, False),
                            tuple(hits), scores, reason)
        category = self._tiebreak(text, best_key, hits, families, urgent=False)
        return Decision(raw_text, True, category, False, self._locations.extract(text),
                        _confidence(best, second, signal, self.rules.request_score, True),
                        tuple(hits), scores, "request")

    def _urgent(self, text: str, hits: list[Hit], ids: list[int]) -> str | None:
        for i in ids:
            trig = self.rules.urgent_triggers[i]
            for m in trig.pattern.finditer(text):
                if unreal := self._unreal(text, m.start(), m.end()):
                    hits.append(Hit("urgent-negation", f"{unreal} … {m.group(0)}"))
                    continue
                for neg in self.rules.urgent_negations:
                    if neg.search(text):
                        hits.append(Hit("urgent-negation", neg.pattern))
                        return None
                hits.append(Hit("urgent", m.group(0), trig.category))
                return trig.category
        return None

    def _unreal(self, text: str, start: int, end: int) -> str | None:
        """A word shortly before a danger, in the same clause, that says it is not happening
        now: 万一起火, 真着火了, 别哪天掉下来, 去年着火. A long trigger (电梯…真困住) can span
        clauses, so its last clause is looked at too. None when the danger is real."""
        before = text[max(0, start - self.rules.urgent_window):start]
        inside = _CLAUSE_END.split(text[start:end])
        clauses = [_CLAUSE_END.split(before)[-1], *inside[-1:][:len(inside) - 1]]
        for clause in clauses:
            for p in self.rules.urgent_unreal:
                if m := p.search(clause):
                    return m.group(0)
        return None

    def _tiebreak(self, text: str, category: str, hits: list[Hit],
                  possible: dict[str, list[re.Pattern[str]]], *, urgent: bool) -> str:
        """The first principle (rules file, [[tiebreaks]]) that applies decides between the
        categories the words support. A family is searched only when a rule needs it and the
        screen says it can occur (`possible`), and once per message."""
        found: dict[str, bool] = {}
        for tb, names, when in self._tiebreaks:
            if ((category not in tb.over and category != tb.category)
                    or (urgent and not tb.urgent) or (tb.only_urgent and not urgent)):
                continue
            applies = True
            for name in names:
                if (hit := found.get(name)) is None:
                    alts = possible.get(name)
                    hit = found[name] = alts is not None and any(a.search(text) for a in alts)
                if hit != (name in when):
                    applies = False
                    break
            if not applies:
                continue
            # the first principle that applies decides, even when it keeps the category
            if tb.category != category:
                hits.append(Hit("tiebreak", tb.name, tb.category))
            return tb.category
        return category

    def _calm(self, text: str, hits: list[Hit], ids: list[int]) -> str | None:
        for i in ids:
            p = self.rules.calm[i]
            if p.search(text):
                hits.append(Hit("veto", f"calm: {p.pattern}"))
                return "calm"
        return None

    def _veto(self, text: str, hits: list[Hit], ids: list[int]) -> str | None:
        for i in ids:
            reason, p = self._veto_patterns[i]
            if p.search(text):
                if any(e.search(text) for e in self.rules.veto_exceptions.get(reason, ())):
                    continue
                hits.append(Hit("veto", f"{reason}: {p.pattern}"))
                return reason
        return None

    def _order(self, key: str) -> int:
        return self._category_order.get(key, 99)

    def _silent(self, raw_text: str, reason: str, rule: str) -> Decision:
        return Decision(raw_text, False, None, False, None, 0.99,
                        (Hit("filter", rule),), {}, reason)


def _confidence(best: float, second: float, signal: float, threshold: float,
                request: bool) -> float:
    """A readable 0..1 figure: how far the evidence is from the line, and how clear the winner."""
    if request:
        margin = min(1.0, (best + signal - threshold) / (2 * threshold))
        clarity = best / (best + second) if best else 0.0
        return round(0.5 + 0.45 * margin * clarity, 2)
    if best <= 0:
        return 0.95
    return round(max(0.5, 0.95 - 0.45 * min(1.0, best / threshold)), 2)
