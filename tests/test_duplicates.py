"""The same problem reported twice is one case: repeats add to it, other residents join it."""

from __future__ import annotations

import pytest

from tests.auxil.chat import private, say
from tests.conftest import Harness


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return await start_gridbot(store_url)


async def cases(bot: Harness) -> list[dict]:
    from storage import queries
    from storage.db import session_scope

    with session_scope(bot.runtime.engine) as session:
        return [{"no": c.no, "status": c.status, "urgent": c.urgent}
                for c in queries.list_cases(session)]


async def test_same_resident_repeating_adds_to_the_case(bot: Harness) -> None:
    await say(bot, "王芳", "3号楼楼道灯坏了")
    bot.clock.advance(hours=5)
    [again] = await say(bot, "王芳", "3号楼楼道灯还是坏的，晚上根本看不见")
    assert "已在 #1" in again and "补充的情况已记录" in again
    assert len(await cases(bot)) == 1


async def test_another_resident_with_the_same_problem_joins_as_supporter(bot: Harness) -> None:
    await say(bot, "王芳", "3号楼2单元楼道灯坏了好几天了")
    bot.clock.advance(hours=20)
    [joined] = await say(bot, "刘大爷", "3号楼楼道灯坏了，谁来修一下")
    assert joined.startswith("@刘大爷") and "#1" in joined and "加入关注" in joined
    assert len(await cases(bot)) == 1
    [update] = await say(bot, "李娜", "进度 #1 电工下午来修")
    assert "@王芳" in update and "@刘大爷" in update
    [mine] = await say(bot, "刘大爷", "我的工单")
    assert "#1" in mine


@pytest.mark.parametrize(
    ("second", "hours"),
    [
        ("5号楼楼道灯坏了，谁来修一下", 1),  # another building
        ("3号楼楼道灯坏了，谁来修一下", 49),  # too long after
        ("3号楼电梯坏了", 1),  # another category
    ],
)
async def test_different_problems_stay_separate(bot: Harness, second: str, hours: int) -> None:
    await say(bot, "王芳", "3号楼楼道灯坏了好几天了")
    bot.clock.advance(hours=hours)
    [reply] = await say(bot, "刘大爷", second)
    assert "#2" in reply
    assert len(await cases(bot)) == 2


@pytest.mark.parametrize("me_too", ["我家也是", "+1", "同样", "我们单元也是，一到晚上就看不见",
                                    "俺家也是这样"])
async def test_me_too_replies_join_the_latest_case(bot: Harness, me_too: str) -> None:
    await say(bot, "王芳", "3号楼停水了，一滴水都没有")
    [joined] = await say(bot, "刘大爷", me_too)
    assert "#1" in joined and "加入关注" in joined
    assert len(await cases(bot)) == 1


async def test_me_too_without_a_recent_case_is_silent(bot: Harness) -> None:
    assert await say(bot, "刘大爷", "+1") == []
    await say(bot, "王芳", "3号楼停水了")
    bot.clock.advance(hours=7)
    assert await say(bot, "刘大爷", "我家也是") == []


async def test_a_new_question_starting_with_me_too_words_is_its_own_case(bot: Harness) -> None:
    await say(bot, "王芳", "3号楼停水了")
    [reply] = await say(bot, "刘大爷", "我也想问一下退休认证在哪里办")
    assert "#2" in reply and "政策咨询" in reply


async def test_an_urgent_repeat_makes_the_case_urgent(bot: Harness) -> None:
    await say(bot, "王芳", "3号楼楼道里有股味道")
    await say(bot, "刘大爷", "3号楼楼道里好大一股煤气味！")
    listed = await cases(bot)
    assert len(listed) <= 2
    urgent = [c for c in listed if c["urgent"]]
    assert urgent, "the gas smell is urgent whichever case carries it"
    assert any("紧急工单" in t for t in await private(bot, "李娜"))
