"""The closed loop in chat, driven through the simulator API as the people in the groups use it:
受理 → 转办 → 处置反馈 → 办结 → 回访评价 → 结案, with refusals, the follow-up timeout and
escalation on a test clock (no real waiting)."""

from __future__ import annotations

import asyncio

import pytest

from tests.auxil.chat import ROOM, STAFF_ROOM, private, report, say
from tests.conftest import Harness


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return await start_gridbot(store_url)


@pytest.fixture
def token(bot: Harness) -> str:
    from storage import queries
    from storage.db import session_scope

    with session_scope(bot.runtime.engine) as session:
        return queries.create_token(session, role="admin")


async def test_the_whole_loop_is_relayed_until_the_resident_closes_it(bot: Harness,
                                                                      token: str) -> None:
    no = await report(bot)

    [accepted] = await say(bot, "李娜", f"接单 #{no}")
    assert accepted.startswith("@王芳 ") and f"#{no}" in accepted and "李娜受理" in accepted
    [note] = await say(bot, "李娜", f"进度 #{no} 已联系物业，明天上午来换灯")
    assert "@王芳" in note and "已联系物业，明天上午来换灯" in note
    [sent_on] = await say(bot, "李娜", f"转办 #{no} 物业公司 楼道照明归物业维护")
    assert "物业公司" in sent_on and "@王芳" in sent_on
    [done] = await say(bot, "李娜", f"办结 #{no} 已更换灯泡，楼道恢复照明")
    assert "已更换灯泡" in done and "满意" in done and "不满意" in done
    [thanks] = await say(bot, "王芳", "满意")
    assert "@王芳" in thanks and "已结案" in thanks

    case = await bot.api(f"/api/cases/{no}", token)
    assert case["status"] == "closed" and case["satisfaction"] == "satisfied"
    assert case["assignee"] == "李娜" and case["dispatched_to"] == "物业公司"
    assert [e["action"] for e in case["events"]] == [
        "report", "accept", "progress", "dispatch", "resolve", "rate"]
    assert [e["actor"] for e in case["events"]][1:5] == ["李娜"] * 4
    assert case["events"][-1]["actor"] == "王芳"

    [closed] = await say(bot, "李娜", f"进度 #{no} 再补充一句")
    assert "已结案" in closed and "不能更新进度" in closed


async def test_unsatisfied_reopens_and_tells_the_leader(bot: Harness, token: str) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"接单 #{no}")
    await say(bot, "李娜", f"办结 #{no} 已处理")
    [sorry] = await say(bot, "王芳", "不满意，灯还是不亮")  # a rating with a comment
    assert "重新打开" in sorry
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["status"] == "reopened" and case["reopen_count"] == 1
    assert case["events"][-1]["note"] == "不满意：灯还是不亮"
    assert any("不满意" in t and f"#{no}" in t for t in await private(bot, "张强"))
    [again] = await say(bot, "李娜", f"接单 #{no}")
    assert "受理" in again
    assert (await bot.api(f"/api/cases/{no}", token))["status"] == "accepted"


async def test_bare_unsatisfied_reopens(bot: Harness, token: str) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"办结 #{no} 已处理")
    [reply] = await say(bot, "王芳", "不满意")
    assert "重新打开" in reply
    assert (await bot.api(f"/api/cases/{no}", token))["status"] == "reopened"


@pytest.mark.parametrize(
    ("sender", "text", "expected"),
    [
        ("刘大爷", "接单 #{no}", "只有本网格的网格员"),  # a resident
        ("王磊", "接单 #{no}", "只有本网格的网格员"),  # a worker of another grid
        ("李娜", "指派 #{no} @张强", "只有本网格的网格长"),  # assigning is for leaders
        ("刘大爷", "催办 #{no}", "只有反映这个问题的居民"),
        ("刘大爷", "查询 #{no}", "只有反映问题的居民和负责的网格员"),
        ("李娜", "接单 #99", "没有找到 #99"),
        ("李娜", "办结 #{no}", "缺少办理结果"),
        ("李娜", "接单", "缺少工单号"),
        ("李娜", "转办 #{no}", "正确格式：转办 #工单号 部门"),
        ("李娜", "合并 #{no} #{no}", "不能把"),
        ("张强", "指派 #{no} @不存在的人", "没有找到名为“不存在的人”"),
        ("王芳", "评价 #{no} 还可以吧", "缺少评价"),
    ],
)
async def test_refusals_are_polite_and_change_nothing(bot: Harness, token: str, sender: str,
                                                      text: str, expected: str) -> None:
    no = await report(bot)
    [answer] = await say(bot, sender, text.format(no=no))
    assert answer.startswith(f"@{sender} ") and expected in answer
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["status"] == "reported" and [e["action"] for e in case["events"]] == ["report"]


async def test_commands_work_privately_with_a_confirmation(bot: Harness, token: str) -> None:
    no = await report(bot)
    [confirmation] = await say(bot, "李娜", f"／接单　＃{no}", room=None)
    assert f"已接单 #{no}" in confirmation and "群里已同步" in confirmation
    group = [m["text"] for m in await bot.bot_replies(room=ROOM)]
    assert "李娜受理" in group[-1] and group[-1].startswith("@王芳")
    assert (await bot.api(f"/api/cases/{no}", token))["status"] == "accepted"


async def test_help_depends_on_the_role(bot: Harness) -> None:
    [resident] = await say(bot, "王芳", "帮助")
    [worker] = await say(bot, "李娜", "帮助", room=None)
    [leader] = await say(bot, "张强", "/帮助", room=None)
    assert "催办" in resident and "接单" not in resident
    assert "接单" in worker and "指派" not in worker
    assert "指派" in leader
    assert "发布通知" not in leader and "发布通知" not in worker
    [staff] = await say(bot, "周主任", "帮助", room=STAFF_ROOM)
    assert "发布通知" in staff and "确认发布" in staff


async def test_sentences_that_start_like_commands_are_not_commands(bot: Harness) -> None:
    assert await say(bot, "王芳", "进度怎么样了呀") == []
    assert await say(bot, "刘大爷", "满意") == []  # nothing of his awaits a rating


async def test_leader_assigns_and_the_assignee_is_told(bot: Harness, token: str) -> None:
    no = await report(bot)
    [relay] = await say(bot, "张强", f"指派 #{no} @李娜")
    assert "安排网格员李娜负责" in relay
    assert any(f"#{no}" in t and "张强指派" in t for t in await private(bot, "李娜"))
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["status"] == "accepted" and case["assignee"] == "李娜"
    assert case["events"][-1]["note"] == "指派给李娜"


async def test_reject_tells_the_resident_why(bot: Harness, token: str) -> None:
    no = await report(bot, "隔壁阳光小区门口的路灯坏了好几天了")
    [relay] = await say(bot, "李娜", f"退回 #{no} 阳光小区不属于本社区，已转告对方社区")
    assert "不在社区的受理范围" in relay and "阳光小区不属于本社区" in relay
    assert (await bot.api(f"/api/cases/{no}", token))["status"] == "rejected"


async def test_merge_moves_the_reporter_onto_the_kept_case(bot: Harness, token: str) -> None:
    # different places as written, so intake keeps them apart; the worker knows it is one lamp
    first = await report(bot, "3号楼门口路灯不亮了")
    second = await report(bot, "北门那段路灯全不亮了", sender="刘大爷")
    [relay] = await say(bot, "李娜", f"合并 #{second} #{first}")
    assert relay.startswith("@刘大爷") and f"合并到 #{first}" in relay
    [update] = await say(bot, "李娜", f"进度 #{first} 电工下午来修")
    assert "@王芳" in update and "@刘大爷" in update
    merged = await bot.api(f"/api/cases/{second}", token)
    assert merged["merged_into"] == first and merged["events"][-1]["note"] == f"并入 #{first}"
    kept = await bot.api(f"/api/cases/{first}", token)
    assert f"合并了 #{second}" in [e["note"] for e in kept["events"]]


async def test_group_posts_mask_private_details(bot: Harness) -> None:
    no = await report(bot)
    [note] = await say(bot, "李娜", f"进度 #{no} 已联系3-2-501业主，电话13812345678")
    assert "13812345678" not in note and "138****5678" in note
    assert "501" not in note


async def test_urge_reminds_the_worker_at_most_once_an_hour(bot: Harness) -> None:
    no = await report(bot)
    [ok] = await say(bot, "王芳", f"催办 #{no}")
    assert "已提醒网格员李娜" in ok
    assert any("催办" in t and f"#{no}" in t for t in await private(bot, "李娜"))
    [too_soon] = await say(bot, "王芳", f"催办 #{no}")
    assert "刚刚已经催办过" in too_soon and "1小时后" in too_soon
    bot.clock.advance(minutes=61)
    [again] = await say(bot, "王芳", f"催办 #{no}")
    assert "已提醒" in again


async def test_queries_for_residents_and_workers(bot: Harness) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"接单 #{no}")
    [detail] = await say(bot, "王芳", f"查询 #{no}")
    assert f"#{no}" in detail and "处理中" in detail and "李娜" in detail
    [mine] = await say(bot, "王芳", "我的工单")
    assert f"#{no}" in mine
    [todo] = await say(bot, "李娜", "待办", room=None)
    assert f"#{no}" in todo


async def test_todo_lists_overdue_first(bot: Harness) -> None:
    old = await report(bot, "2号楼电梯按钮失灵了")
    bot.clock.advance(hours=3)  # the first case is now past its acceptance deadline
    new = await report(bot, "5号楼楼道灯不亮了", sender="刘大爷")
    [todo] = await say(bot, "李娜", "待办", room=None)
    assert todo.index(f"#{old}") < todo.index(f"#{new}")
    assert "已超期" in todo.split(f"#{new}")[0]


async def test_follow_up_reminder_then_closed_unrated(bot: Harness, token: str) -> None:
    no = await report(bot)
    await say(bot, "李娜", f"办结 #{no} 已修好")
    bot.clock.advance(hours=23)
    assert await bot.tick() == 0
    bot.clock.advance(hours=2)
    assert await bot.tick() == 1
    reminder = (await bot.bot_replies(room=ROOM))[-1]["text"]
    assert reminder.startswith("@王芳") and "还没收到您的评价" in reminder
    assert await bot.tick() == 0, "the reminder is sent once"
    bot.clock.advance(hours=48)
    assert await bot.tick() == 1
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["status"] == "closed" and case["satisfaction"] == "unrated"
    assert [e["note"] for e in case["events"]][-2:] == ["提醒居民评价", "回访超时，按未评价结案"]
    assert "未评价" in (await bot.bot_replies(room=ROOM))[-1]["text"]


async def test_deadline_reminder_then_escalation_to_leader_and_community(bot: Harness,
                                                                         token: str) -> None:
    no = await report(bot)  # Monday 10:00; accept within 2 working hours → 12:00
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["accept_due_at"].startswith("2026-11-23T12:00")
    bot.clock.advance(minutes=80)  # 11:20: not yet near
    assert await bot.tick() == 0
    bot.clock.advance(minutes=20)  # 11:40: within 30 minutes of the deadline
    assert await bot.tick() == 1
    assert any("需在今天12:00前受理" in t for t in await private(bot, "李娜"))
    bot.clock.advance(minutes=25)  # 12:05: overdue → the grid leader
    assert await bot.tick() == 1
    assert any("督办" in t and f"#{no}" in t for t in await private(bot, "张强"))
    assert [m for m in await bot.bot_replies(room=STAFF_ROOM)] == []
    bot.clock.advance(hours=2)  # 14:05: still overdue → the community staff group
    assert await bot.tick() == 1
    [staff_post] = [m["text"] for m in await bot.bot_replies(room=STAFF_ROOM)]
    assert "超期督办" in staff_post and f"#{no}" in staff_post and "幸福里第一网格" in staff_post
    assert await bot.tick() == 0
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["escalation_level"] == 2
    assert [e["action"] for e in case["events"]] == ["report", "remind", "escalate", "escalate"]
    assert [e["note"] for e in case["events"]][1:] == [
        "提醒李娜受理期限", "超过受理期限，已报网格长", "超过受理期限，已报社区"]
    # accepting resets the slate: the resolution deadline is the next one watched
    await say(bot, "李娜", f"接单 #{no}")
    assert (await bot.api(f"/api/cases/{no}", token))["escalation_level"] == 0


async def test_urgent_deadlines_count_minutes_not_office_hours(bot: Harness, token: str) -> None:
    bot.clock.advance(hours=12)  # Monday 22:00, outside office hours
    no = await report(bot, "3号楼电梯里困人了，快来人")
    case = await bot.api(f"/api/cases/{no}", token)
    assert case["urgent"] is True and case["accept_due_at"].startswith("2026-11-23T22:15")
    bot.clock.advance(minutes=16)
    assert await bot.tick() >= 1
    assert any("督办" in t for t in await private(bot, "张强"))


async def test_timers_survive_a_restart(store_url: str, start_gridbot) -> None:
    first = await start_gridbot(store_url)
    no = await report(first)
    await say(first, "李娜", f"办结 #{no} 已修好")
    await first.runtime.stop()  # the process goes down; nothing about the timer is in memory

    second = await start_gridbot(store_url)
    second.clock.advance(hours=73)
    assert await second.tick() >= 1
    from storage import queries
    from storage.db import session_scope

    with session_scope(second.runtime.engine) as session:
        case = queries.get_case(session, no=no)
        assert case.status == "closed" and case.satisfaction == "unrated"


async def test_the_scheduler_runs_the_sweep_by_itself(store_url: str, start_gridbot) -> None:
    from bot.config import ProcessingSettings

    bot = await start_gridbot(store_url, scheduler=True,
                              processing=ProcessingSettings(timer_seconds=1))
    no = await report(bot)
    await say(bot, "李娜", f"办结 #{no} 已修好")
    bot.clock.advance(hours=73)
    for _ in range(100):  # real APScheduler, one-second interval: wait for it, bounded
        texts = [m["text"] for m in await bot.bot_replies(room=ROOM)]
        if "未评价" in texts[-1]:
            break
        await asyncio.sleep(0.1)
    assert "未评价" in texts[-1]
