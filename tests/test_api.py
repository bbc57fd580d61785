"""The JSON API: Bearer tokens on every route, filters, and clear errors."""

from __future__ import annotations

import pytest

from tests.conftest import Harness

ROOM = "xingfuli-1@chatroom"


@pytest.mark.parametrize("path", ["/api/groups", "/api/cases", "/api/cases/1"])
@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer gbt_wrong", "Basic abc", "gbt_x"])
async def test_every_route_wants_a_valid_token(gridbot: Harness, path: str,
                                               header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await gridbot.client.get(path, headers=headers)
    assert resp.status == 401
    body = await resp.json()
    assert "令牌" in body["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_groups_list_grids_and_workers(gridbot: Harness, admin_token: str) -> None:
    groups = await gridbot.api("/api/groups", admin_token)
    residents = [g for g in groups if g["kind"] == "resident"]
    assert [g["room"] for g in residents] == ["xingfuli-1@chatroom", "xingfuli-2@chatroom",
                                             "hepingyuan@chatroom"]
    staff = {g["room"]: g for g in groups if g["kind"] == "staff"}
    assert staff["xingfuli-staff@chatroom"]["community"] == "幸福里社区"
    assert staff["xingfuli-staff@chatroom"]["grid"] is None
    first = residents[0]
    assert first["topic"] == "幸福里1-6号楼邻里群" and first["grid"] == "幸福里第一网格"
    assert first["workers"] == [{"name": "李娜", "role": "grid_worker"},
                                {"name": "张强", "role": "grid_leader"}]


async def test_case_filters(gridbot: Harness, admin_token: str) -> None:
    await gridbot.post(ROOM, "王芳", "3栋楼道里堆满了纸箱子，着火了跑都跑不出去")  # not urgent
    await gridbot.post(ROOM, "刘大爷", "5号楼电梯把人困住了，快来人")  # urgent
    await gridbot.post("hepingyuan@chatroom", "马先生", "楼下广场舞天天放到十点，吵死了")
    await gridbot.settle()

    everything = await gridbot.api("/api/cases", admin_token)
    assert [c["no"] for c in everything] == [3, 2, 1]
    urgent = await gridbot.api("/api/cases", admin_token, urgent="true")
    assert [c["no"] for c in urgent] == [2]
    assert [c["no"] for c in await gridbot.api("/api/cases", admin_token, urgent="false")] == [3, 1]
    noise = await gridbot.api("/api/cases", admin_token, category="noise")
    assert [c["grid"] for c in noise] == ["和平苑网格"]
    by_grid = await gridbot.api("/api/cases", admin_token, grid="幸福里第一网格")
    assert sorted(c["no"] for c in by_grid) == [1, 2]
    assert await gridbot.api("/api/cases", admin_token, status="closed") == []
    page = await gridbot.api("/api/cases", admin_token, limit="1", offset="1")
    assert [c["no"] for c in page] == [2]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "done"}, "未知的状态"),
        ({"category": "weather"}, "未知的类别"),
        ({"urgent": "maybe"}, "urgent"),
        ({"grid": "火星网格"}, "没有名为或编号为"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
async def test_bad_filters_are_400_in_chinese(gridbot: Harness, admin_token: str,
                                              params: dict[str, str], message: str) -> None:
    resp = await gridbot.client.get("/api/cases", params=params,
                                    headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 400
    assert message in (await resp.json())["error"]


async def test_unknown_case_and_bad_number(gridbot: Harness, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    resp = await gridbot.client.get("/api/cases/999", headers=auth)
    assert resp.status == 404 and "#999" in (await resp.json())["error"]
    resp = await gridbot.client.get("/api/cases/abc", headers=auth)
    assert resp.status == 400
    resp = await gridbot.client.get("/api/nothing-here", headers=auth)
    assert resp.status == 404 and "error" in await resp.json()


async def test_sim_page_is_served(gridbot: Harness) -> None:
    resp = await gridbot.client.get("/sim")
    assert resp.status == 200
    html = await resp.text()
    assert "网格助手" in html and "/static/sim.js" in html
    assert (await gridbot.client.get("/static/sim.js")).status == 200


async def test_sim_rooms_lists_members_for_the_identity_picker(gridbot: Harness) -> None:
    resp = await gridbot.client.get("/api/sim/rooms")
    body = await resp.json()
    assert body["bot"]["name"] == "网格助手"
    rooms = {r["room"]: r for r in body["rooms"]}
    first = rooms[ROOM]
    names = {m["name"]: m["role"] for m in first["members"]}
    assert names["李娜"] == "grid_worker" and names["王芳"] == "resident"
    staff_room = {m["name"]: m["role"] for m in rooms["xingfuli-staff@chatroom"]["members"]}
    assert staff_room["周主任"] == "staff" and staff_room["张强"] == "grid_leader"
    assert "王芳" not in staff_room
