"""``GET /api/openapi.json``: an OpenAPI 3.1 description of the JSON API, written as data.

Kept beside the routes by a test that compares it with the app's router: a route without an
entry here fails the suite. Served without a token (it describes the API, it holds no data).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.web.keys import SETTINGS
from bot.web.middleware import json_response

routes = web.RouteTableDef()

JSON = "application/json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _param(name: str, description: str, *, where: str = "query", required: bool = False,
           schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": schema or {"type": "string"}}


def _ok(description: str, schema: dict[str, Any] | None = None,
        media: str = JSON) -> dict[str, Any]:
    body = {"description": description}
    if schema is not None:
        body["content"] = {media: {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "输入有误", 401: "缺少或无效的令牌", 403: "无权操作或 CSRF 校验失败",
             404: "没有找到", 409: "当前状态不允许这个操作", 413: "请求内容太大（上限 5 MB）",
             422: "指定的人员、工单或类别不存在，或名称太长"}
    return {str(c): {"description": words[c], "content": {
        JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


LEDGER_FILTERS = [
    _param("status", "状态：reported、accepted、dispatched、resolved、closed、reopened、rejected、"
                     "merged，或 open（办理中的全部）"),
    _param("grid", "网格名称或编号"),
    _param("community", "社区名称或编号"),
    _param("category", "类别键，如 facility、repair"),
    _param("urgent", "true 或 false", schema={"type": "boolean"}),
    _param("overdue", "true：只看超期", schema={"type": "boolean"}),
    _param("from", "登记日期起（本地日期，含）", schema={"type": "string", "format": "date"}),
    _param("to", "登记日期止（本地日期，含）", schema={"type": "string", "format": "date"}),
    _param("q", "在内容、位置、转办单位、反映人、工单号中搜索"),
    _param("sort", "排序：no、created、status、category、grid、due、urgent"),
    _param("order", "asc 或 desc（默认 desc）"),
]
PAGING = [_param("limit", "每页条数，1–1000，默认 100（超出范围为 400）",
                 schema={"type": "integer", "minimum": 1, "maximum": 1000}),
          _param("offset", "跳过的条数", schema={"type": "integer", "minimum": 0})]
PERIOD = [
    _param("from", "统计起始日期（含），默认本周一", schema={"type": "string", "format": "date"}),
    _param("to", "统计截止日期（含），默认本周日", schema={"type": "string", "format": "date"}),
    _param("grid", "只看这个网格（名称或编号）"),
    _param("community", "只看这个社区（名称或编号）"),
]
NO = _param("no", "工单号", where="path", schema={"type": "integer"})
NOTICE_ID = _param("id", "通知编号", where="path", schema={"type": "integer"})
FORMAT = _param("fmt", "xlsx 或 csv", where="path",
                schema={"type": "string", "enum": ["xlsx", "csv"]})
FILE = {"description": "文件（.xlsx 或带 BOM 的 UTF-8 CSV），中文表头", "content": {
    XLSX: {"schema": {"type": "string", "format": "binary"}},
    "text/csv": {"schema": {"type": "string"}}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


PATHS: dict[str, dict[str, Any]] = {
    "/api/openapi.json": {"get": {
        "summary": "本 API 的 OpenAPI 描述", "security": [],
        "responses": {"200": _ok("OpenAPI 3.1 文档", {"type": "object"})}}},
    "/api/me": {"get": {
        "summary": "当前调用者：账号、角色、可见范围、能否办理",
        "responses": {"200": _ok("调用者", _ref("Me")), **_errors(401)}}},
    "/api/groups": {"get": {
        "summary": "调用者范围内的群及其网格、网格员",
        "responses": {"200": _ok("群列表", _array({"type": "object"})), **_errors(401)}}},
    "/api/grids": {"get": {
        "summary": "街道 → 社区 → 网格的层级，含绑定的群和登记的网格员",
        "responses": {"200": _ok("层级", _array({"type": "object"})), **_errors(401)}}},
    "/api/people": {"get": {
        "summary": "登记的网格员、网格长和工作人员",
        "parameters": [_param("role", "grid_worker、grid_leader 或 staff")],
        "responses": {"200": _ok("人员", _array(_ref("Person"))), **_errors(400, 401)}}},
    "/api/cases": {"get": {
        "summary": "工单台账（与台账页面相同的筛选）",
        "parameters": [*LEDGER_FILTERS, *PAGING],
        "responses": {"200": _ok("工单", _array(_ref("Case"))), **_errors(400, 401)}}},
    "/api/cases/counts": {"get": {
        "summary": "台账顶部的统计：符合条件的总数、各状态数、超期数",
        "parameters": LEDGER_FILTERS,
        "responses": {"200": _ok("计数", _ref("Counts")), **_errors(400, 401)}}},
    "/api/cases/export.{fmt}": {"get": {
        "summary": "按台账筛选导出工单（Excel 或 CSV）",
        "parameters": [FORMAT, *LEDGER_FILTERS],
        "responses": {"200": FILE, **_errors(400, 401)}}},
    "/api/cases/{no}": {"get": {
        "summary": "一个工单：字段、办理经过、居民原话、自动分类依据、可进行的操作",
        "parameters": [NO],
        "responses": {"200": _ok("工单详情", _ref("CaseDetail")), **_errors(400, 401, 404)}}},
    "/api/cases/{no}/actions": {"post": {
        "summary": "办理工单（与群里命令相同的规则和群内通知）。用登录会话调用时需带 "
                   "X-CSRF-Token；用令牌调用时需 write 范围且关联账号",
        "parameters": [NO],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Action")}}},
        "responses": {"200": _ok("已办理", {"type": "object", "properties": {
            "message": {"type": "string"}, "case": _ref("Case")}}),
            **_errors(400, 401, 403, 404, 409, 413, 422)}}},
    "/api/stats": {"get": {
        "summary": "统计：总体、各社区、各网格、排名（与数据统计页面相同）",
        "parameters": PERIOD,
        "responses": {"200": _ok("统计", _ref("Stats")), **_errors(400, 401)}}},
    "/api/stats/export.{fmt}": {"get": {
        "summary": "导出统计（Excel：各网格、各社区、排名、问题类别；CSV：各网格、各社区、合计）",
        "parameters": [FORMAT, *PERIOD],
        "responses": {"200": FILE, **_errors(400, 401)}}},
    "/api/notices": {
        "get": {"summary": "调用者范围内的通知，最新的在前，含发送进度和回执数",
                "responses": {"200": _ok("通知", _array(_ref("Notice"))), **_errors(401)}},
        "post": {"summary": "发布通知：立即、定时（send_at）或按重复规则（repeat）。"
                            "街道、社区工作人员（登录会话需带 X-CSRF-Token；"
                            "令牌需 write 范围且关联账号）；"
                            "社区工作人员只能发到本社区的群",
                 "requestBody": {"required": True,
                                 "content": {JSON: {"schema": _ref("NoticeInput")}}},
                 "responses": {"201": _ok("已发布", _ref("NoticeDetail")),
                               **_errors(400, 401, 403, 413)}}},
    "/api/notices/{id}": {
        "get": {"summary": "一条通知：每次发送、各群送达情况（room、status、sent_at、error）和回执",
                "parameters": [NOTICE_ID],
                "responses": {"200": _ok("通知详情", _ref("NoticeDetail")),
                              **_errors(400, 401, 404)}},
        "delete": {"summary": "取消通知：不再按计划发送，收回还没发出的消息（taken_back）",
                   "parameters": [NOTICE_ID],
                   "responses": {"200": _ok("已取消", _ref("NoticeDetail")),
                                 **_errors(400, 401, 403, 404, 409)}}},
    "/api/notices/{id}/resend": {"post": {
        "summary": "补发：{\"below\": N} 发给回执少于 N 条的群，或 {\"rooms\": [群ID]}",
        "parameters": [NOTICE_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": {
            "type": "object", "properties": {"below": {"type": "integer", "minimum": 1},
                                             "rooms": _array({"type": "string"})}}}}},
        "responses": {"200": _ok("已补发", _ref("NoticeDetail")),
                      **_errors(400, 401, 403, 404, 413)}}},
    "/api/failures": {"get": {
        "summary": "发送与处理异常：多次重试仍未发出的消息（failed_sends）和未能处理的群消息"
                   "（parked_messages），最新的在前。街道、社区工作人员（社区只看本社区）和无账号的只读令牌",
        "responses": {"200": _ok("异常记录", {"type": "object", "properties": {
            "failed_sends": _array({"type": "object"}),
            "parked_messages": _array({"type": "object"})}}), **_errors(401, 403)}}},
    "/api/failures/sends/{id}/retry": {"post": {
        "summary": "把一条发送失败的消息重新排队（街道、社区工作人员，令牌需 write 范围）",
        "parameters": [_param("id", "发送记录编号", where="path", schema={"type": "integer"})],
        "responses": {"200": _ok("已重新排队", {"type": "object"}),
                      **_errors(401, 403, 404, 409)}}},
    "/api/failures/messages/{id}/retry": {"post": {
        "summary": "把一条未能处理的群消息重新交给机器人处理"
                   "（街道、社区工作人员，令牌需 write 范围）",
        "parameters": [_param("id", "消息记录编号", where="path", schema={"type": "integer"})],
        "responses": {"200": _ok("已重新处理", {"type": "object"}),
                      **_errors(401, 403, 404, 409)}}},
    "/api/sim/rooms": {"get": {
        "summary": "（仅模拟器）群和已知成员", "security": [],
        "responses": {"200": _ok("群", {"type": "object"})}}},
    "/api/sim/messages": {
        "get": {"summary": "（仅模拟器）一个群或私聊的消息", "security": [],
                "parameters": [_param("room", "群ID"), _param("contact", "私聊对象"),
                               _param("after", "只要这条之后的消息")],
                "responses": {"200": _ok("消息", _array({"type": "object"})),
                              **_errors(400, 404)}},
        "post": {"summary": "（仅模拟器）以某人身份发一条消息", "security": [],
                 "requestBody": {"required": True, "content": {JSON: {"schema": {
                     "type": "object", "required": ["sender", "text"], "properties": {
                         "room": {"type": ["string", "null"]}, "sender": {"type": "string"},
                         "text": {"type": "string"}, "kind": {"type": "string"}}}}}},
                 "responses": {"202": _ok("已收到", {"type": "object"}),
                               **_errors(400, 413)}}},
}

FIGURES = {name: {"type": ["number", "integer", "null"]} for name in (
    "new", "urgent", "rejected", "handled", "resolved", "open", "overdue", "on_time", "late",
    "satisfied", "basic", "unsatisfied", "unrated", "rated", "closure_rate", "on_time_rate",
    "satisfaction_rate", "avg_response_hours", "avg_resolution_hours")}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "code"], "properties": {
        "error": {"type": "string", "description": "中文说明，给人看"},
        "code": {"type": "string", "pattern": "^[a-z_]+$",
                 "description": "给程序判断的错误代码，措辞改变时不变：如 bad_request、"
                                "bad_filter、bad_json、invalid_input、token_missing、"
                                "token_invalid、csrf_failed、read_only、forbidden、role、"
                                "not_found、case_not_found、state、unknown_person、"
                                "assignee_elsewhere、assignee_ambiguous、"
                                "payload_too_large，通知的错误为其原因（如 out_of_reach）"}}},
    "Me": {"type": "object", "properties": {
        "username": {"type": ["string", "null"]}, "name": {"type": "string"},
        "role": {"type": ["string", "null"]}, "via": {"type": "string"},
        "can_write": {"type": "boolean"}, "grids": {"type": ["array", "null"]}}},
    "Person": {"type": "object", "properties": {
        "name": {"type": "string"}, "contact_id": {"type": "string"},
        "role": {"type": "string"}, "grid": {"type": ["string", "null"]}}},
    "Case": {"type": "object", "properties": {
        "no": {"type": "integer"}, "grid": {"type": "string"}, "community": {"type": "string"},
        "room": {"type": "string"}, "reporter": {"type": "string"}, "text": {"type": "string"},
        "category": {"type": "string"}, "urgent": {"type": "boolean"},
        "location": {"type": ["string", "null"]}, "status": {"type": "string"},
        "satisfaction": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
        "dispatched_to": {"type": ["string", "null"]},
        "merged_into": {"type": ["integer", "null"]}, "reopen_count": {"type": "integer"},
        "escalation_level": {"type": "integer"}, "overdue": {"type": "boolean"},
        "confidence": {"type": "number"},
        **{k: {"type": ["string", "null"], "format": "date-time"} for k in (
            "accept_due_at", "resolve_due_at", "created_at", "updated_at", "resolved_at",
            "closed_at")}}},
    "CaseDetail": {"allOf": [_ref("Case"), {"type": "object", "properties": {
        "events": _array({"type": "object"}), "messages": _array({"type": "object"}),
        "supporters": _array({"type": "string"}),
        "decision": {"type": "object", "description": "按现行规则重新分类：命中的规则与得分"},
        "actions": _array({"type": "string"})}}]},
    "Counts": {"type": "object", "properties": {
        "total": {"type": "integer"}, "overdue": {"type": "integer"},
        "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Action": {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": ["accept", "assign", "dispatch", "progress",
                                              "resolve", "reject", "merge", "recategorize"]},
        "note": {"type": "string", "description": "进展内容、办理结果、退回理由或转办说明"},
        "department": {"type": "string", "description": "转办部门"},
        "assignee": {"type": "string", "description": "被指派人的姓名或人员编号"},
        "into": {"type": "integer", "description": "合并时保留的工单号"},
        "category": {"type": "string", "description": "改类的目标类别键"}}},
    "Figures": {"type": "object", "properties": {
        **FIGURES, "categories": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "NoticeInput": {"type": "object", "required": ["title", "body", "targets"], "properties": {
        "title": {"type": "string", "maxLength": 60},
        "body": {"type": "string", "description": "正文模板，可用 {{ grid }} {{ community }} "
                                                   "{{ worker }} {{ leader }} {{ group }} "
                                                   "{{ date }}"},
        "targets": {"type": "object", "description": "{\"all\": true}，或 communities、grids、"
                                                       "tags 中的名称列表"},
        "send_at": {"type": ["string", "null"], "format": "date-time"},
        "repeat": {"description": "“每周一 9:00”、五段式 cron，或 {\"rule\", \"until\"}",
                   "oneOf": [{"type": "string"}, {"type": "object", "properties": {
                       "rule": {"type": "string"}, "until": {"type": "string",
                                                             "format": "date"}}},
                             {"type": "null"}]},
        "ask_receipt": {"type": "boolean", "default": True}}},
    "Notice": {"type": "object", "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"}, "body": {"type": "string"},
        "targets": {"type": "object"}, "status": {"type": "string", "enum": [
            "scheduled", "sending", "sent", "missed", "failed", "cancelled"]},
        "send_at": {"type": ["string", "null"]}, "next_run_at": {"type": ["string", "null"]},
        "repeat": {"type": ["object", "null"]}, "created_by": {"type": "string"},
        "progress": {"type": "object", "properties": {k: {"type": "integer"} for k in (
            "total", "sent", "pending", "failed", "cancelled")}},
        "receipt_count": {"type": "integer"}}},
    "NoticeDetail": {"allOf": [_ref("Notice"), {"type": "object", "properties": {
        "runs": _array({"type": "object"}), "deliveries": _array({"type": "object"}),
        "receipts": {"type": "object"}}}]},
    "Stats": {"type": "object", "properties": {
        "period": {"type": "object"}, "total": _ref("Figures"),
        "communities": _array(_ref("Figures")), "grids": _array(_ref("Figures")),
        "ranking": _array({"type": "object"}), "category_names": {"type": "object"}}},
}


def document(server: str, title: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{title} API", "version": "1",
                 "description": "网格助手的 JSON API。令牌：Authorization: Bearer <令牌>；"
                                "浏览器中已登录的管理后台会话也可调用。错误均为 "
                                "{\"error\": \"中文说明\", \"code\": \"错误代码\"}，"
                                "状态码为 4xx。Open311 GeoReport v2 只读接口在 "
                                "/open311/v2/ 下（services.json、requests.json、"
                                "requests/{id}.json）。"},
        "servers": [{"url": server}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "gridbot_session"}}},
        "security": [{"bearer": []}, {"session": []}],
    }


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return json_response(document(base, request.app[SETTINGS].general.bot_name))
