"""Bad input to every JSON route that takes any: wrong types, missing fields, unknown values,
malformed dates, huge pages and numbers, negative numbers, bodies that are not JSON or are too
big. Each gets a 4xx with ``{"error": "中文说明", "code": "machine_code"}`` — never a 500, never
a traceback — and changes nothing. (Open311 answers in its own spec's shape.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bot.web.app import UPLOAD_LIMIT
from tests.auxil.chat import report
from tests.auxil.dashboard import add_account, token_for
from tests.conftest import Harness, running_gridbot
from tests.test_authorization import snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUGE = "9" * 30  # beyond any integer column
BIG_ID = str(2**31)  # one past the largest id
CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z_]+$")


@dataclass
class Api:
    bot: Harness
    token: str  # the township admin's write token
    case: int
    notice: int

    async def send(self, method: str, path: str, *, json: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        resp = await self.bot.client.request(
            method, path, json=json, data=data,
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})})
        text = await resp.text()
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = None
        return resp.status, body, text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(module_stores: Callable[[], str], classifier: Any) -> AsyncIterator[Api]:
    async with running_gridbot(module_stores(), classifier) as bot:
        add_account(bot, "admin")
        token = token_for(bot, "admin", scope="write")
        no = await report(bot)
        resp = await bot.client.post("/api/notices", headers={"Authorization": f"Bearer {token}"},
                                     json={"title": "停水通知", "body": "周六停水。",
                                           "targets": {"all": True},
                                           "send_at": "2026-11-30T09:00:00+08:00"})
        assert resp.status == 201, await resp.text()
        yield Api(bot, token, no, (await resp.json())["id"])


def assert_clear_4xx(status: int, body: Any, text: str, expected: int | tuple[int, ...],
                     where: str) -> None:
    wanted = expected if isinstance(expected, tuple) else (expected,)
    assert status in wanted, f"{where}: {status} {text[:300]}"
    assert "Traceback" not in text and 'File "' not in text, where
    assert isinstance(body, dict), f"{where}: not a JSON object: {text[:200]}"
    assert isinstance(body.get("error"), str) and CJK.search(body["error"]), (where, body)
    assert isinstance(body.get("code"), str) and CODE.match(body["code"]), (where, body)


LEDGER_QUERIES = [
    {"status": "done"}, {"status": "OPEN"}, {"category": "weather"},
    {"urgent": "maybe"}, {"overdue": "2"}, {"grid": "火星网格"}, {"grid": HUGE},
    {"grid": BIG_ID}, {"community": "火星社区"}, {"community": HUGE}, {"from": "2026-13-01"},
    {"to": "yesterday"}, {"from": "2026-11-30", "to": "2026-11-01"}, {"from": "23/11/2026"},
    {"sort": "password"}, {"order": "up"}, {"limit": "0"}, {"limit": "-5"}, {"limit": "abc"},
    {"limit": "1001"}, {"limit": HUGE}, {"limit": "1e3"}, {"offset": "-1"}, {"offset": HUGE},
    {"offset": "x"},
]
STATS_QUERIES = [
    {"from": "2026-02-30"}, {"to": "next week"}, {"from": "2026-12-01", "to": "2026-11-01"},
    {"from": "2024-01-01", "to": "2026-01-01"}, {"grid": "火星网格"}, {"community": HUGE},
]


LEDGER_CASES = [(path, q) for path in ("/api/cases", "/api/cases/counts",
                                        "/api/cases/export.csv", "/api/cases/export.xlsx")
                for q in LEDGER_QUERIES
                if path == "/api/cases" or not set(q) & {"limit", "offset"}]  # paging: the list


@pytest.mark.parametrize(("path", "query"), LEDGER_CASES, ids=str)
async def test_ledger_filters(api: Api, path: str, query: dict[str, str]) -> None:
    status, body, text = await api.send("GET", path + "?" + "&".join(
        f"{k}={v}" for k, v in query.items()))
    assert_clear_4xx(status, body, text, 400, f"{path} {query}")
    assert body["code"] == "bad_filter"


@pytest.mark.parametrize("query", STATS_QUERIES, ids=str)
@pytest.mark.parametrize("path", ["/api/stats", "/api/stats/export.csv"])
async def test_figures_period(api: Api, path: str, query: dict[str, str]) -> None:
    status, body, text = await api.send("GET", path + "?" + "&".join(
        f"{k}={v}" for k, v in query.items()))
    assert_clear_4xx(status, body, text, 400, f"{path} {query}")


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/people?role=mayor", 400),
    ("/api/cases/abc", 400), ("/api/cases/-1", 400), (f"/api/cases/{HUGE}", 400),
    (f"/api/cases/{BIG_ID}", 400), ("/api/cases/0", 404), ("/api/cases/99999", 404),
    ("/api/notices/abc", 400), (f"/api/notices/{HUGE}", 400), ("/api/notices/99999", 404),
    ("/api/cases/export.pdf", (400, 404)),  # read as the case number "export.pdf"
    ("/api/stats/export.json", 404), ("/api/nothing", 404),
])
async def test_paths_and_values(api: Api, path: str, expected: int | tuple[int, ...]) -> None:
    status, body, text = await api.send("GET", path)
    assert_clear_4xx(status, body, text, expected, path)


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/cases"), ("DELETE", "/api/cases/1"),
                                              ("PATCH", "/api/notices/1"), ("POST", "/api/me")])
async def test_methods_a_route_does_not_take(api: Api, method: str, path: str) -> None:
    status, body, text = await api.send(method, path)
    assert_clear_4xx(status, body, text, 405, f"{method} {path}")


ACTION_BODIES: list[tuple[Any, int, str]] = [
    ("not json", 400, "bad_json"),
    (b"\xff\xfe\x00", 400, "bad_json"),
    ([1, 2], 400, "not_an_object"),
    ("null", 400, "not_an_object"),
    ({}, 400, "invalid_input"),
    ({"action": 5}, 400, "invalid_input"),
    ({"action": "fly"}, 400, "invalid_input"),
    ({"action": "progress"}, 400, "invalid_input"),  # no note
    ({"action": "progress", "note": ["a", "b"]}, 400, "invalid_input"),
    ({"action": "progress", "note": 12}, 400, "invalid_input"),
    ({"action": "progress", "note": "x" * 2001}, 400, "invalid_input"),
    ({"action": "progress", "note": "好", "password": "x"}, 400, "invalid_input"),
    ({"action": "dispatch", "department": "物业" * 51}, 400, "invalid_input"),
    ({"action": "assign", "assignee": "不存在的人"}, 422, "unknown_person"),
    ({"action": "assign", "assignee": {"name": "李娜"}}, 400, "invalid_input"),
    ({"action": "merge", "into": HUGE}, 400, "invalid_input"),
    ({"action": "merge", "into": BIG_ID}, 422, "unknown_case"),
    ({"action": "merge", "into": -3}, 422, "unknown_case"),
    ({"action": "merge", "into": True}, 400, "invalid_input"),
    ({"action": "recategorize", "category": "weather"}, 422, "unknown_category"),
    ({"action": "rate", "note": "好了"}, 400, "invalid_input"),
]


@pytest.mark.parametrize(("body", "expected", "code"), ACTION_BODIES,
                         ids=[str(b)[:40] for b, _, _ in ACTION_BODIES])
async def test_case_actions(api: Api, body: Any, expected: int, code: str) -> None:
    before = snapshot(api.bot)
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} \
        if isinstance(body, str | bytes) else {"json": body}
    status, answer, text = await api.send("POST", f"/api/cases/{api.case}/actions", **kwargs)
    assert_clear_4xx(status, answer, text, expected, str(body)[:60])
    assert answer["code"] == code
    assert snapshot(api.bot) == before


NOTICE_BODIES: list[tuple[Any, str]] = [
    ("{", "bad_json"), ("[]", "not_an_object"), ({}, "not_text"),
    ({"title": 1, "body": "x", "targets": {"all": True}}, "not_text"),
    ({"title": "t", "body": "x"}, "no_targets"),
    ({"title": "t", "body": "x", "targets": {"planets": ["火星"]}}, "unknown_target_kinds"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "send_at": "tomorrow"},
     "send_at_format"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "send_at": 5}, "send_at_type"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "send_at": "2020-01-01T09:00"},
     "send_at_past"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "repeat": 7}, "repeat_shape"),
    ({"title": "t", "body": "x", "targets": {"all": True},
      "repeat": {"rule": "每周一 9:00", "until": "someday"}}, "until_format"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "repeat": "每逢初一"},
     "unreadable_rule"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "ask_receipt": "yes"},
     "ask_receipt_bool"),
    ({"title": "t" * 500, "body": "x", "targets": {"all": True}}, "title_too_long"),
    ({"title": "t", "body": "x", "targets": {"all": True}, "extra": 1}, "unknown_fields"),
]


@pytest.mark.parametrize(("body", "code"), NOTICE_BODIES, ids=[c for _, c in NOTICE_BODIES])
async def test_publishing_notices(api: Api, body: Any, code: str) -> None:
    before = snapshot(api.bot)
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} \
        if isinstance(body, str) else {"json": body}
    status, answer, text = await api.send("POST", "/api/notices", **kwargs)
    assert_clear_4xx(status, answer, text, 400, str(body)[:60])
    assert answer["code"] == code
    assert snapshot(api.bot) == before


@pytest.mark.parametrize(("body", "code"), [
    ({}, "resend_choice"), ({"below": 1, "rooms": []}, "resend_choice"),
    ({"below": 0}, "below_positive"), ({"below": -2}, "below_positive"),
    ({"below": "3"}, "below_positive"), ({"below": True}, "below_positive"),
    ({"rooms": "xingfuli-1@chatroom"}, "rooms_list"), ({"rooms": [1]}, "rooms_list"),
    ({"rooms": ["nowhere@chatroom"]}, "unknown_rooms"), ("oops", "bad_json"),
])
async def test_resending_notices(api: Api, body: Any, code: str) -> None:
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} \
        if isinstance(body, str) else {"json": body}
    status, answer, text = await api.send("POST", f"/api/notices/{api.notice}/resend", **kwargs)
    assert_clear_4xx(status, answer, text, 400, str(body))
    assert answer["code"] == code


@pytest.mark.parametrize("path", ["/api/notices", "/api/cases/{case}/actions",
                                  "/api/notices/{notice}/resend", "/api/sim/messages"])
async def test_oversized_bodies_are_413(api: Api, path: str) -> None:
    body = b'{"title": "' + b"x" * (UPLOAD_LIMIT + 1) + b'"}'
    status, answer, text = await api.send(
        "POST", path.format(case=api.case, notice=api.notice), data=body,
        headers={"Content-Type": "application/json"})
    assert_clear_4xx(status, answer, text, 413, path)


@pytest.mark.parametrize("query", [
    {"start_date": "yesterday"}, {"end_date": "2026-11-23"}, {"status": "pending"},
    {"service_code": "weather"}, {"service_request_id": "abc"},
    {"service_request_id": HUGE}, {"service_request_id": f"1,{BIG_ID}"},
])
async def test_open311_in_its_own_shape(api: Api, query: dict[str, str]) -> None:
    status, body, text = await api.send("GET", "/open311/v2/requests.json?" + "&".join(
        f"{k}={v}" for k, v in query.items()))
    assert status == 400 and "Traceback" not in text, text
    assert isinstance(body, list) and body[0]["code"] == 400 and CJK.search(
        body[0]["description"])
    for raw in ("abc", HUGE, BIG_ID):
        status, body, _ = await api.send("GET", f"/open311/v2/requests/{raw}.json")
        assert status == 400 and body[0]["code"] == 400


async def test_the_sim_api_keeps_the_shape(api: Api) -> None:
    for method, path, kwargs in (
            ("GET", "/api/sim/messages", {}),
            ("GET", "/api/sim/messages?room=nowhere", {}),
            ("POST", "/api/sim/messages", {"data": "not json",
                                            "headers": {"Content-Type": "application/json"}}),
            ("POST", "/api/sim/messages", {"json": {"room": 5, "sender": "王芳", "text": "x"}})):
        status, body, text = await api.send(method, path, **kwargs)
        assert_clear_4xx(status, body, text, (400, 404), f"{method} {path}")


async def test_nul_in_a_filter_or_path_is_refused_before_the_database(api: Api) -> None:
    """PostgreSQL refuses NUL in any text; a filter carrying one is a 400, not a 500 from the
    database (found by the fuzz test on PostgreSQL)."""
    for path in ("/api/cases?grid=%00", "/api/cases?q=a%00b", "/api/cases?community=x%00",
                 "/api/stats?grid=%00", "/api/people?role=%00",
                 "/open311/v2/requests.json?status=%00"):
        status, body, text = await api.send("GET", path)
        assert status == 400 and "无效字符" in text, f"{path}: {status} {text[:200]}"
        if path.startswith("/api/"):
            assert body["code"] == "invalid_input", text


async def test_good_input_still_works(api: Api) -> None:
    """The checks refuse what is wrong, not what is unusual."""
    for path in ("/api/cases?limit=1000&offset=0", "/api/cases?grid=1", "/api/cases?status=open",
                 f"/api/cases/{api.case}", f"/api/cases/%23{api.case}",
                 "/api/stats?from=2026-11-01&to=2026-11-30", "/api/people?role=grid_worker"):
        status, _, text = await api.send("GET", path)
        assert status == 200, f"{path}: {text[:200]}"
    status, body, text = await api.send("POST", f"/api/cases/{api.case}/actions",
                                        json={"action": "merge", "into": api.case})
    assert status == 409 and body["code"] == "merge_self", text


WORDING: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/people?role=mayor", None,
     "未知的角色 mayor，可选：grid_worker、grid_leader、staff"),
    ("GET", "/api/cases/abc", None, "工单编号应为数字，例如 /api/cases/12"),
    ("GET", "/api/cases/99999", None, "没有 #99999 号工单"),
    ("GET", "/api/notices/abc", None, "通知编号应为数字"),
    ("GET", "/api/notices/99999", None, "没有编号为 99999 的通知"),
    ("PUT", "/api/cases", None, "不支持这个请求方法"),
    ("POST", "/api/cases/{case}/actions", {},
     "请在 action 中指明操作，可选：accept、assign、dispatch、progress、resolve、reject、merge、"
     "recategorize"),
    ("POST", "/api/cases/{case}/actions", {"action": "fly"},
     "不支持的操作 fly，可选：accept、assign、dispatch、progress、resolve、reject、merge、"
     "recategorize"),
    ("POST", "/api/cases/{case}/actions", {"action": "progress"}, "请填写进展内容。"),
    ("POST", "/api/cases/{case}/actions", {"action": "merge", "into": True},
     "“into”应为文字或工单号"),
    ("POST", "/api/cases/{case}/actions", {"action": "progress", "note": "x" * 2001},
     "“note”太长（最多 2000 个字）"),
    ("POST", "/api/cases/{case}/actions", {"action": "progress", "note": "好", "who": "x"},
     "不认识的字段：who"),
]


@pytest.mark.parametrize(("method", "path", "body", "said"), WORDING,
                         ids=[f"{m} {p} {b}"[:60] for m, p, b, _ in WORDING])
async def test_the_sentence_each_refusal_says(api: Api, method: str, path: str, body: Any,
                                              said: str) -> None:
    """The words from templates/web/api_messages.j2 (and account_messages.j2's unknown role)
    are the ones the API said when they were written in the code."""
    status, answer, text = await api.send(method, path.format(case=api.case), json=body)
    assert_clear_4xx(status, answer, text, (400, 404, 405), path)
    assert answer["error"] == said


async def test_without_a_token_the_api_says_how_to_give_one(api: Api) -> None:
    resp = await api.bot.client.get("/api/cases")
    assert resp.status == 401
    assert (await resp.json())["error"] == (
        "需要访问令牌：请在请求头中提供 Authorization: Bearer <令牌>")
