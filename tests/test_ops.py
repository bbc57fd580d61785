"""Operations endpoints: liveness, readiness with its reasons, Prometheus metrics; JSON logs."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from bot.logs import JsonFormatter
from tests.auxil.chat import ROOM
from tests.conftest import Harness


async def test_health_and_readiness(gridbot: Harness) -> None:
    resp = await gridbot.client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["status"] == "ok"
    resp = await gridbot.client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200 and body["ready"] is True
    assert body["checks"]["database"] and body["checks"]["schema"] and body["checks"]["transport"]


async def test_not_ready_without_the_database(gridbot: Harness, tmp_path) -> None:
    engine = gridbot.runtime.engine
    assert engine is not None
    # the database file's folder is gone (a lost volume): connections fail
    gridbot.runtime.engine = sa.create_engine(f"sqlite:///{tmp_path}/gone/gridbot.db")
    try:
        resp = await gridbot.client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["ready"] is False and body["checks"]["database"] is False
    finally:
        gridbot.runtime.engine = engine


async def test_metrics_count_messages_cases_and_sends(gridbot: Harness) -> None:
    await gridbot.post(ROOM, "王芳", "3号楼楼道灯坏了好几天了")
    await gridbot.post(ROOM, "刘大爷", "谢谢网格员")
    await gridbot.settle()
    resp = await gridbot.client.get("/metrics")
    assert resp.status == 200 and resp.content_type.startswith("text/plain")
    text = await resp.text()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line and not line.startswith("#")}
    assert values['gridbot_messages_received_total{kind="text"}'] == 2
    assert values['gridbot_messages_processed_total{outcome="case"}'] == 1
    assert values['gridbot_messages_processed_total{outcome="silent"}'] == 1
    assert values["gridbot_cases_opened_total"] == 1
    assert values["gridbot_sends_total"] == 1
    assert values["gridbot_outbox_pending"] == 0 and values["gridbot_inbound_pending"] == 0
    assert values["gridbot_processing_latency_seconds_count"] == 2
    assert values["gridbot_transport_connected"] == 1


def test_json_log_lines_carry_the_account_and_extra_fields() -> None:
    record = logging.makeLogRecord({"name": "bot.inbound", "levelno": logging.WARNING,
                                    "levelname": "WARNING", "msg": "message %s parked",
                                    "args": ("42",), "case_no": 7})
    line = json.loads(JsonFormatter(account="bot-a").format(record))
    assert line["message"] == "message 42 parked" and line["level"] == "warning"
    assert line["account"] == "bot-a" and line["case_no"] == 7 and "time" in line
