"""Digests against a known set of cases, on a test clock: each worker's morning digest, the
weekly report to the staff groups and the township, the residents' daily summary — each sent
once, and skipped rather than sent hours late."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import DigestsSettings
from tests.auxil.chat import ROOM, STAFF_ROOM, private, report, say
from tests.conftest import START, Harness

ROOM2 = "xingfuli-2@chatroom"  # 幸福里第二网格: worker 王磊, resident 孙浩
STREET_ROOM = "xingfu-street@chatroom"
HEPING_STAFF = "hepingyuan-staff@chatroom"


@pytest.fixture
async def week(db_url: str, start_gridbot) -> Harness:
    """Monday 23 November: 幸福里第一网格 gets three cases — #1 resolved in half an hour and
    rated 满意, #2 accepted after an hour, #3 never accepted; 幸福里第二网格 gets #4, never
    accepted; 和平苑 has a quiet week."""
    bot = await start_gridbot(db_url, digests=DigestsSettings(resident_summary_at="20:00"))
    assert await report(bot) == 1
    assert await report(bot, "5号楼电梯按钮失灵了", sender="刘大爷") == 2
    assert await report(bot, "2号楼门口的垃圾桶满了好几天没人清", sender="陈阿姨") == 3
    await bot.post(ROOM2, "孙浩", "7号楼楼道里堆满了杂物，过不去人")
    bot.clock.advance(minutes=30)
    await say(bot, "李娜", "接单 #1")
    await say(bot, "李娜", "办结 #1 已更换灯泡")
    await say(bot, "王芳", "满意")
    bot.clock.advance(minutes=30)
    await say(bot, "李娜", "接单 #2")
    return bot


async def digests_at(bot: Harness, moment) -> int:
    bot.clock.current = moment
    queued = await bot.runtime.run_digests()
    await bot.settle()
    return queued


async def test_each_worker_hears_about_their_open_overdue_and_due_today_cases(
        week: Harness) -> None:
    # Thursday 08:30: #2's resolution is due at 10:00 today, #3's acceptance was due on Monday
    thursday = START.replace(day=26, hour=8, minute=30)
    assert await digests_at(week, thursday) == 2  # 李娜 and 王磊; 陈静 has nothing open
    [li_na] = [t for t in await private(week, "李娜") if "早上好" in t]
    assert "幸福里第一网格" in li_na
    assert "近24小时新增0件，在办2件，其中超期1件，今天到期1件" in li_na
    overdue, due_today = li_na.split("超期：")[1].split("今天到期：")
    assert "#3" in overdue and "#2" not in overdue
    assert "#2" in due_today and "10:00前" in due_today
    assert "待办" in li_na
    [wang_lei] = [t for t in await private(week, "王磊") if "早上好" in t]
    assert "在办1件，其中超期1件" in wang_lei and "#4" in wang_lei
    assert [t for t in await private(week, "陈静") if "早上好" in t] == []
    # once a day, however often the sweep runs
    assert await digests_at(week, thursday + timedelta(minutes=30)) == 0


async def test_the_weekly_report_ranks_grids_for_staff_and_township(week: Harness) -> None:
    # Monday 30 November 09:00: three weekly reports, and the morning digests of 08:30
    assert await digests_at(week, START.replace(day=30, hour=9, minute=0)) == 3 + 2
    [xingfuli] = [m["text"] for m in await week.bot_replies(room=STAFF_ROOM)
                  if "周报" in m["text"]]
    assert xingfuli.startswith("【幸福里社区网格工作周报】11月23日—11月29日")
    assert "新增4件，办结1件，在办3件（超期3件）" in xingfuli
    assert "办结率25%，按期办结率25%，满意率100%，平均首次响应45分钟" in xingfuli
    assert "网格排名（得分按办结率40%、按期办结率30%、满意率30%计）：" in xingfuli
    first, second = xingfuli.split("计）：")[1].strip().splitlines()
    assert first.startswith("1. 幸福里第一网格 53.3分") and "办结率33%" in first
    assert second.startswith("2. 幸福里第二网格 0.0分")
    [street] = [m["text"] for m in await week.bot_replies(room=STREET_ROOM)]
    assert street.startswith("【幸福街道网格工作周报】") and "和平苑网格（本周无工单）" in street
    [heping] = [m["text"] for m in await week.bot_replies(room=HEPING_STAFF)]
    assert "新增0件" in heping
    assert await digests_at(week, START.replace(day=30, hour=15)) == 0


async def test_residents_get_a_daily_summary_when_enabled(week: Harness) -> None:
    before = len(await week.bot_replies(room=ROOM))
    before2 = len(await week.bot_replies(room=ROOM2))
    assert await digests_at(week, START.replace(hour=20, minute=0)) == 2
    summary = (await week.bot_replies(room=ROOM))[before:]
    assert [m["text"] for m in summary] == [
        "今日本群反映问题3件，办结1件，还有2件正在处理。感谢大家的支持！"]
    [other] = (await week.bot_replies(room=ROOM2))[before2:]
    assert other["text"].startswith("今日本群反映问题1件，办结0件，还有1件正在处理")
    assert await week.bot_replies(room="hepingyuan@chatroom") == []  # a quiet group


async def test_a_digest_is_skipped_rather_than_sent_hours_late(start_gridbot,
                                                              store_url: str) -> None:
    bot = await start_gridbot(store_url)
    await report(bot)
    # back at Tuesday 10:30 after being down: 08:30 was two hours ago, still worth sending
    assert await digests_at(bot, START.replace(day=24, hour=10, minute=30)) == 1
    # down all Wednesday morning, back at 16:00: the morning digest is skipped, not sent
    assert await digests_at(bot, START.replace(day=25, hour=16)) == 0
    digests = [t for t in await private(bot, "李娜") if "早上好" in t]
    assert len(digests) == 1
