"""The ledger and the figures as the files offices exchange: ``.xlsx`` (openpyxl) and CSV (UTF-8
with a byte-order mark, so Excel reads the Chinese right), with Chinese headers.

``GET /api/cases/export.xlsx|csv`` takes the ledger's filters; ``GET /api/stats/export.xlsx|csv``
the figures' period and grid. Both answer to a Bearer token or a dashboard login.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session

from bot.web.dashboard.common import context, now
from bot.web.dashboard.figures import Report, load_report
from bot.web.dashboard.ledger import case_row, parse_query
from bot.web.keys import SETTINGS, VIEWER
from bot.web.session import in_session
from handlers import ledger
from handlers.stats import Figures

api_routes = web.RouteTableDef()

MAX_ROWS = 50_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RATINGS = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意", "unrated": "未评价"}

Cell = str | int | float | datetime | None
Column = tuple[str, Callable[[Any], Cell], str | None]  # header, value, number format

PERCENT, HOURS, MOMENT = "0.0%", "0.0", "yyyy-mm-dd hh:mm"


# --- the ledger ---------------------------------------------------------------------------------


def _local(tz: Any) -> Callable[[datetime | None], datetime | None]:
    """Excel has no time zones: cells hold local wall-clock time."""
    return lambda m: m.astimezone(tz).replace(tzinfo=None) if m else None


def ledger_columns(tz: Any) -> list[Column]:
    at = _local(tz)
    return [
        ("工单号", lambda r: r["no"], None),
        ("状态", lambda r: r["status_name"], None),
        ("紧急", lambda r: "是" if r["urgent"] else "否", None),
        ("超期", lambda r: "是" if r["overdue"] else "否", None),
        ("类别", lambda r: r["category_name"], None),
        ("社区", lambda r: r["community"], None),
        ("网格", lambda r: r["grid"], None),
        ("反映人", lambda r: r["reporter"], None),
        ("反映内容", lambda r: r["text"], None),
        ("位置", lambda r: r["location"], None),
        ("负责人", lambda r: r["assignee"], None),
        ("转办单位", lambda r: r["case"].dispatched_to, None),
        ("登记时间", lambda r: at(r["created_at"]), MOMENT),
        ("受理期限", lambda r: at(r["case"].accept_due_at), MOMENT),
        ("办结期限", lambda r: at(r["case"].resolve_due_at), MOMENT),
        ("受理时间", lambda r: at(r["case"].accepted_at), MOMENT),
        ("办结时间", lambda r: at(r["case"].resolved_at), MOMENT),
        ("结案时间", lambda r: at(r["case"].closed_at), MOMENT),
        ("评价", lambda r: RATINGS.get(r["case"].satisfaction or "", ""), None),
        ("重新办理次数", lambda r: r["case"].reopen_count, None),
        ("并入工单", lambda r: r["case"].merged_into, None),
    ]


async def _ledger_rows(request: web.Request) -> list[dict[str, Any]]:
    viewer, ctx, tz, moment = (request[VIEWER], context(request),
                               request.app[SETTINGS].general.tz, now(request))

    def load(session: Session) -> list[dict[str, Any]]:
        lq = parse_query(session, ctx, viewer, request.query, tz)
        cases = ledger.search(session, lq.filter, now=moment, sort=lq.sort,
                              descending=lq.descending, limit=MAX_ROWS)
        return [case_row(session, ctx, c, moment) for c in cases]

    return await in_session(request.app, load)


@api_routes.get("/api/cases/export.{fmt:xlsx|csv}")
async def export_cases(request: web.Request) -> web.StreamResponse:
    """The ledger with its filters, every matching case (up to 50,000)."""
    rows = await _ledger_rows(request)
    columns = ledger_columns(request.app[SETTINGS].general.tz)
    name = f"工单台账-{_today(request):%Y%m%d}"
    if request.match_info["fmt"] == "csv":
        return _csv(name, columns, rows)
    return _xlsx(name, [("工单台账", columns, rows)])


# --- the figures --------------------------------------------------------------------------------

#: a line of the figures: (level, community, grid, figures); level is 网格, 社区 or 合计
Line = tuple[str, str, str, Figures]


def figure_columns(*, level: bool = False, grid: bool = True) -> list[Column]:
    def f(x: Line) -> Figures:
        return x[3]

    first: list[Column] = [("层级", lambda x: x[0], None)] if level else []
    first.append(("社区", lambda x: x[1], None))
    if grid:
        first.append(("网格", lambda x: x[2], None))
    return [*first,
            ("新增", lambda x: f(x).new, None), ("紧急", lambda x: f(x).urgent, None),
            ("退回", lambda x: f(x).rejected, None), ("受理", lambda x: f(x).handled, None),
            ("办结", lambda x: f(x).resolved, None),
            ("办结率", lambda x: f(x).closure_rate, PERCENT),
            ("按期办结", lambda x: f(x).on_time, None), ("逾期", lambda x: f(x).late, None),
            ("按期办结率", lambda x: f(x).on_time_rate, PERCENT),
            ("满意", lambda x: f(x).satisfied, None), ("基本满意", lambda x: f(x).basic, None),
            ("不满意", lambda x: f(x).unsatisfied, None), ("未评价", lambda x: f(x).unrated, None),
            ("满意率", lambda x: f(x).satisfaction_rate, PERCENT),
            ("平均首次响应（小时）", lambda x: _round(f(x).avg_response_hours), HOURS),
            ("平均办结用时（小时）", lambda x: _round(f(x).avg_resolution_hours), HOURS),
            ("超期未办", lambda x: f(x).overdue, None)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def figure_lines(report: Report) -> tuple[list[Line], list[Line]]:
    """The report's grid lines, and its community lines followed by the total."""
    grids = [("网格", g.community, g.grid, g.figures) for g in report.grids]
    communities = [("社区", c.community, "", c.figures) for c in report.communities]
    return grids, [*communities, ("合计", "合计", "", report.total)]


@api_routes.get("/api/stats/export.{fmt:xlsx|csv}")
async def export_stats(request: web.Request) -> web.StreamResponse:
    """The figures of a period: per grid, per community, the ranking and the categories."""
    report = await load_report(request)
    name = f"工单统计-{report.first:%Y%m%d}-{report.last:%Y%m%d}"
    grids, communities = figure_lines(report)
    if request.match_info["fmt"] == "csv":
        return _csv(name, figure_columns(level=True), [*grids, *communities])
    ranking: list[Column] = [
        ("名次", lambda x: x.rank, None), ("网格", lambda x: x.grid.grid, None),
        ("社区", lambda x: x.grid.community, None), ("得分", lambda x: x.score, HOURS),
        ("新增", lambda x: x.grid.figures.new, None),
        ("办结率", lambda x: x.grid.figures.closure_rate, PERCENT),
        ("按期办结率", lambda x: x.grid.figures.on_time_rate, PERCENT),
        ("满意率", lambda x: x.grid.figures.satisfaction_rate, PERCENT)]
    categories: list[Column] = [
        ("类别", lambda kv: report.category_names.get(kv[0], kv[0]), None),
        ("工单数", lambda kv: kv[1], None)]
    return _xlsx(name, [
        ("各网格", figure_columns(), grids),
        ("各社区", figure_columns(grid=False), communities),
        ("排名", ranking, report.ranking),
        ("问题类别", categories,
         sorted(report.total.categories.items(), key=lambda kv: -kv[1])),
    ])


# --- writing files ------------------------------------------------------------------------------


def _xlsx(name: str, sheets: list[tuple[str, list[Column], Sequence[Any]]]) -> web.Response:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append([header for header, _, _ in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([value(row) for _, value, _ in columns])
        for i, (header, _, fmt) in enumerate(columns, start=1):
            letter = get_column_letter(i)
            sheet.column_dimensions[letter].width = max(8, min(40, 2 * len(header) + 4))
            if fmt:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = fmt
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return _download(out.getvalue(), f"{name}.xlsx", XLSX)


def _csv(name: str, columns: list[Column], rows: Sequence[Any]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for header, _, _ in columns])
    for row in rows:
        writer.writerow([_csv_cell(value(row), fmt) for _, value, fmt in columns])
    return _download(out.getvalue().encode("utf-8-sig"), f"{name}.csv",
                     "text/csv; charset=utf-8")


def _csv_cell(value: Cell, fmt: str | None) -> str:
    if value is None:
        return ""
    if fmt == PERCENT and isinstance(value, float):
        return f"{value * 100:.1f}%"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _download(body: bytes, filename: str, content_type: str) -> web.Response:
    ascii_name = filename.encode("ascii", "ignore").decode() or "export"
    return web.Response(body=body, headers={
        "Content-Type": content_type,
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
    })


def _today(request: web.Request) -> date:
    return now(request).astimezone(request.app[SETTINGS].general.tz).date()
