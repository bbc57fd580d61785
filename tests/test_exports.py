"""The ledger and the figures as .xlsx and CSV, with the ledger's filters and Chinese headers,
opened with openpyxl as an office would."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.auxil.chat import report, say
from tests.auxil.dashboard import Browsers, WebUser, add_account, token_for
from tests.conftest import Harness

OTHER_ROOM = "hepingyuan@chatroom"


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    bot = await start_gridbot(store_url)
    add_account(bot, "admin")
    add_account(bot, "zhou")
    first = await report(bot)
    await say(bot, "李娜", f"接单 #{first}")
    await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    return bot


async def download(user: WebUser, path: str) -> tuple[bytes, str]:
    resp = await user.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.read(), resp.headers["Content-Disposition"]


async def test_ledger_xlsx_opens_with_chinese_headers(web: Browsers) -> None:
    admin = await web.logged_in("admin")
    body, disposition = await download(admin, "/api/cases/export.xlsx")
    assert "attachment" in disposition and "filename*=UTF-8''" in disposition
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("工单号", "状态", "紧急", "超期", "类别", "社区")
    by_no = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(by_no) == {1, 2}
    assert by_no[1]["状态"] == "处理中" and by_no[1]["负责人"] == "李娜"
    assert by_no[1]["反映内容"] == "3号楼2单元楼道灯坏了好几天了"
    assert by_no[2]["网格"] == "和平苑网格" and by_no[2]["类别"] == "噪音扰民"
    assert by_no[1]["登记时间"].strftime("%Y-%m-%d %H:%M") == "2026-11-23 10:00"


async def test_ledger_exports_take_the_ledger_filters_and_scope(bot: Harness,
                                                                web: Browsers) -> None:
    admin = await web.logged_in("admin")
    body, _ = await download(admin, "/api/cases/export.csv?category=noise")
    assert body.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "工单号" and [r[0] for r in rows[1:]] == ["2"]
    zhou = await web.logged_in("zhou")
    body, _ = await download(zhou, "/api/cases/export.csv")
    assert [r[0] for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))][1:] == ["1"]
    resp = await bot.client.get("/api/cases/export.xlsx",
                                headers={"Authorization": f"Bearer {token_for(bot, None)}"})
    assert resp.status == 200
    assert len(list(load_workbook(io.BytesIO(await resp.read())).active.rows)) == 3
    resp = await bot.client.get("/api/cases/export.xlsx")
    assert resp.status == 401


async def test_figures_xlsx_has_grids_communities_ranking_and_categories(web: Browsers) -> None:
    admin = await web.logged_in("admin")
    body, _ = await download(admin, "/api/stats/export.xlsx?from=2026-11-23&to=2026-11-29")
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["各网格", "各社区", "排名", "问题类别"]
    grids = list(book["各网格"].iter_rows(values_only=True))
    assert grids[0][:5] == ("社区", "网格", "新增", "紧急", "退回")
    heping = next(r for r in grids if r[1] == "和平苑网格")
    assert heping[2] == 1
    communities = list(book["各社区"].iter_rows(values_only=True))
    assert communities[-1][0] == "合计" and communities[-1][1] == 2
    categories = dict(list(book["问题类别"].iter_rows(values_only=True))[1:])
    assert categories == {"房屋维修": 1, "噪音扰民": 1}


async def test_figures_csv_has_one_line_per_grid_community_and_total(web: Browsers) -> None:
    admin = await web.logged_in("admin")
    body, _ = await download(admin, "/api/stats/export.csv?from=2026-11-23&to=2026-11-29")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["层级"] for r in rows] == ["网格", "网格", "网格", "社区", "社区", "合计"]
    assert rows[-1]["新增"] == "2" and rows[-1]["办结率"] == "0.0%"
