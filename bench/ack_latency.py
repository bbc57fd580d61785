"""How long from a resident's message in /sim to the bot's acknowledgement in the group.

Starts a real `gridbot run` (SQLite in a temporary folder, simulator, demo seed) on a free port,
posts complaints through the simulator API one at a time, and polls for the bot's reply.
Prints p50 / p95 / max latency in milliseconds. Not a test: figures only.

    .venv/bin/python bench/ack_latency.py [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOM = "xingfuli-1@chatroom"
COMPLAINTS = [
    "{n}号楼楼道灯坏了好几天了", "{n}栋电梯又停了，老人上不去", "{n}号楼门口垃圾没人收，臭死了",
    "北门那段路灯全不亮了", "{n}#楼下天天有人乱停车堵消防通道", "{n}号楼楼上漏水到我家天花板了",
    "楼下广场舞太吵了，晚上十点还在放", "退休认证在哪儿办，要带身份证吗",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(count: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp}/bench.db"\n[web]\nport = {port}\n'
                       "[demo]\nseed = true\n", encoding="utf-8")
        gridbot = Path(sys.executable).parent / "gridbot"
        proc = await asyncio.create_subprocess_exec(
            str(gridbot), "-q", "run", "--config", str(cfg),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            while b"chat simulator" not in await proc.stdout.readline():
                pass
            base = f"http://127.0.0.1:{port}"
            latencies = await measure(base, count)
        finally:
            proc.terminate()
            await proc.wait()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"acknowledgement latency over {len(latencies)} complaints (ms): "
          f"p50={p(0.5):.1f} p95={p(0.95):.1f} max={latencies[-1]:.1f} "
          f"mean={statistics.mean(latencies):.1f}")


async def measure(base: str, count: int) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            text = COMPLAINTS[i % len(COMPLAINTS)].format(n=i % 20 + 1)
            t0 = time.perf_counter()
            async with http.post(f"{base}/api/sim/messages",
                                 json={"room": ROOM, "sender": f"居民{i}", "text": text}) as r:
                sent_id = (await r.json())["id"]
            while True:
                async with http.get(f"{base}/api/sim/messages",
                                    params={"room": ROOM, "after": sent_id}) as r:
                    if any(m["from_bot"] for m in await r.json()):
                        break
                await asyncio.sleep(0.002)
            out.append((time.perf_counter() - t0) * 1000)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200)
    asyncio.run(main(ap.parse_args().messages))
