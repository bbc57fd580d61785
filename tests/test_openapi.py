"""The OpenAPI description lists every /api route the app serves, with the right methods."""

from __future__ import annotations

import re

from tests.conftest import Harness


def api_routes(bot: Harness) -> set[tuple[str, str]]:
    found = set()
    for route in bot.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/") and route.method != "HEAD":
            found.add((re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path), route.method.lower()))
    return found


async def test_every_api_route_is_described(gridbot: Harness) -> None:
    resp = await gridbot.client.get("/api/openapi.json")  # no token needed to read it
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = api_routes(gridbot)
    assert len(served) >= 15
    assert served <= described, f"routes missing from /api/openapi.json: {served - described}"
    assert described <= served, f"described but not served: {described - served}"


async def test_references_resolve(gridbot: Harness) -> None:
    doc = await (await gridbot.client.get("/api/openapi.json")).json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(doc).replace("'", '"')))
    assert refs and refs <= set(doc["components"]["schemas"])


async def test_errors_are_described_with_their_shape(gridbot: Harness) -> None:
    """Every operation behind a token says it may answer 401, every operation that takes a
    body says 400 and 413, and every error answer is the Error shape (message and code)."""
    doc = await (await gridbot.client.get("/api/openapi.json")).json()
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "code"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            errors = {k: v for k, v in op["responses"].items() if k.startswith(("4", "5"))}
            for status, answer in errors.items():
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)
            if op.get("security") != []:
                assert "401" in errors, where
            if "requestBody" in op:
                assert {"400", "413"} <= set(errors), where
