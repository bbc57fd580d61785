"""Skipping the rules that cannot match a message, by the characters they must start with.

Most rule patterns begin with a word (楼道, 电梯, 井盖) and a message contains few of those
words' first characters, so searching only the patterns whose possible first characters occur
in the message gives the same answers with a fraction of the searches. That keeps the
classifier fast as staff add rules. A pattern whose first character cannot be known (it starts
with `.` or can match nothing at all) is always searched.
"""

from __future__ import annotations

import re
import re._constants as sre_c  # the parsed form of a pattern: stable since Python 3.11
import re._parser as sre_parse
from collections.abc import Iterable, Sequence
from typing import Any

_MAX_CLASS = 256  # a wider character class is treated as "any character"


def first_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Every character a match of `pattern` can begin with, or None when that is not known."""
    try:
        chars, nullable = _seq(list(sre_parse.parse(pattern.pattern, pattern.flags)))
    except _Unknown:
        return None
    if nullable or not chars:
        return None
    if pattern.flags & re.IGNORECASE:
        chars = chars | {c.lower() for c in chars} | {c.upper() for c in chars}
    return frozenset(chars)


class _Unknown(Exception):
    pass


def _seq(items: Iterable[tuple[Any, Any]]) -> tuple[set[str], bool]:
    """First characters of a sequence of parsed items, and whether it can match nothing."""
    chars: set[str] = set()
    for op, av in items:
        first, nullable = _item(op, av)
        chars |= first
        if not nullable:
            return chars, False
    return chars, True


def _item(op: Any, av: Any) -> tuple[set[str], bool]:
    if op is sre_c.LITERAL:
        return {chr(av)}, False
    if op is sre_c.IN:
        chars: set[str] = set()
        for sub_op, sub_av in av:
            if sub_op is sre_c.LITERAL:
                chars.add(chr(sub_av))
            elif sub_op is sre_c.RANGE and sub_av[1] - sub_av[0] < _MAX_CLASS:
                chars.update(chr(c) for c in range(sub_av[0], sub_av[1] + 1))
            else:
                raise _Unknown
        return chars, False
    if op is sre_c.SUBPATTERN:
        return _seq(av[-1])
    if op is sre_c.BRANCH:
        chars, nullable = set(), False
        for branch in av[1]:
            first, empty = _seq(branch)
            chars |= first
            nullable = nullable or empty
        return chars, nullable
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        first, empty = _seq(sub)
        return first, empty or low == 0
    if op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):
        return set(), True  # zero-width: the first character comes from what follows
    raise _Unknown  # any character, a negated class, a back-reference…


_END = "\0"  # marks a prefix after which anything may follow
_MAX_PREFIXES = 400


def prefixes(pattern: re.Pattern[str], k: int = 2) -> frozenset[str] | None:
    """The first `k` characters a match can begin with (shorter where the pattern allows any
    character next), or None when not even the first character is known. Case-insensitive
    patterns are left to `first_chars`."""
    if pattern.flags & re.IGNORECASE and any(c.isascii() and c.isalpha()
                                             for c in pattern.pattern):
        first = first_chars(pattern)
        return first
    try:
        found = _extend({""}, list(sre_parse.parse(pattern.pattern, pattern.flags)), k)
    except _Unknown:
        return first_chars(pattern)  # too many pairs (a digit class, say): first characters
    keys = frozenset(p.rstrip(_END) for p in found)
    if "" in keys:
        return None
    return keys


def screen_keys(pattern: re.Pattern[str]) -> tuple[frozenset[str] | None, bool]:
    """The keys to file a pattern under, and whether they must be at the text's start.

    Any match of `pattern` contains a match of every tail of its top-level sequence, so the
    beginnings of any tail will do: 人.{0,3}没气 is filed under 没气, not under 人, which
    occurs in every other message. The rarest-looking tail wins (pairs before single
    characters, then fewer keys); the whole pattern's beginnings are kept for `^` patterns."""
    first = prefixes(pattern)
    if anchored(pattern):
        return first, first is not None
    if pattern.flags & re.IGNORECASE and any(c.isascii() and c.isalpha()
                                             for c in pattern.pattern):
        return first, False
    try:
        items = list(sre_parse.parse(pattern.pattern, pattern.flags))
    except re.error:
        return first, False
    best = _best_keys(items)
    if best is None or (first is not None and _cost(first) <= _cost(best)):
        return first, False
    return best, False


def _cost(keys: frozenset[str]) -> int:
    return sum(1 if len(key) > 1 else 12 for key in keys)


def _best_keys(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    if len(items) == 1 and items[0][0] is sre_c.SUBPATTERN:
        return _best_keys(list(items[0][1][-1]))
    if len(items) == 1 and items[0][0] is sre_c.BRANCH:
        union: set[str] = set()
        for branch in items[0][1][1]:
            keys = _best_keys(list(branch))
            if keys is None:
                return None
            union |= keys
        return frozenset(union)
    best: frozenset[str] | None = None
    for j in range(len(items)):
        try:
            found = _extend({""}, items[j:], 2)
        except _Unknown:
            continue
        keys = frozenset(p.rstrip(_END) for p in found)
        if "" in keys:
            continue
        if best is None or _cost(keys) < _cost(best):
            best = keys
    return best


def anchored(pattern: re.Pattern[str]) -> bool:
    """Whether a pattern can only match at the start of the text (`^…`): then only the
    text's own first characters can make it a candidate."""
    if pattern.flags & re.MULTILINE:
        return False
    try:
        items = list(sre_parse.parse(pattern.pattern, pattern.flags))
    except re.error:
        return False
    return bool(items) and items[0][0] is sre_c.AT and items[0][1] in (
        sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_STRING)


def _extend(prefixes: set[str], items: Sequence[tuple[Any, Any]], k: int) -> set[str]:
    for op, av in items:
        grown: set[str] = set()
        for p in prefixes:
            if len(p) >= k or p.endswith(_END):
                grown.add(p)
            else:
                grown |= _extend_item(p, op, av, k)
        if len(grown) > _MAX_PREFIXES:
            raise _Unknown
        prefixes = grown
    return prefixes


def _extend_item(p: str, op: Any, av: Any, k: int) -> set[str]:
    if op is sre_c.LITERAL:
        return {p + chr(av)}
    if op is sre_c.IN:
        try:
            chars, _ = _item(op, av)
        except _Unknown:
            return {p + _END}
        return {p + c for c in chars}
    if op is sre_c.SUBPATTERN:
        return _extend({p}, av[-1], k)
    if op is sre_c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            out |= _extend({p}, branch, k)
        return out
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = av
        out = {p} if low == 0 else set()
        current = {p}
        for n in range(1, min(high, k + low) + 1):
            current = _extend(current, sub, k)
            if n >= low:
                out |= current
        if high > k + low:
            out |= {c + _END for c in current if len(c) < k and not c.endswith(_END)}
        return out
    if op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):
        return {p}
    if not p:
        raise _Unknown  # the very first character is unknown
    return {p + _END}


class Screen:
    """For a set of patterns, the ones worth searching in a given message: each pattern is
    filed under one- or two-character strings one of which every match contains (see
    `screen_keys`)."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self._always_list: list[int] = []
        self._by_char: dict[str, list[int]] = {}
        self._by_pair: dict[str, list[int]] = {}
        self._start: dict[str, list[int]] = {}  # anchored patterns, by the text's beginning
        for i, p in enumerate(patterns):
            keys, at_start = screen_keys(p)
            if keys is None:
                self._always_list.append(i)
                continue
            for key in keys:
                table = (self._start if at_start
                         else self._by_char if len(key) == 1 else self._by_pair)
                table.setdefault(key, []).append(i)
        self._always = frozenset(self._always_list)
        self._chars = frozenset(self._by_char)
        self._pairs = frozenset(self._by_pair)

    def candidates(self, text: str) -> list[int]:
        """Indexes of the patterns that may match `text`, in their order. The message's
        characters and two-character pairs are met with the index by set intersection, so the
        per-character work is done in C."""
        found = set(self._always).union(
            *map(self._by_char.__getitem__, self._chars.intersection(text)),
            *map(self._by_pair.__getitem__,
                 self._pairs.intersection(map(str.__add__, text, text[1:]))),
            self._start.get(text[:1], ()), self._start.get(text[:2], ()))
        return sorted(found)
