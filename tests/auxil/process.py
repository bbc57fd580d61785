"""A real `gridbot run` in a child process, for tests that kill it (SIGKILL at a crash point,
SIGTERM for a graceful stop) or run two of them against one database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

GRIDBOT = Path(sys.executable).parent / "gridbot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, url: str, *, port: int, seed: bool = True,
                 extra: str = "") -> Path:
    cfg = folder / f"gridbot-{port}.toml"
    cfg.write_text(
        f'[storage]\nurl = "{url}"\n[web]\nport = {port}\n[demo]\nseed = {str(seed).lower()}\n'
        "[processing]\nretry_seconds = 1\ntimer_seconds = 1\n" + extra,
        encoding="utf-8")
    return cfg


class GridbotProcess:
    def __init__(self, config: Path, port: int, *, env: dict[str, str] | None = None) -> None:
        self.config, self.port = config, port
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.base = f"http://127.0.0.1:{port}"

    async def start(self, timeout: float = 30.0) -> GridbotProcess:
        self.proc = await asyncio.create_subprocess_exec(
            str(GRIDBOT), "-q", "run", "--config", str(self.config), env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await asyncio.wait_for(self._ready(), timeout)
        return self

    async def _ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise RuntimeError(f"gridbot exited before it was ready: {err.decode()[-2000:]}")
            if b"JSON API" in line:
                return

    async def post(self, room: str | None, sender: str, text: str) -> Any:
        """Post through the simulator; None if the process died answering."""
        try:
            async with aiohttp.ClientSession() as http, http.post(
                    f"{self.base}/api/sim/messages",
                    json={"room": room, "sender": sender, "text": text}) as resp:
                return await resp.json()
        except (aiohttp.ClientError, ConnectionError):
            return None

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}{path}",
                                                             params=params) as resp:
            body = await resp.json() if resp.content_type == "application/json" \
                else await resp.text()
            return resp.status, body

    async def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        return await self.wait(timeout)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
