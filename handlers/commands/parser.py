"""Recognising a command in a chat message, and pulling out what it names.

Tolerant of how people type on phones: full-width characters (＃１２, ／), a leading "/", an
@-mention of the bot or anyone before the command, "#12" or "12" or "12号", extra spaces. A message
that starts like a command but lacks a part is returned as malformed, so the person gets the
command's right form instead of silence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from storage.models import Satisfaction


@dataclass(frozen=True)
class Spec:
    name: str  # the action key
    word: str  # the Chinese command word
    usage: str  # the right form, shown when malformed
    needs_no: bool = False
    needs_second_no: bool = False
    needs_text: str | None = None  # what the free text is called, if required
    needs_target: bool = False  # an @person


SPECS = [
    Spec("accept", "接单", "接单 #工单号", needs_no=True),
    Spec("progress", "进度", "进度 #工单号 进展内容", needs_no=True, needs_text="进展内容"),
    Spec("dispatch", "转办", "转办 #工单号 部门 [说明]", needs_no=True, needs_text="部门"),
    Spec("resolve", "办结", "办结 #工单号 办理结果", needs_no=True, needs_text="办理结果"),
    Spec("reject", "退回", "退回 #工单号 理由", needs_no=True, needs_text="理由"),
    Spec("merge", "合并", "合并 #工单号 #保留的工单号", needs_no=True, needs_second_no=True),
    Spec("assign", "指派", "指派 #工单号 @网格员", needs_no=True, needs_target=True),
    Spec("todo", "待办", "待办"),
    Spec("show", "查", "查 #工单号", needs_no=True),
    Spec("query", "查询", "查询 #工单号", needs_no=True),
    Spec("mine", "我的工单", "我的工单"),
    Spec("urge", "催办", "催办 #工单号", needs_no=True),
    Spec("rate", "评价", "评价 #工单号 满意/基本满意/不满意", needs_no=True, needs_text="评价"),
    Spec("recategorize", "改类", "改类 #工单号 类别（如：市政设施）", needs_no=True,
         needs_text="类别"),
    Spec("dismiss", "不是工单", "不是工单 #工单号", needs_no=True),
    Spec("bind", "绑定网格", "绑定网格 网格名称（在要绑定的群里发送）", needs_text="网格名称"),
    Spec("publish", "发布通知", "发布通知 对象 标题（换行后写正文）", needs_text="对象和标题"),
    Spec("confirm_publish", "确认发布", "确认发布"),
    Spec("cancel_publish", "取消发布", "取消发布"),
    Spec("help", "帮助", "帮助"),
]
BY_NAME = {s.name: s for s in SPECS}
# Longest word first, so 查询 wins over 查 and 我的工单 is not read as something shorter.
_WORDS = sorted(SPECS, key=lambda s: len(s.word), reverse=True)

RATINGS = {
    "满意": Satisfaction.SATISFIED, "非常满意": Satisfaction.SATISFIED,
    "很满意": Satisfaction.SATISFIED, "挺满意": Satisfaction.SATISFIED,
    "基本满意": Satisfaction.BASIC, "还行": Satisfaction.BASIC, "一般": Satisfaction.BASIC,
    "不满意": Satisfaction.UNSATISFIED, "不太满意": Satisfaction.UNSATISFIED,
    "很不满意": Satisfaction.UNSATISFIED, "非常不满意": Satisfaction.UNSATISFIED,
}
# A bare rating, or a rating, a separator and a comment: 不满意，灯还是不亮
_RATING_ONLY = re.compile(
    r"^(?P<r>" + "|".join(sorted(map(re.escape, RATINGS), key=len, reverse=True)) +
    r")(?:[\s!！。.~～👍🙏]*$|[\s,，。!！;；:：]+(?P<comment>.+)$)")
_LEADING_MENTIONS = re.compile(r"^(?:@[^\s@\u2005]+[\s\u2005]*)+")
_NO = re.compile(r"^#?\s*(\d{1,9})\s*号?")
_MENTION = re.compile(r"@([^\s@\u2005]+)")


@dataclass(frozen=True)
class Command:
    spec: Spec
    no: int | None = None
    second_no: int | None = None
    text: str = ""
    target: str | None = None
    rating: Satisfaction | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def malformed(self) -> bool:
        return bool(self.missing)


# Full-width digits, letters, ＃ ／ ＠ and the ideographic space become ASCII; Chinese punctuation
# in a worker's note (，。！) is left as written.
_HALF = {c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF10, 0xFF1A)}
_HALF.update({c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF21, 0xFF3B)})
_HALF.update({c: unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF41, 0xFF5B)})
_HALF.update({ord("＃"): "#", ord("／"): "/", ord("＠"): "@", 0x3000: " ", 0x2005: " "})


def normalise(text: str) -> str:
    return re.sub(r"[ \t]+", " ", (text or "").translate(_HALF)).strip()


def parse(raw: str) -> Command | None:
    """The command in a message, or None when it is not one (then intake reads it)."""
    text = _LEADING_MENTIONS.sub("", normalise(raw)).strip()
    if m := _RATING_ONLY.match(text):
        return Command(BY_NAME["rate"], rating=RATINGS[m["r"]], text=(m["comment"] or "").strip())
    slash = text.startswith("/")
    text = text.lstrip("/").strip()
    for spec in _WORDS:
        if not text.startswith(spec.word):
            continue
        rest = text[len(spec.word):]
        # 进度怎么样了 or 帮助一下老人 are sentences, not commands: the word must stand alone
        if rest and not slash and not re.match(r"[\s#\d]", rest):
            return None
        return _arguments(spec, rest.strip())
    return None


def _arguments(spec: Spec, rest: str) -> Command:
    missing: list[str] = []
    no = second = None
    if spec.needs_no:
        if m := _NO.match(rest):
            no, rest = int(m[1]), rest[m.end():].strip()
        else:
            missing.append("工单号")
    if spec.needs_second_no:
        if m := _NO.match(rest):
            second, rest = int(m[1]), rest[m.end():].strip()
        else:
            missing.append("第二个工单号")
    target = None
    if spec.needs_target:
        if m := _MENTION.search(rest):
            target = m[1]
        elif rest:
            target = rest.split()[0]
        else:
            missing.append("被指派人")
    rating = None
    if spec.name == "rate" and rest:
        rating = RATINGS.get(rest.split()[0])
        if rating is None:
            missing.append("评价（满意/基本满意/不满意）")
    if spec.needs_text and not rest:
        missing.append(spec.needs_text)
    return Command(spec, no=no, second_no=second, text=rest, target=target, rating=rating,
                   missing=tuple(missing))
