"""The sentences kept as macros (templates/chat/notice_errors.j2, refusals.j2, event_notes.j2,
formats.j2, templates/web/roster_messages.j2, account_messages.j2, api_messages.j2,
intake_filters.j2, and messages.j2 as far as the dashboard names its keys in the call) against
the code that names them: every key the code raises or renders
has its macro, with the variables the code passes, and every macro renders to a sentence. A
misspelt key would otherwise surface only when a person hits that path.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from handlers.notices.compose import VARIABLES
from handlers.texts import CHAT_TEMPLATES, WEB_TEMPLATES, Phrases

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for top in ("bot", "handlers", "storage") for p in (ROOT / top).rglob("*.py"))

#: what the code calls -> the template whose macro its first argument names (subclasses of
#: these exceptions, such as NoticeForbidden, are found below)
CALLS = {
    "NoticeError": "notice_errors",
    "refusal": "refusals", "Permission": "refusals",
    "event_note": "event_notes",
    "RosterError": "roster_messages", "roster_text": "roster_messages",
    "AccountError": "account_messages",
    "api_text": "api_messages", "InputError": "api_messages", "SimInputError": "api_messages",
    "BadFilter": "api_messages",
    "formats": "formats",
}
TEMPLATES = {"notice_errors": CHAT_TEMPLATES, "refusals": CHAT_TEMPLATES,
             "event_notes": CHAT_TEMPLATES, "formats": CHAT_TEMPLATES,
             "roster_messages": WEB_TEMPLATES, "account_messages": WEB_TEMPLATES,
             "api_messages": WEB_TEMPLATES, "intake_filters": WEB_TEMPLATES}


@dataclass(frozen=True)
class Use:
    template: str
    key: str
    keywords: frozenset[str]
    open_ended: bool  # **variables passed on: the keywords are only some of them
    where: str


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _template_of(call: ast.Call) -> str | None:
    """``NoticeError("key", ...)`` and the like, or ``phrases("name", ...)("key", ...)``."""
    if isinstance(call.func, ast.Call) and _name(call.func.func) == "phrases":
        first = call.func.args[0] if call.func.args else None
        return first.value if isinstance(first, ast.Constant) else None
    return CALLS.get(_name(call.func) or "")


TREES = {path: ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}


def _subclasses() -> None:
    """RuleError(NoticeError) and the like raise their parent's keys."""
    classes = [node for tree in TREES.values() for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)]
    for _ in range(3):  # subclasses of subclasses
        for node in classes:
            parents = [CALLS[b] for b in map(_name, node.bases) if b in CALLS]
            if parents:
                CALLS.setdefault(node.name, parents[0])


def uses() -> Iterator[Use]:
    _subclasses()
    for path, tree in TREES.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            template = _template_of(node)
            key = node.args[0]
            if template is None or not (isinstance(key, ast.Constant)
                                        and isinstance(key.value, str)):
                continue  # a key passed on from elsewhere is checked where it is written
            yield Use(template, key.value,
                      frozenset(k.arg for k in node.keywords if k.arg is not None),
                      any(k.arg is None for k in node.keywords),
                      f"{path.relative_to(ROOT)}:{node.lineno}")


USES = list(uses())


def phrases_of(template: str) -> Phrases:
    return Phrases(template, TEMPLATES.get(template, CHAT_TEMPLATES))


def test_the_scan_finds_the_code_that_names_each_template() -> None:
    found = {u.template for u in USES}
    assert set(TEMPLATES) <= found, set(TEMPLATES) - found


@pytest.mark.parametrize("use", USES, ids=lambda u: f"{u.template}.{u.key}@{u.where}")
def test_every_key_in_the_code_has_its_macro_taking_the_variables_given(use: Use) -> None:
    macros = phrases_of(use.template).macros()
    assert use.key in macros, f"{use.where}: {use.template}.j2 has no macro {use.key!r}"
    arguments = set(macros[use.key])
    if use.open_ended:
        assert use.keywords <= arguments, f"{use.where}: {use.keywords - arguments} unknown"
    else:
        assert use.keywords == arguments, (
            f"{use.where}: passes {sorted(use.keywords)}, {use.key} takes {sorted(arguments)}")


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_macro_is_named_by_the_code(template: str) -> None:
    """No sentence left behind when the code stopped saying it."""
    named = {u.key for u in USES if u.template == template}
    assert set(phrases_of(template).macros()) - named == set()


class Sample(str):
    """Stands for any variable: text, a number or a list of names."""


def _sample(value: object) -> object:
    return Sample(value) if isinstance(value, str) else value


#: variables that must be one of a few words, or a number (an average may be unknown)
CHOICES: dict[str, tuple[object, ...]] = {
    "field": ("street", "community", "grid", "name"), "place": ("community", "grid"),
    "level": ("street", "community", "grid"),
    "hours": (None, 0.75, 1.5), "minutes": (15, 90, 120),
    "names": (VARIABLES,)}  # a notice body's variables, each with its meaning in the hint


#: every template of macros, messages.j2 too (its keys are checked forward only, below)
RENDERED = {**TEMPLATES, "messages": WEB_TEMPLATES}


@pytest.mark.parametrize(("template", "key"), [
    (t, k) for t in sorted(RENDERED) for k in sorted(Phrases(t, RENDERED[t]).macros())])
def test_every_macro_renders_to_a_sentence(template: str, key: str) -> None:
    texts = Phrases(template, RENDERED[template])
    arguments = texts.macros()[key]
    choices = [CHOICES.get(name, ("7",)) for name in arguments]
    for i in range(max(len(c) for c in choices) if choices else 1):
        values = {name: _sample(c[i % len(c)]) for name, c in zip(arguments, choices,
                                                                   strict=True)}
        text = texts(key, **values)
        if key == "anyone":  # the permission everyone has is never refused
            assert text == ""
            continue
        assert text and "None" not in text, text


def web_says() -> Iterator[tuple[str, frozenset[str], bool, str]]:
    """The dashboard's ``say(request, "key", ...)`` (templates/web/messages.j2)."""
    for path, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == "say" and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant):
                yield (node.args[1].value,
                       frozenset(k.arg for k in node.keywords if k.arg is not None),
                       any(k.arg is None for k in node.keywords),
                       f"{path.relative_to(ROOT)}:{node.lineno}")


def test_the_dashboard_says_only_what_messages_j2_has() -> None:
    """Forward only: some of its keys are handed back as data (``return "added", {...}``)."""
    macros = Phrases("messages", WEB_TEMPLATES).macros()
    says = list(web_says())
    assert says, "the scan finds the dashboard's say() calls"
    for key, keywords, open_ended, where in says:
        assert key in macros, f"{where}: messages.j2 has no macro {key!r}"
        arguments = set(macros[key])
        assert keywords <= arguments if open_ended else keywords == arguments, (
            f"{where}: passes {sorted(keywords)}, {key} takes {sorted(arguments)}")


def test_a_missing_macro_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match=r"event_notes\.j2 has no macro 'no_such_note'"):
        phrases_of("event_notes")("no_such_note")


def test_the_import_report_says_what_each_row_did() -> None:
    text = phrases_of("roster_messages")
    args = {"grid": "幸福里第三网格", "room": "", "role": "", "person": ""}
    assert text("row_imported", **{**args, "new_grid": True}) == "新建网格“幸福里第三网格”"
    assert text("row_imported", **{**args, "new_grid": True, "room": "r1@chatroom",
                                   "role": "网格长", "person": "老钱"}) == (
        "新建网格“幸福里第三网格”；群 r1@chatroom 绑定到该网格；登记网格长老钱")
    assert text("row_imported", **{**args, "new_grid": False}) == (
        "网格“幸福里第三网格”已存在，无需改动")


def test_formats_write_moments_days_and_durations_as_people_do() -> None:
    text = phrases_of("formats")
    assert text("moment", month=11, day=5, time="09:05", today=True) == "今天09:05"
    assert text("moment", month=11, day=5, time="09:05", today=False) == "11月5日 09:05"
    assert text("period", first_month=11, first_day=30, last_month=12, last_day=6) == (
        "11月30日—12月6日")
    assert [text("duration", hours=h, spaced=False) for h in (None, 0.75, 1, 2.5)] == [
        "—", "45分钟", "1.0小时", "2.5小时"]
    assert text("duration", hours=0.5, spaced=True) == "30 分钟"
    assert [text("promise", minutes=m, working=w) for m, w in (
        (15, True), (90, True), (120, True), (120, False), (0, False))] == [
        "15分钟", "90分钟", "2个工作小时", "2小时", "0分钟"]


@pytest.mark.parametrize(("everyone", "names", "tags", "said"), [
    (True, ["幸福里社区"], (), "全部居民群"),
    (False, ["幸福里社区", "第三网格"], (), "幸福里社区、第三网格"),
    (False, ["幸福里社区"], ("老旧小区", "电梯楼"), "幸福里社区、标签“老旧小区”、标签“电梯楼”"),
    (False, [], ("老旧小区",), "标签“老旧小区”"),
])
def test_a_notices_audience_is_named_as_staff_gave_it(everyone: bool, names: list[str],
                                                      tags: tuple[str, ...], said: str) -> None:
    assert phrases_of("formats")("audience", everyone=everyone, names=names, tags=tags) == said


def test_an_open311_status_note_says_the_state_the_merge_and_the_note() -> None:
    text = phrases_of("api_messages")
    assert text("open311_status_notes", state="已办结，待评价", merged_into=None,
                note="已更换灯泡") == "已办结，待评价：已更换灯泡"
    assert text("open311_status_notes", state="已合并", merged_into=12, note="") == (
        "已合并，并入 12")
    assert text("open311_status_notes", state="待受理", merged_into=None, note="") == "待受理"


def test_an_http_error_without_its_own_sentence_is_a_bad_request() -> None:
    text = phrases_of("api_messages")
    assert text("http_error", status=405) == "不支持这个请求方法"
    assert text("http_error", status=418) == "请求有误"
