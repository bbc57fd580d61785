"""A walk by hand, replayed: what residents, workers and leaders typed on `make run`, and the
replies that read wrongly before — a leader called 网格员, a phone number shown in the group by
查, a 催办 answer in minutes, a restarted simulator whose first messages were dropped."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import col, select

from bot.transport.sim import SimTransport
from storage import queries
from storage.db import session_scope
from storage.models import InboundMessage
from tests.auxil.chat import private, report, say
from tests.conftest import Harness


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return await start_gridbot(store_url)


async def test_a_leader_or_staff_acting_on_a_case_is_named_by_their_title(bot: Harness) -> None:
    no = await report(bot)
    [accepted] = await say(bot, "李娜", f"接单 #{no}")
    assert "网格员李娜受理" in accepted
    [sent_on] = await say(bot, "张强", f"转办 #{no} 物业公司 请尽快处理")
    assert "网格长张强会继续跟进" in sent_on and "网格员张强" not in sent_on
    [note] = await say(bot, "张强", f"进度 #{no} 明天让电工再来看看")
    assert note.endswith("（网格长张强）")
    [shown] = await say(bot, "王芳", f"查询 #{no}")
    assert "负责人：网格员李娜" in shown


async def test_a_case_shown_in_the_group_masks_the_notes_phone_number(bot: Harness) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"接单 #{no}")
    [relayed] = await say(bot, "李娜", f"进度 #{no} 已联系物业，电话13912345678")
    assert "139****5678" in relayed and "13912345678" not in relayed
    for sender, command in (("李娜", "查"), ("王芳", "查询")):
        [shown] = await say(bot, sender, f"{command} #{no}")
        assert "最新进展：已联系物业，电话139****5678" in shown, shown
    # privately the worker sees the note as written
    [own] = await say(bot, "李娜", f"查 #{no}", room=None)
    assert "13912345678" in own


async def test_urging_twice_says_when_one_may_urge_again(bot: Harness) -> None:
    no = await report(bot)
    [urged] = await say(bot, "王芳", f"催办 #{no}")
    assert "已提醒网格员李娜尽快处理" in urged
    [again] = await say(bot, "王芳", f"催办 #{no}")
    assert again == (f"@王芳 #{no} 刚刚已经催办过，网格员正在处理，请稍候；"
                     "1小时后仍没有进展可以再催办。")


async def test_after_a_restart_on_the_same_database_the_simulator_is_heard(
        store_url: str, start_gridbot) -> None:
    """WeChat never reuses a message id and gridbot ignores an id it has stored; a simulator
    that counted from s1 again after a restart had its first messages dropped as redeliveries."""
    first = await start_gridbot(store_url, transport=SimTransport())
    no = await report(first)
    await say(first, "李娜", f"接单 #{no}")
    await first.settle()
    await first.runtime.stop()

    second = await start_gridbot(store_url, transport=SimTransport())
    [shown] = await say(second, "王芳", f"查询 #{no}")
    assert f"#{no}" in shown and "处理中" in shown
    assert await say(second, "刘大爷", f"催办 #{no}")


async def test_an_emergency_names_who_was_told_and_tells_them_how_to_take_it(
        bot: Harness) -> None:
    room = "xingfuli-2@chatroom"  # 幸福里第二网格: worker 王磊, leader 赵敏
    [ack] = await say(bot, "孙浩", "9号楼有人打架了，快来人啊", room=room)
    assert "已第一时间通知网格员王磊、网格长赵敏" in ack
    no = int(ack.split("#")[1].split("（")[0])
    alerts = [t for t in await private(bot, "王磊") if "紧急工单" in t]
    assert len(alerts) == 1 and f"回复“接单 #{no}”即可受理" in alerts[0]


async def test_assigning_a_case_to_whoever_holds_it_is_refused_not_relayed(bot: Harness) -> None:
    no = await report(bot)
    [assigned] = await say(bot, "张强", f"指派 #{no} @李娜")
    assert "已安排网格员李娜负责" in assigned
    [told] = [t for t in await private(bot, "李娜") if "新指派" in t]
    # the case is accepted for her already: 接单 would be refused, so it is not suggested
    assert "由网格长张强指派" in told and "接单" not in told and f"办结 #{no}" in told
    assert await say(bot, "张强", f"指派 #{no} @李娜") == [
        f"@张强 #{no} 已由网格员李娜负责，无需重复指派。"]
    assert len([t for t in await private(bot, "李娜") if "新指派" in t]) == 1


async def test_with_supporters_the_rating_question_names_who_rates(bot: Harness) -> None:
    no = await report(bot)
    [joined] = await say(bot, "刘大爷", "我家也是")
    assert f"#{no}" in joined
    [done] = await say(bot, "李娜", f"办结 #{no} 已更换灯泡")
    assert done.startswith("@王芳 @刘大爷 ") and "请反映问题的王芳直接回复“满意”" in done
    assert await say(bot, "刘大爷", "满意") == []  # not his to rate: read as chit-chat
    [thanks] = await say(bot, "王芳", "满意")
    assert "感谢王芳的评价（满意）" in thanks and "感谢您" not in thanks


async def test_alone_the_reporter_is_asked_as_you(bot: Harness) -> None:
    no = await report(bot)
    [done] = await say(bot, "李娜", f"办结 #{no} 已更换灯泡")
    assert "请直接回复“满意”" in done
    [thanks] = await say(bot, "王芳", "满意")
    assert "感谢您的评价（满意）" in thanks


async def test_a_resident_repeating_a_complaint_hears_back_once_not_each_time(
        bot: Harness) -> None:
    room = "hepingyuan@chatroom"  # 和平苑网格: residents 马先生, 黄女士
    [ack] = await say(bot, "黄女士", "楼上装修太吵了", room=room)
    assert "已登记为 #1" in ack
    [added] = await say(bot, "黄女士", "楼上装修太吵了 中午也在砸墙", room=room)
    assert "补充的情况已记录" in added
    for n in range(3):
        assert await say(bot, "黄女士", f"楼上装修太吵了 第{n + 3}遍", room=room) == []
    bot.clock.advance(minutes=31)
    [later] = await say(bot, "黄女士", "楼上装修还是太吵了", room=room)
    assert "补充的情况已记录" in later
    # every message is kept on the case all the same
    with session_scope(bot.runtime.engine) as session:  # type: ignore[arg-type]
        events = queries.case_events(session, case_id=queries.get_case(session, no=1).id)
        assert [e.action for e in events].count("repeat") == 5
        outcomes = [m.outcome for m in session.exec(select(InboundMessage).order_by(
            col(InboundMessage.id))).all()]
        assert outcomes == ["case", "repeat", *["added_quietly"] * 3, "repeat"]


async def test_a_worker_is_told_which_case_of_a_merge_is_not_theirs(bot: Harness) -> None:
    other = await report(bot, "小区门口的路灯不亮了", sender="马先生", room="hepingyuan@chatroom")
    mine = await report(bot)
    assert await say(bot, "李娜", f"合并 #{mine} #{other}") == [
        f"@李娜 要并入的 #{other} 不能由您办理："
        "只有本网格的网格员、网格长或社区工作人员可以办理这个工单。"]
    [unknown] = await say(bot, "李娜", f"改类 #{mine} 垃圾")
    assert unknown.startswith("@李娜 没有“垃圾”这个类别。可选：") and unknown.endswith("违章违规。")


@pytest.mark.parametrize(("level", "scheduler"), [("info", logging.WARNING),
                                                  ("debug", logging.DEBUG)])
def test_the_console_of_make_run_is_not_buried_under_the_schedulers_runs(
        level: str, scheduler: int) -> None:
    from bot import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("apscheduler").level)
    try:
        logs.configure(level=level)
        assert logging.getLogger("apscheduler").getEffectiveLevel() == scheduler
        assert logging.getLogger("bot.inbound").getEffectiveLevel() == logging.getLevelName(
            level.upper())
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.getLogger("apscheduler").setLevel(saved[2])
