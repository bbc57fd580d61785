"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a running
gridbot with the simulator. Staff log in, find a case a resident reported in the chat, accept and
resolve it from its page and the relay arrives in the group; the Excel export downloads and
opens; wrong passwords, missing CSRF tokens and other communities' cases are refused. Each main
page is photographed at laptop and phone width into test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.auxil.chat import ROOM, report, say
from tests.auxil.dashboard import PASSWORD, add_account
from tests.conftest import Harness

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("GRIDBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OTHER_ROOM = "hepingyuan@chatroom"


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    bot = await start_gridbot(store_url)
    for name in ("admin", "lina", "wu"):
        add_account(bot, name)
    return bot


async def publish_for_screenshot(bot: Harness) -> None:
    from handlers.notices.publish import NoticeRequest, create_notice
    from storage.db import session_scope

    assert bot.runtime.engine is not None and bot.runtime.context is not None
    with session_scope(bot.runtime.engine) as session:
        create_notice(session, bot.runtime.context, NoticeRequest(
            title="垃圾分类提醒", body="本周六上午9点在小区广场开展垃圾分类宣传，欢迎参加。",
            targets={"all": True}), created_by="孙丽")
    await bot.runtime.run_notices()
    await bot.settle()
    await say(bot, "王芳", "收到")


def url(bot: Harness, path: str) -> str:
    return str(bot.client.make_url(path))


async def new_page(browser, *, viewport: dict[str, int] = LAPTOP, downloads: bool = False):
    context = await browser.new_context(viewport=viewport, locale="zh-CN",
                                        accept_downloads=downloads)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" before 办结
    return page


async def log_in(page, bot: Harness, username: str, password: str = PASSWORD) -> None:
    await page.goto(url(bot, "/login"))
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_find_accept_and_resolve_a_case_and_the_group_hears(bot: Harness,
                                                                  browser) -> None:
    no = await report(bot, "3号楼2单元楼道灯坏了好几天了，晚上上楼黑乎乎的")
    await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    page = await new_page(browser)
    await log_in(page, bot, "lina")
    await page.wait_for_url(re.compile(r"/cases$"))
    assert await page.locator("h1").inner_text() == "工单台账"

    await page.click("details.filters summary")
    await page.fill("input[name=q]", "楼道灯")
    await page.click("details.filters button[type=submit]")
    row = page.locator(f'tr[data-no="{no}"]')
    assert "待受理" in await row.inner_text()
    await row.locator(f'a[href="/cases/{no}"]').first.click()
    await page.wait_for_url(re.compile(rf"/cases/{no}$"))
    assert "晚上上楼黑乎乎的" in await page.locator(".messages").inner_text()
    assert "楼道灯" in await page.locator("table.hits").inner_text()

    await page.click("details.action:has(form[data-action=accept]) summary")
    await page.click("form[data-action=accept] button[type=submit]")
    await page.wait_for_selector(".notice-ok")
    assert f"已接单 #{no}" in await page.locator(".notice-ok").inner_text()

    await page.click("details.action:has(form[data-action=resolve]) summary")
    await page.fill("form[data-action=resolve] textarea[name=note]", "已更换灯泡，楼道恢复照明")
    await page.click("form[data-action=resolve] button[type=submit]")
    await page.wait_for_selector(".notice-ok")
    assert "已办结，待评价" in await page.locator(".summary").inner_text()
    assert "已更换灯泡" in await page.locator(".timeline").inner_text()

    await bot.settle()
    response = await page.request.get(url(bot, f"/api/sim/messages?room={ROOM}"))
    relays = [m["text"] for m in await response.json() if m["from_bot"]]
    assert any("李娜受理" in t and t.startswith("@王芳") for t in relays)
    assert "已更换灯泡，楼道恢复照明" in relays[-1] and "满意" in relays[-1]


async def test_publish_a_notice_with_a_live_preview_and_see_it_reach_the_groups(
        bot: Harness, browser) -> None:
    page = await new_page(browser)
    await log_in(page, bot, "admin")
    await page.wait_for_url(re.compile(r"/cases$"))
    await page.click("nav >> text=通知公告")
    await page.wait_for_url(re.compile(r"/notices$"))
    await page.fill("input[name=title]", "停水通知")
    await page.fill("textarea[name=body]", "{{ grid }}的居民朋友们：明天上午停水，请提前储水。")
    await page.check("input[name=scope][value=communities]")
    await page.check("input[name=community][value=幸福里社区]")
    preview = page.locator("#preview-text")
    await page.wait_for_function(
        "document.getElementById('preview-text').textContent.includes('幸福里第一网格的居民朋友们')")
    assert "将发送到 2 个群" in await page.locator("#preview-meta").inner_text()
    assert (await preview.inner_text()).startswith("【停水通知】")
    await page.fill("textarea[name=body]", "{{ gird }}的居民朋友们")  # a typo is caught live
    await page.wait_for_function(
        "document.getElementById('preview-text').textContent.includes('不存在的变量')")
    await page.fill("textarea[name=body]", "{{ grid }}的居民朋友们：明天上午停水，请提前储水。")
    await page.click("#compose button[type=submit]")
    await page.wait_for_url(re.compile(r"/notices/\d+$"))
    assert "通知已发布" in await page.locator(".notice-ok").inner_text()
    await bot.settle()
    await page.reload()
    assert "送达 2 / 2 个群" in await page.locator(".summary").inner_text()
    response = await page.request.get(url(bot, f"/api/sim/messages?room={ROOM}"))
    copies = [m["text"] for m in await response.json()
              if m["from_bot"] and "【停水通知】" in m["text"]]
    assert copies == ["【停水通知】\n幸福里第一网格的居民朋友们：明天上午停水，请提前储水。\n\n"
                      "看到的居民朋友请回复“收到”，谢谢！"]
    await say(bot, "王芳", "收到")
    await page.reload()
    assert "王芳" in await page.locator("table").first.inner_text()


async def test_the_excel_export_downloads_and_opens(bot: Harness, browser,
                                                    tmp_path: Path) -> None:
    no = await report(bot)
    page = await new_page(browser, downloads=True)
    await log_in(page, bot, "admin")
    await page.wait_for_url(re.compile(r"/cases$"))
    async with page.expect_download() as info:
        await page.click("text=导出 Excel")
    download = await info.value
    assert download.suggested_filename.startswith("工单台账-") and \
        download.suggested_filename.endswith(".xlsx")
    target = tmp_path / download.suggested_filename
    await download.save_as(target)
    rows = list(load_workbook(target).active.iter_rows(values_only=True))
    assert rows[0][0] == "工单号" and rows[1][0] == no
    assert "3号楼2单元楼道灯坏了好几天了" in rows[1]


async def test_a_wrong_password_is_refused(bot: Harness, browser) -> None:
    page = await new_page(browser)
    await log_in(page, bot, "admin", "not the password")
    await page.wait_for_selector(".notice-error")
    assert "用户名或密码不正确" in await page.locator(".notice-error").inner_text()
    await page.goto(url(bot, "/cases"))
    assert "/login" in page.url


async def test_repeated_failures_lock_the_login(bot: Harness, browser) -> None:
    page = await new_page(browser)
    for _ in range(5):
        await log_in(page, bot, "admin", "guess again")
    await log_in(page, bot, "admin")
    await page.wait_for_selector(".notice-error")
    assert "15 分钟后再试" in await page.locator(".notice-error").inner_text()


async def test_a_form_without_its_csrf_token_is_refused(bot: Harness, browser) -> None:
    no = await report(bot)
    page = await new_page(browser)
    await log_in(page, bot, "admin")
    await page.goto(url(bot, f"/cases/{no}"))
    await page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    await page.click("details.action:has(form[data-action=accept]) summary")
    await page.click("form[data-action=accept] button[type=submit]")
    await page.wait_for_selector("h1")
    assert "页面已过期" in await page.content()
    await page.goto(url(bot, f"/cases/{no}"))
    assert "待受理" in await page.locator(".summary").inner_text()


async def test_a_community_cannot_see_another_communitys_case(bot: Harness, browser) -> None:
    theirs = await report(bot)  # 幸福里社区
    mine = await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    page = await new_page(browser)
    await log_in(page, bot, "wu")  # 和平苑社区
    await page.wait_for_url(re.compile(r"/cases$"))
    ledger = await page.locator("table.ledger").inner_text()
    assert f"#{mine}" in ledger and f"#{theirs}" not in ledger
    response = await page.goto(url(bot, f"/cases/{theirs}"))
    assert response.status == 404
    assert "不在您负责的范围内" in await page.content()


@pytest.mark.parametrize(("size", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
async def test_screenshots_of_the_main_pages(bot: Harness, browser, size: str,
                                             viewport: dict[str, int]) -> None:
    """Not a picture test: each page must render its heading without horizontal scrolling of
    the whole page, and the pictures are kept as artifacts (and for the README)."""
    no = await report(bot)
    await report(bot, "5号楼电梯把人困住了，快来人", sender="刘大爷")
    await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", OTHER_ROOM)
    done = await report(bot, "7号楼楼道里堆满了杂物，过不去人", "孙浩", "xingfuli-2@chatroom")
    await say(bot, "李娜", f"接单 #{no}")
    await say(bot, "李娜", f"进度 #{no} 已联系物业，下午来换灯")
    await say(bot, "王磊", f"接单 #{done}", room="xingfuli-2@chatroom")
    bot.clock.advance(hours=1)
    await say(bot, "王磊", f"办结 #{done} 杂物已清理", room="xingfuli-2@chatroom")
    await say(bot, "孙浩", "满意", room="xingfuli-2@chatroom")
    bot.clock.advance(hours=2)  # 13:00: the lift and the dancing are past their deadlines
    await report(bot, "小区门口的垃圾桶满了好几天没人清", "黄女士", OTHER_ROOM)
    await publish_for_screenshot(bot)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = await new_page(browser, viewport=viewport)
    await page.goto(url(bot, "/login"))
    await page.screenshot(path=str(SCREENSHOTS / f"login-{size}.png"), full_page=True)
    await log_in(page, bot, "admin")
    await page.wait_for_url(re.compile(r"/cases$"))
    for name, path, heading in (("ledger", "/cases", "工单台账"),
                                ("case", f"/cases/{no}", f"工单 #{no}"),
                                ("figures", "/figures", "数据统计"),
                                ("notices", "/notices", "通知公告"),
                                ("admin", "/admin", "网格与人员")):
        await page.goto(url(bot, path))
        assert heading in await page.locator("h1").inner_text()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{path} is wider than the window at {size} width"
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
