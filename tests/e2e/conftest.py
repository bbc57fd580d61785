"""The real Wechaty puppet-service server (npm `wechaty-puppet-service` + `wechaty-puppet-mock`,
run by puppet_server.mjs) and a gridbot runtime connected to it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.config import Settings, StorageSettings, TransportSettings
from bot.runtime import Runtime
from storage import db
from storage.demo_seed import seed_demo
from storage.models import Person

E2E = Path(__file__).resolve().parent
TOKEN = "gridbot-e2e-token"
#: the mock's contact ids for the demo seed's people
CONTACTS = {"李娜": "wxid_lina"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PuppetServer:
    """One node process; kill() and start() again on the same ports, as a restart would."""

    def __init__(self, log_path: Path) -> None:
        self.grpc_port = free_port()
        self.control_port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["node", "puppet_server.mjs", "--port", str(self.grpc_port), "--control-port",
             str(self.control_port), "--token", TOKEN, "--exit-with-parent"],
            cwd=E2E, stdout=subprocess.PIPE, stderr=self.log_path.open("a"), text=True,
            # the server keeps file-box registries in TMPDIR: keep them in the test's folder
            env={**os.environ, "TMPDIR": str(self.log_path.parent)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # the server prints READY or exits
        assert line.startswith("READY"), f"puppet server did not start: {line!r}, see "\
                                         f"{self.log_path}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    async def say(self, sender: str, text: str, room: str | None = "xingfuli-1@chatroom",
                  **extra: Any) -> dict[str, Any]:
        body = {"from": sender, "room": room, "text": text, **extra}
        return await asyncio.to_thread(self.control, "POST", "/say", body)

    async def sent(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.control, "GET", "/sent")

    async def wait_sent(self, predicate: Callable[[dict[str, Any]], bool],
                        timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in await self.sent():
                if predicate(message):
                    return message
            assert time.monotonic() < deadline, f"bot did not send it; sent: {await self.sent()}"
            await asyncio.sleep(0.1)


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed ({hint})")


@pytest.fixture
def puppet_server(tmp_path: Path) -> Iterator[PuppetServer]:
    _require("node", "Debian package nodejs")
    if not (E2E / "node_modules" / "wechaty-puppet-service").is_dir():
        pytest.skip("the puppet server is not installed: `make test` runs npm install there")
    server = PuppetServer(tmp_path / "puppet-server.log")
    server.start()
    yield server
    server.stop()


def wechaty_settings(url: str, endpoint: str, token: str = TOKEN) -> Settings:
    return Settings(storage=StorageSettings(url=url),
                    transport=TransportSettings(kind="wechaty", endpoint=endpoint, token=token,
                                                reconnect_max_seconds=2))


def prepare_db(url: str) -> None:
    """The demo world, with its grid worker known by the mock's contact id."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        seed_demo(session)
        for name, contact_id in CONTACTS.items():
            person = session.exec(select(Person).where(Person.name == name)).one()
            person.contact_id = contact_id
    engine.dispose()


@pytest.fixture
async def gridbot_on_wechaty(puppet_server: PuppetServer, store_url: str, classifier
                             ) -> AsyncIterator[Runtime]:
    prepare_db(store_url)
    runtime = Runtime(wechaty_settings(store_url, puppet_server.endpoint),
                      classifier=classifier, run_scheduler=False)
    await runtime.start()
    yield runtime
    await runtime.stop()
