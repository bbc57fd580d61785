"""Where a resident says the problem is.

Residents write the same building as 3号楼, 三号楼, 3栋, 3幢 or 3#, and a flat as 3-2-501 or
三单元五零一. Everything is normalised to one form (``3号楼2单元501室``) so that duplicates can be
matched and the ledger can be sorted. Gates and named places (from the rules file) come next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_CN = "零〇一二两三四五六七八九十百"
_NUM = rf"(?:\d{{1,3}}|[{_CN}]{{1,4}})"


def cn_to_int(text: str) -> int | None:
    """Parse 3 / 三 / 十二 / 二十三 / 一百零五, or a digit-by-digit 五零一; None if not a number."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN for ch in text):
        return None
    if "十" not in text and "百" not in text:
        # digit by digit, as rooms are read out: 五零一 -> 501
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _DIGITS[ch]
    return total + current


_HYPHENATED = re.compile(r"(?<![\d.])(\d{1,3})\s*[-－—]\s*(\d{1,2})\s*[-－—]\s*(\d{3,4})(?!\d)")
_BUILDING = re.compile(
    rf"(?<![\d{_CN}])(?P<n>{_NUM})\s*(?:号\s*楼|栋|幢|座|#|＃)"
)
_BUILDING_MARKS = re.compile(r"[号栋幢座#＃]")
_UNIT = re.compile(rf"(?<![\d{_CN}])(?P<n>{_NUM})\s*单元")
_ROOM_AFTER = re.compile(rf"\s*(?:的|[-－])?\s*(?P<n>\d{{3,4}}|[{_CN}]{{3,4}})(?:\s*(?:室|号|房))?")
_ROOM_ALONE = re.compile(r"(?<![\d.:：])(?P<n>\d{3,4})\s*(?:室|房间|号房)")
_ROOM_AT_HOME = re.compile(  # 俺家六零一: a room named after "my home"
    rf"(?:俺家|我家|他家|她家|咱家)\s*(?P<n>\d{{3,4}}|[{_CN}]{{3,4}})(?![\d{_CN}])")
_PAIR = re.compile(  # 6-2的楼道灯, 5-1电梯: building-unit, units being single digits
    r"(?<![\d.\-－—])(\d{1,2})\s*[-－—]\s*([1-9])(?![\d\-－—号点:：月日时])(?=[\u4e00-\u9fff\s]|$)")
# 502的 / 502家: a flat by its number (a floor, then 01-24: not 300的押金)
_ROOM_OWNER = re.compile(
    r"(?<![\d.:：\-－—])(?P<n>[1-9]\d?(?:0[1-9]|1\d|2[0-4]))(?=的|家)")
_GATE = re.compile(r"(?P<g>(?:东|南|西|北|正|后|侧|大)门|(?<![\d])\d{1,2}\s*号门)")


@dataclass(frozen=True)
class Location:
    building: int | None = None
    unit: int | None = None
    room: int | None = None
    gate: str | None = None
    place: str | None = None

    def __str__(self) -> str:
        if self.building or self.unit or self.room:
            parts = []
            if self.building:
                parts.append(f"{self.building}号楼")
            if self.unit:
                parts.append(f"{self.unit}单元")
            if self.room:
                parts.append(f"{self.room}室")
            return "".join(parts)
        return self.gate or self.place or ""

    @property
    def masked(self) -> str:
        """The form for group posts: building and unit, never the full room number."""
        if self.room and (self.building or self.unit):
            return str(Location(building=self.building, unit=self.unit))
        if self.room:
            return "住户家中"
        return str(self)


class LocationExtractor:
    def __init__(self, places: Iterable[str]) -> None:
        # Longest first, so 地下车库 wins over 车库.
        self._places = sorted({p for p in places if p}, key=len, reverse=True)
        self._place_re = (
            re.compile("|".join(re.escape(p) for p in self._places)) if self._places else None
        )

    def extract(self, text: str) -> Location | None:
        # Each form is searched only when a character it needs occurs (a dash, 号/栋/#,
        # 单元, 室, 家, 门): most messages name no building, and the searches are the cost.
        dash = "-" in text or "－" in text or "—" in text
        if dash and (m := _HYPHENATED.search(text)):
            return Location(int(m[1]), int(m[2]), int(m[3]))
        building = unit = room = None
        end = 0
        if _BUILDING_MARKS.search(text) and (bm := _BUILDING.search(text)):
            building, end = cn_to_int(bm["n"]), bm.end()
        um = _UNIT.search(text, end if building else 0) if "单元" in text else None
        if um and (not building or um.start() - end <= 2):  # 3号楼2单元, not a stray 单元 later
            unit, end = cn_to_int(um["n"]), um.end()
        if not (building or unit) and dash and (pm := _PAIR.search(text)):
            building, unit, end = int(pm[1]), int(pm[2]), pm.end()
        if building or unit:
            if rm := _ROOM_AFTER.match(text, end):
                room = cn_to_int(rm["n"])
        elif rm := ((_ROOM_ALONE.search(text) if "室" in text or "房" in text else None)
                    or (_ROOM_AT_HOME.search(text) if "家" in text else None)
                    or (_ROOM_OWNER.search(text) if "的" in text or "家" in text else None)):
            room = cn_to_int(rm["n"])
        if building or unit or room:
            return Location(building=building, unit=unit, room=room)
        if "门" in text and (gm := _GATE.search(text)):
            return Location(gate=re.sub(r"\s+", "", gm["g"]))
        if self._place_re and (pm := self._place_re.search(text)):
            return Location(place=pm.group(0))
        return None
