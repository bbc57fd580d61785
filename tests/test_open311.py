"""Open311 GeoReport v2 read endpoints, as a city platform pulls cases: the spec's field names,
its filters and defaults, a token, the caller's scope, and residents' details masked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auxil.chat import report, say
from tests.auxil.dashboard import add_account, token_for
from tests.conftest import Harness

FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
          "description", "agency_responsible", "service_notice", "requested_datetime",
          "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
          "long", "media_url"}


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    bot = await start_gridbot(store_url)
    first = await report(bot, "3号楼2单元501楼道灯坏了，我电话13812345678")
    await say(bot, "李娜", f"接单 #{first}")
    await say(bot, "李娜", f"办结 #{first} 已更换灯泡，有问题打13812345678")
    await report(bot, "楼下广场舞天天放到十点，吵死了", "马先生", "hepingyuan@chatroom")
    return bot


@pytest.fixture
def token(bot: Harness) -> str:
    return token_for(bot, None)


async def get(bot: Harness, path: str, token: str | None, expect: int = 200,
              **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = await bot.client.get(path, params=params, headers=headers)
    assert resp.status == expect, await resp.text()
    return await resp.json()


async def test_services_are_the_categories(bot: Harness, token: str) -> None:
    services = await get(bot, "/open311/v2/services.json", token)
    noise = next(s for s in services if s["service_code"] == "noise")
    assert noise == {"service_code": "noise", "service_name": "噪音扰民",
                     "description": "噪音扰民", "metadata": False, "type": "realtime",
                     "keywords": "", "group": ""}
    assert len(services) == 10


async def test_requests_carry_the_spec_fields_masked(bot: Harness, token: str) -> None:
    requests = await get(bot, "/open311/v2/requests.json", token)
    assert [r["service_request_id"] for r in requests] == ["2", "1"]
    first = requests[1]
    assert set(first) == FIELDS
    assert first["status"] == "closed" and first["service_code"] == "repair"
    assert "13812345678" not in first["description"] and "138****5678" in first["description"]
    assert "501" not in first["address"] and first["address"].startswith("3号楼")
    assert first["status_notes"].startswith("已办结，待评价：已更换灯泡")
    assert "13812345678" not in first["status_notes"]
    assert first["agency_responsible"] == "幸福里社区 幸福里第一网格"
    assert first["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert "王芳" not in str(first), "no resident's name leaves the township"
    assert requests[0]["status"] == "open" and requests[0]["expected_datetime"]


async def test_filters(bot: Harness, token: str) -> None:
    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["service_request_id"] for r in rows]

    path = "/open311/v2/requests.json"
    assert ids(await get(bot, path, token, status="open")) == ["2"]
    assert ids(await get(bot, path, token, status="open,closed")) == ["2", "1"]
    assert ids(await get(bot, path, token, service_code="repair")) == ["1"]
    assert ids(await get(bot, path, token, service_request_id="1,2")) == ["2", "1"]
    assert ids(await get(bot, path, token, start_date="2026-11-24T00:00:00+08:00")) == []
    assert ids(await get(bot, path, token, end_date="2026-11-23T12:00:00Z")) == ["2", "1"]
    one = await get(bot, "/open311/v2/requests/1.json", token)
    assert isinstance(one, list) and ids(one) == ["1"]


async def test_without_dates_only_the_last_ninety_days(bot: Harness, token: str) -> None:
    bot.clock.advance(days=91)
    assert await get(bot, "/open311/v2/requests.json", token) == []
    assert len(await get(bot, "/open311/v2/requests.json", token,
                         start_date="2026-11-01T00:00:00Z")) == 2


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "pending"}, "status"),
    ({"service_code": "weather"}, "未知的 service_code"),
    ({"start_date": "yesterday"}, "W3C"),
    ({"start_date": "2026-11-23T00:00:00"}, "时区"),
    ({"service_request_id": "abc"}, "service_request_id"),
])
async def test_bad_input_in_the_spec_error_shape(bot: Harness, token: str,
                                                 params: dict[str, str], message: str) -> None:
    [error] = await get(bot, "/open311/v2/requests.json", token, expect=400, **params)
    assert error["code"] == 400 and message in error["description"]


async def test_a_token_is_needed_and_its_scope_applies(bot: Harness) -> None:
    [error] = await get(bot, "/open311/v2/requests.json", None, expect=401)
    assert error["code"] == 401
    assert await get(bot, "/open311/v2/requests/9.json", token_for(bot, None), expect=404)
    add_account(bot, "wu")  # 和平苑社区
    scoped = token_for(bot, "wu")
    resp = await bot.client.get("/open311/v2/requests.json", params={"api_key": scoped})
    assert [r["service_request_id"] for r in await resp.json()] == ["2"]
    await get(bot, "/open311/v2/requests/1.json", scoped, expect=404)
