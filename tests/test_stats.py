"""The figures (handlers/stats.py) over a week of real cases run through the closed loop in the
simulator, on SQLite and PostgreSQL, with a test clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers import stats
from handlers.stats import Figures, GridFigures
from storage.db import session_scope
from tests.auxil.chat import report, say
from tests.conftest import START, Harness

TZ = ZoneInfo("Asia/Shanghai")
ROOM2 = "xingfuli-2@chatroom"  # 幸福里第二网格: worker 王磊; residents 孙浩, 周奶奶
ROOM3 = "hepingyuan@chatroom"  # 和平苑网格: worker 陈静; resident 马先生


@pytest.fixture
async def week(start_gridbot, db_url: str) -> Harness:
    """Monday 10:00 to the next Monday: one grid with a resolved, an overdue and a rejected case
    and a duplicate merged away; one with a case rated 不满意, resolved again and closed 未评价;
    one whose only message was not a request."""
    bot = await start_gridbot(db_url)
    first = await report(bot)  # #1 王芳: 楼道灯
    overdue = await report(bot, "5号楼电梯按钮失灵了", sender="刘大爷")  # #2
    rejected = await report(bot, "隔壁阳光小区门口的路灯坏了好几天了", sender="陈阿姨")  # #3
    second_grid = await report(bot, "7号楼楼道里堆满了杂物，过不去人", "孙浩", ROOM2)  # #4
    not_a_case = await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", ROOM3)  # #5
    twin = await report(bot, "9号楼下水道堵了，污水漫出来", "周奶奶", ROOM2)  # #6
    assert (first, overdue, rejected, second_grid, not_a_case, twin) == (1, 2, 3, 4, 5, 6)

    bot.clock.advance(minutes=30)  # 10:30
    await say(bot, "李娜", f"接单 #{first}")
    await say(bot, "李娜", f"退回 #{rejected} 不属于本社区，已转告对方社区")
    await say(bot, "陈静", f"不是工单 #{not_a_case}", room=ROOM3)
    bot.clock.advance(minutes=30)  # 11:00
    await say(bot, "李娜", f"办结 #{first} 已更换灯泡")
    await say(bot, "王芳", "满意")
    await say(bot, "王磊", f"合并 #{twin} #{second_grid}", room=ROOM2)
    await say(bot, "王磊", f"办结 #{second_grid} 已清理", room=ROOM2)
    await say(bot, "孙浩", "不满意，还有一半没清", room=ROOM2)
    bot.clock.advance(hours=1)  # 12:00
    await say(bot, "王磊", f"办结 #{second_grid} 全部清理完毕", room=ROOM2)
    bot.clock.advance(hours=73)  # Thursday 13:00: the follow-up of #4 ran out
    await bot.tick()
    return bot


def figures(bot: Harness, **kwargs) -> list[GridFigures]:
    start, end = stats.week_bounds(START.date(), TZ)
    with session_scope(bot.runtime.engine) as session:
        return stats.grid_figures(session, start=start, end=end, now=bot.clock(), **kwargs)


async def test_figures_per_grid_follow_the_definitions(week: Harness) -> None:
    one, two, three = figures(week)
    assert (one.grid, two.grid, three.grid) == ("幸福里第一网格", "幸福里第二网格", "和平苑网格")

    f = one.figures  # #1 resolved on time and rated 满意; #2 open past its deadline; #3 rejected
    assert (f.new, f.rejected, f.handled, f.resolved, f.open) == (3, 1, 2, 1, 1)
    assert f.closure_rate == 0.5
    assert (f.on_time, f.late, f.on_time_rate) == (1, 1, 0.5)
    assert f.overdue == 1
    assert (f.satisfied, f.rated, f.satisfaction_rate) == (1, 1, 1.0)
    assert f.responded == 2  # #1 accepted after 30 minutes, #3 rejected after 30 minutes
    assert f.avg_response_hours == pytest.approx(0.5)
    assert f.avg_resolution_hours == pytest.approx(1.0)  # #1: reported 10:00, resolved 11:00
    assert sum(f.categories.values()) == 3

    g = two.figures  # #4 only: the merged duplicate #6 is not a new case
    assert (g.new, g.resolved, g.closure_rate) == (1, 1, 1.0)
    assert (g.unsatisfied, g.unrated, g.satisfied) == (1, 1, 0)
    assert g.satisfaction_rate == 0.0, "未评价 and 不满意 are not satisfied"
    assert g.on_time_rate == 1.0  # judged against the deadline renewed on reopening
    assert g.avg_response_hours == pytest.approx(1.0)  # first step: 办结 at 11:00
    assert g.avg_resolution_hours == pytest.approx(2.0)  # the latest resolution, at 12:00

    h = three.figures  # the only message was 不是工单
    assert h == Figures()
    assert h.closure_rate is None and h.satisfaction_rate is None and h.avg_response_hours is None


async def test_communities_add_up_counts_not_rates(week: Harness) -> None:
    grids = figures(week)
    xingfuli, heping = stats.community_figures(grids)
    assert xingfuli.community == "幸福里社区" and [g.grid for g in xingfuli.grids] == [
        "幸福里第一网格", "幸福里第二网格"]
    f = xingfuli.figures
    assert (f.new, f.handled, f.resolved) == (4, 3, 2)
    assert f.closure_rate == pytest.approx(2 / 3)  # not the mean of 0.5 and 1.0
    assert f.satisfaction_rate == pytest.approx(1 / 3)
    assert heping.figures.new == 0
    assert stats.total(grids) == f + heping.figures


async def test_weekly_ranking(week: Harness) -> None:
    ranking = stats.rank_grids(figures(week))
    assert [(r.rank, r.grid.grid, r.score) for r in ranking] == [
        (1, "幸福里第二网格", 70.0),  # 100·(0.4·1 + 0.3·1 + 0.3·0)
        (2, "幸福里第一网格", 65.0),  # 100·(0.4·0.5 + 0.3·0.5 + 0.3·1)
        (None, "和平苑网格", None),  # no cases: nothing to rank it by
    ]


async def test_grid_filter_and_period(week: Harness) -> None:
    [only] = figures(week, grid_ids=[2])
    assert only.grid == "幸福里第二网格" and only.figures.new == 1
    next_week = stats.week_bounds(START.date() + timedelta(days=7), TZ)
    with session_scope(week.runtime.engine) as session:
        later = stats.grid_figures(session, start=next_week[0], end=next_week[1],
                                   now=week.clock())
    assert all(g.figures == Figures() for g in later)


async def test_as_dict_is_plain_json(week: Harness) -> None:
    body = figures(week)[0].figures.as_dict()
    assert body["closure_rate"] == 0.5 and body["handled"] == 2 and body["rated"] == 1
    assert body["avg_response_hours"] == 0.5
    assert isinstance(body["categories"], dict)


def test_week_bounds_run_monday_to_monday_in_local_time() -> None:
    start, end = stats.week_bounds(date(2026, 11, 26), TZ)  # a Thursday
    assert start == datetime(2026, 11, 23, tzinfo=TZ) and end == datetime(2026, 11, 30, tzinfo=TZ)
    assert stats.day_bounds(date(2026, 11, 1), date(2026, 11, 30), TZ) == (
        datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ))


def _grid(name: str, **counts: int) -> GridFigures:
    return GridFigures(grid_id=0, grid=name, community_id=0, community="", figures=Figures(
        **counts))


def test_equal_scores_share_a_rank_and_missing_rates_drop_out() -> None:
    ranking = stats.rank_grids([
        _grid("甲", new=2, resolved=2),  # only 办结率 known: 100
        _grid("乙", new=4, resolved=4, on_time=4),  # 100 too, with more cases: listed first
        _grid("丙", new=2, resolved=1, on_time=1, satisfied=1),
    ])
    assert [(r.rank, r.grid.grid, r.score) for r in ranking] == [
        (1, "乙", 100.0), (1, "甲", 100.0), (3, "丙", 80.0)]


def test_figures_in_sql_equal_the_per_case_definition(db_url: str) -> None:
    """``grid_figures`` adds the cases up in SQL; over a seeded world of every state, deadline,
    rating and response it must give what ``case_figures`` gives case by case."""
    import random

    from sqlmodel import col, select

    from bot.config import DemoSettings
    from bot.runtime import prepare_database
    from storage.models import Case, CaseEvent, ChatGroup, Grid, Person
    from tests.conftest import make_settings

    rng = random.Random(9)
    now = START + timedelta(days=3)
    engine = prepare_database(make_settings(db_url, demo=DemoSettings(seed=True)))
    with session_scope(engine) as session:
        grids = session.exec(select(Grid)).all()
        reporter = session.exec(select(Person)).first()
        assert reporter is not None
        groups = {g.grid_id: g.id for g in session.exec(select(ChatGroup)).all() if g.grid_id}
        statuses = ["reported", "accepted", "dispatched", "resolved", "closed", "reopened",
                    "rejected", "merged"]
        for no in range(1, 301):
            grid = rng.choice(grids)
            created = START + timedelta(minutes=rng.randrange(-3 * 24 * 60, 6 * 24 * 60))
            status = rng.choice(statuses)
            resolved_at = created + timedelta(hours=rng.uniform(-1, 80)) \
                if status in ("resolved", "closed") and rng.random() < 0.9 else None
            case = Case(
                no=no, grid_id=grid.id, group_id=groups[grid.id], reporter_id=reporter.id,
                text="测试", category=rng.choice(["repair", "noise", "sanitation"]),
                urgent=rng.random() < 0.2, status=status,
                satisfaction=rng.choice([None, "satisfied", "basic", "unsatisfied", "unrated"]),
                reopen_count=rng.choice([0, 0, 1, 2]), created_at=created,
                accept_due_at=rng.choice([None, created + timedelta(hours=rng.uniform(0, 48))]),
                resolve_due_at=rng.choice([None, created + timedelta(hours=rng.uniform(0, 96))]),
                resolved_at=resolved_at)
            session.add(case)
            session.flush()
            for _ in range(rng.randrange(3)):
                session.add(CaseEvent(case_id=case.id, action=rng.choice(
                    [*stats.RESPONSE_ACTIONS, "report", "support", "dismiss"]),
                    at=created + timedelta(minutes=rng.uniform(-10, 3000))))
    start, end = START - timedelta(days=1), START + timedelta(days=4)
    with session_scope(engine) as session:
        in_sql = {g.grid_id: g.figures for g in stats.grid_figures(
            session, start=start, end=end, now=now)}
        dismissed = set(session.exec(select(CaseEvent.case_id).where(
            CaseEvent.action == "dismiss")).all())
        expected: dict[int, Figures] = {g.id: Figures() for g in grids}
        for case in session.exec(select(Case).where(col(Case.created_at) >= start)
                                 .where(col(Case.created_at) < end)).all():
            if case.status == "merged" or case.id in dismissed:
                continue
            first = min((e.at for e in session.exec(select(CaseEvent).where(
                CaseEvent.case_id == case.id)).all() if e.action in stats.RESPONSE_ACTIONS),
                default=None)
            expected[case.grid_id] += stats.case_figures(case, first, now=now)
    engine.dispose()
    assert sum(f.new for f in expected.values()) > 50  # the period holds a real sample
    for grid_id, want in expected.items():
        got = in_sql[grid_id]
        assert got.response_seconds == pytest.approx(want.response_seconds, abs=1)
        assert got.resolution_seconds == pytest.approx(want.resolution_seconds, abs=1)
        exact = {k: v for k, v in want.as_dict().items() if "hours" not in k}
        assert {k: v for k, v in got.as_dict().items() if "hours" not in k} == exact
