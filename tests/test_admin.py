"""Grids and people: the hierarchy, groups bound to grids, workers matched to their chat
contacts, and the sheet import with its report per row — through the page as staff use it, and
the bot then acting on what was registered."""

from __future__ import annotations

import io
import re

import aiohttp
import pytest
from openpyxl import Workbook

from tests.auxil.chat import say
from tests.auxil.dashboard import Browsers, WebUser, add_account
from tests.conftest import Harness

HEADER = ["街道", "社区", "网格", "群ID", "群名称", "姓名", "微信ID", "角色"]


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    bot = await start_gridbot(store_url)
    for name in ("admin", "zhou"):
        add_account(bot, name)
    return bot


@pytest.fixture
async def admin(web: Browsers) -> WebUser:
    user = await web.logged_in("admin")
    await user.page("/admin")
    return user


def sheet(rows: list[list[str | None]]) -> bytes:
    book = Workbook()
    book.active.append(HEADER)
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(user: WebUser, name: str, data: bytes) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf", user.csrf)
    form.add_field("file", data, filename=name)
    return await user.post("/admin/import", form)


async def test_the_page_shows_the_hierarchy_groups_and_people(admin: WebUser) -> None:
    html = await admin.page("/admin")
    for text in ("幸福街道", "幸福里社区", "幸福里第一网格", "网格员李娜", "幸福里1-6号楼邻里群",
                 "批量导入", "后台账号"):
        assert text in html


async def test_a_new_grid_with_its_group_and_worker_works_in_chat(bot: Harness,
                                                                  admin: WebUser) -> None:
    html = await admin.page("/admin")
    community_id = re.search(r'<option value="(\d+)">幸福里社区</option>', html)[1]
    resp = await admin.post("/admin/grids", {"community_id": community_id,
                                             "name": "幸福里第三网格"})
    assert resp.status == 303
    html = await admin.page("/admin")
    assert "已新增网格“幸福里第三网格”" in html
    grid_id = re.search(r'<option value="grid:(\d+)"[^>]*>幸福里第三网格</option>', html)[1]
    resp = await admin.post("/admin/groups", {"room_id": "xingfuli-3@chatroom",
                                              "topic": "幸福里13号楼群",
                                              "target": f"grid:{grid_id}"})
    assert resp.status == 303
    resp = await admin.post("/admin/people", {"contact_id": "小周", "name": "小周",
                                              "role": "grid_worker", "grid_id": grid_id})
    assert resp.status == 303
    assert "已登记网格员小周" in await admin.page("/admin")
    # the simulator offers the new group at once; the bot files a case there for the new worker
    await bot.post("xingfuli-3@chatroom", "新居民", "13号楼楼道灯坏了好几天了")
    [ack] = [m["text"] for m in await bot.bot_replies(room="xingfuli-3@chatroom")]
    assert "网格员小周" in ack
    [accepted] = await say(bot, "小周", "接单 #1", room="xingfuli-3@chatroom")
    assert "小周受理" in accepted


async def test_registering_a_resident_as_a_worker_matches_their_contact(bot: Harness,
                                                                       admin: WebUser) -> None:
    await say(bot, "陈阿姨", "大家好")  # known to the bot as a resident of 幸福里第一网格
    html = await admin.page("/admin")
    assert '<option value="陈阿姨">' in html, "offered among the known contacts"
    grid_id = re.search(r'<option value="(\d+)">幸福里第一网格</option>', html)[1]
    resp = await admin.post("/admin/people", {"contact_id": "陈阿姨", "name": "陈阿姨",
                                              "role": "grid_leader", "grid_id": grid_id})
    assert resp.status == 303
    [help_text] = await say(bot, "陈阿姨", "帮助")
    assert "指派" in help_text


async def test_import_reports_each_row_and_keeps_the_good_ones(bot: Harness,
                                                              admin: WebUser) -> None:
    data = sheet([
        ["幸福街道", "幸福里社区", "幸福里第三网格", "xingfuli-3@chatroom", "幸福里13号楼群",
         "小周", "小周", "网格员"],
        [None, "幸福里社区", "幸福里第三网格", None, None, "老钱", "老钱", "网格长"],
        [None, "和平苑社区", "和平苑网格", None, None, "老孙", "", "网格员"],
        [None, "幸福里社区", "幸福里第四网格", None, None, "小吴", "小吴", "楼长"],
        [None, "和平苑社区", "幸福里第一网格", None, None, None, None, None],
        [None, None, None, None, None, None, None, None],
        ["新街道", "新社区", "新网格", None, None, None, None, None],
    ])
    resp = await upload(admin, "名单.xlsx", data)
    html = await resp.text()
    assert resp.status == 200 and "导入完成：成功 3 行，失败 3 行" in html
    assert "第 2 行</td><td>成功" in html and "新建网格“幸福里第三网格”" in html
    assert "第 3 行</td><td>成功" in html and "登记网格长老钱" in html
    assert "第 4 行</td><td>失败</td><td>请填写微信ID" in html
    assert "第 5 行</td><td>失败</td><td>角色“楼长”无法识别" in html
    assert "第 6 行</td><td>失败</td><td>网格“幸福里第一网格”已属于“幸福里社区”" in html
    assert "第 8 行</td><td>成功" in html
    grids = await admin.json("/api/grids")
    xingfuli = next(c for s in grids for c in s["communities"] if c["community"] == "幸福里社区")
    third = next(g for g in xingfuli["grids"] if g["grid"] == "幸福里第三网格")
    assert third["groups"] == [{"room": "xingfuli-3@chatroom", "topic": "幸福里13号楼群"}]
    assert {p["name"] for p in third["people"]} == {"小周", "老钱"}
    assert "幸福里第四网格" not in str(grids), "a failed row changes nothing"


async def test_import_reads_csv_saved_by_excel_in_gbk(admin: WebUser) -> None:
    text = ",".join(HEADER) + "\r\n,和平苑社区,和平苑第二网格,,,,,\r\n"
    resp = await upload(admin, "grids.csv", text.encode("gb18030"))
    assert "成功 1 行" in await resp.text()


@pytest.mark.parametrize(("name", "data", "message"), [
    ("名单.txt", b"x", "请上传 .xlsx 或 .csv 文件"),
    ("名单.xlsx", b"not a zip", "无法读取这个 Excel 文件"),
    ("名单.csv", "姓名,角色\r\n张三,网格员\r\n".encode(), "至少要有“网格”一列"),
])
async def test_unreadable_sheets_are_explained(admin: WebUser, name: str, data: bytes,
                                              message: str) -> None:
    resp = await upload(admin, name, data)
    assert resp.status == 400 and message in await resp.text()


async def test_community_staff_change_only_their_community(bot: Harness, web: Browsers) -> None:
    zhou = await web.logged_in("zhou")
    html = await zhou.page("/admin")
    assert "和平苑网格" not in html and "新增街道" not in html and "后台账号" not in html
    data = sheet([[None, "幸福里社区", "幸福里第五网格", None, None, None, None, None],
                  [None, "和平苑社区", "和平苑第三网格", None, None, None, None, None]])
    text = await (await upload(zhou, "名单.xlsx", data)).text()
    assert "第 2 行</td><td>成功" in text
    assert "第 3 行</td><td>失败</td><td>“和平苑社区”不在您负责的范围内" in text
    resp = await zhou.post("/admin/streets", {"name": "另一个街道"})
    # outside their scope: refused (403), not a mistake in the form (400)
    assert resp.status == 403 and "只有街道（乡镇）管理员可以新增街道" in await resp.text()
