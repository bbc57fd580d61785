"""Property-based tests (hypothesis): whatever arrives — any text, any kind, from anyone, in any
group, through the command parser, the whole message pipeline or the API — nothing crashes, and
the answers keep their shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime import prepare_database
from bot.transport.base import MESSAGE_KINDS
from handlers.commands.parser import SPECS, parse
from handlers.context import Context
from handlers.deadlines import load_deadlines
from handlers.intake.pipeline import Outcome, handle_inbound
from handlers.texts import Texts
from handlers.worktime import WorkCalendar
from storage import queries
from storage.db import session_scope
from storage.models import InboundMessage
from tests.auxil.dashboard import add_account, token_for
from tests.conftest import Harness, make_settings

WORDS = [s.word for s in SPECS] + ["满意", "不满意", "基本满意", "收到", "+1", "我家也是"]
ROOMS = [None, "xingfuli-1@chatroom", "xingfuli-2@chatroom", "xingfuli-staff@chatroom",
         "unknown@chatroom"]
PEOPLE = ["王芳", "李娜", "张强", "周主任", "孙丽", "陌生人", ""]
SHAPES = st.sampled_from(["", "#", "＃", "/", "@网格助手 ", "  "])

#: text shaped like commands and complaints, and plain noise
messages = st.one_of(
    st.text(max_size=300),
    st.builds(lambda shape, word, rest: f"{shape}{word}{rest}", SHAPES, st.sampled_from(WORDS),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=40)),
    st.builds(lambda word, n, m, rest: f"{word} #{n} {m} {rest}", st.sampled_from(WORDS),
              st.integers(-5, 10**12), st.integers(0, 99), st.text(max_size=20)),
    st.sampled_from(["3号楼电梯困人了", "楼道灯坏了", "收到", "谢谢",
                     "发布通知 全部 停水\n明天停水", "确认发布", "绑定网格 幸福里第一网格",
                     "😀" * 50, "\x00\u200b\ufeff"]),
)


@given(messages)
@settings(max_examples=500, deadline=None)
def test_the_command_parser_never_crashes(text: str) -> None:
    cmd = parse(text)
    if cmd is not None:
        assert cmd.spec in SPECS
        assert cmd.no is None or cmd.no >= 0
        assert cmd.malformed == bool(cmd.missing)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, classifier) -> tuple[Any, Context]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'gridbot.db'}"
    settings_ = make_settings(url)
    engine = prepare_database(settings_)
    ctx = Context(classifier=classifier, texts=Texts(), deadlines=load_deadlines(None),
                  calendar=WorkCalendar.load(settings_.general.tz, None), bot_id="gridbot",
                  bot_name="网格助手")
    return engine, ctx


counter = iter(range(10**9))


@given(text=messages, kind=st.sampled_from(MESSAGE_KINDS), room=st.sampled_from(ROOMS),
       sender=st.sampled_from(PEOPLE))
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_pipeline_never_crashes(world: tuple[Any, Context], text: str, kind: str,
                                    room: str | None, sender: str) -> None:
    engine, ctx = world
    with session_scope(engine) as session:
        row = queries.record_inbound(session, InboundMessage(
            transport="fuzz", message_id=f"m{next(counter)}", room_id=room,
            sender_id=sender or "anon", sender_name=sender, kind=kind, text=text,
            sent_at=datetime.now(UTC)))
        assert row is not None
        session.flush()
        result = handle_inbound(session, ctx, row)
    assert isinstance(result.outcome, Outcome)
    if result.outcome == Outcome.CASE:
        assert result.case_no is not None and kind == "text"


@pytest.fixture
def publisher_token(gridbot: Harness) -> str:
    """A write token of the township admin's dashboard account."""
    add_account(gridbot, "admin")
    return token_for(gridbot, "admin", scope="write")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
notice_bodies = st.fixed_dictionaries({}, optional={
    "title": json_values, "body": json_values, "send_at": json_values, "repeat": json_values,
    "ask_receipt": json_values,
    "targets": st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "all": json_values, "communities": json_values, "grids": json_values,
        "tags": json_values})),
})


@given(body=notice_bodies)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_the_notices_api_answers_4xx_not_500(gridbot: Harness, publisher_token: str,
                                                    body: dict[str, Any]) -> None:
    resp = await gridbot.client.post("/api/notices", data=json.dumps(body),
                                     headers={"Authorization": f"Bearer {publisher_token}"})
    assert resp.status in (201, 400), await resp.text()
    answer = await resp.json()
    assert ("error" in answer) == (resp.status == 400)


@given(params=st.dictionaries(st.sampled_from(["status", "grid", "category", "urgent", "limit",
                                               "offset", "junk"]),
                              st.text(max_size=12), max_size=5))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_the_cases_api_answers_4xx_not_500(gridbot: Harness, admin_token: str,
                                                  params: dict[str, str]) -> None:
    resp = await gridbot.client.get("/api/cases", params=params,
                                    headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status in (200, 400), await resp.text()
