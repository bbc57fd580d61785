"""City-scale intake load: 5,000 groups' traffic through the full pipeline, on SQLite and
PostgreSQL, with one process and with two (each serving its own bot account).

Each gridbot process is a real ``Runtime`` (simulator transport, inbound worker, outbox sender,
scheduler) in a process of its own. Traffic enters where a transport hands it over
(``SimTransport.post`` → ``InboundProcessor.receive``: stored in the inbound log, then processed:
classify → case → acknowledgement in the outbox, committed). The mix is a city's: mostly
chit-chat, about 5 % requests, some 收到 receipts, commands and photos. The database holds the
world (``--groups`` grids, each with a worker, a leader and ``--residents`` residents) and
``--cases`` earlier cases.

Printed per run: sustained messages/s (everything posted until everything committed), latency
from receipt (the transport's call) to the processing commit (for a request: its
acknowledgement is queued) at p50 / p99 / max, the outcome mix, and each process's peak RSS.
Runs: unpaced (as fast as it goes, ``--concurrency`` messages in flight) and paced at
``--rate`` messages/s. Targets (issue 9): ≥ 1,000 msg/s on SQLite, p99 ≤ 50 ms at 200 msg/s,
two PostgreSQL processes faster than one, ≤ 300 MB per process. Figures only, nothing asserted.

    .venv/bin/python bench/intake_load.py [--messages 20000] [--groups 5000] [--cases 100000]
        [--db sqlite,postgres] [--rate 200] [--paced-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import world

from bot.config import InstanceSettings, Settings, StorageSettings

CHAT = ["早上好", "大家早上好呀", "谢谢网格员", "今天天气真不错", "哈哈哈", "好的好的",
        "晚上广场见", "有人一起去买菜吗", "孩子放学了吗", "周末有什么活动", "辛苦了",
        "[强][强]", "楼下超市今天打折", "明天降温，大家多穿点", "谁家的猫跑出来了，橘色的",
        "恭喜恭喜", "这个群好热闹", "我到家了", "刚才的快递拿到了，谢谢"]
REQUESTS = ["{n}号楼楼道灯坏了好几天了", "{n}栋电梯又停了，老人上不去",
            "{n}号楼门口垃圾没人收，臭死了", "北门那段路灯全不亮了",
            "{n}#楼下天天有人乱停车堵消防通道", "{n}号楼楼上漏水到我家天花板了",
            "楼下广场舞太吵了，晚上十点还在放", "退休认证在哪儿办，要带身份证吗",
            "{n}号楼地下室有一股煤气味，好吓人"]
RECEIPTS = ["收到", "已阅", "收到收到", "好的，收到"]
MIX = [("chat", 84), ("request", 5), ("receipt", 5), ("command", 4), ("image", 2)]


@dataclass(frozen=True)
class Plan:
    url: str
    account: str  # "" for a single process
    groups: list[int]
    residents: int
    cases: int
    messages: int
    rate: float  # 0: unpaced
    concurrency: int
    seed: int
    scheduler: bool = False


def traffic(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(room, sender, text, kind) for every message this process will receive."""
    rng = random.Random(plan.seed)
    kinds = [k for k, w in MIX for _ in range(w)]
    out = []
    for _ in range(plan.messages):
        g = rng.choice(plan.groups)
        kind = rng.choice(kinds)
        sender = world.resident_id(g, rng.randrange(plan.residents))
        if kind == "chat":
            text = rng.choice(CHAT)
        elif kind == "request":
            text = rng.choice(REQUESTS).format(n=rng.randrange(1, 40))
        elif kind == "receipt":
            text = rng.choice(RECEIPTS)
        elif kind == "command":
            if rng.random() < 0.5:
                sender, text = world.worker_id(g), "待办"
            else:
                text = rng.choice(["我的工单", f"查询 #{rng.randrange(1, plan.cases or 1) + 1}"])
        else:
            text = ""
        out.append((world.room_id(g), sender, text, "image" if kind == "image" else "text"))
    return out


def child(plan: Plan, ready: Any, go: Any, results: Any) -> None:
    """One gridbot process: start the runtime, warm up, wait for the start signal, run."""
    logging.basicConfig(level=logging.ERROR)
    from bot.cli import quiet_libraries

    quiet_libraries()
    results.put(asyncio.run(_run(plan, ready, go)))


async def _run(plan: Plan, ready: Any, go: Any) -> dict[str, Any]:
    from bot.runtime import Runtime
    from bot.transport.sim import SimTransport
    from storage.db import session_scope
    from storage.models import InboundMessage

    settings = replace(Settings(storage=StorageSettings(url=plan.url)),
                       instance=InstanceSettings(account=plan.account))
    sim = SimTransport()
    # the sweeps (timers, notices, digests) are not intake: off unless --scheduler
    runtime = Runtime(settings, transport=sim, run_scheduler=plan.scheduler)
    await runtime.start()
    assert runtime.processor is not None and runtime.engine is not None
    done: dict[str, float] = {}
    runtime.processor.on_processed = lambda ids: done.update(
        dict.fromkeys(ids, time.perf_counter()))
    posted: dict[str, float] = {}
    messages = traffic(plan)

    async def post(room: str, sender: str, text: str, kind: str) -> None:
        t0 = time.perf_counter()
        msg = await sim.post(room=room, sender=sender, text=text, kind=kind)
        posted[msg.id] = t0

    # warm-up: the classifier's first calls, the connection pool
    for room, sender, text, kind in messages[:50]:
        await post(room, sender, text, kind)
    await _wait_done(posted, done)
    posted.clear()
    done.clear()
    rss_ready = _rss_mb()
    ready.set()
    await asyncio.to_thread(go.wait)
    start = time.perf_counter()
    if plan.rate:
        tasks = []
        for i, m in enumerate(messages):
            delay = start + i / plan.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(*m)))
        await asyncio.gather(*tasks)
    else:
        it = iter(messages)

        async def producer() -> None:
            for m in it:
                await post(*m)

        await asyncio.gather(*(producer() for _ in range(plan.concurrency)))
    await _wait_done(posted, done, count=len(messages))
    elapsed = max(done.values()) - start
    latencies = sorted((done[k] - posted[k]) * 1000 for k in posted)
    with session_scope(runtime.engine) as session:
        outcomes = dict(session.exec(
            sa.select(InboundMessage.outcome, sa.func.count())  # type: ignore[call-overload]
            .where(InboundMessage.account == plan.account)
            .group_by(InboundMessage.outcome)).all())
    await runtime.stop()
    return {"account": plan.account, "messages": len(latencies), "start": start,
            "end": max(done.values()), "elapsed": elapsed, "latencies": latencies,
            "outcomes": outcomes, "rss_ready": rss_ready, "rss_peak": _rss_mb()}


async def _wait_done(posted: dict[str, float], done: dict[str, float], count: int = 0,
                     timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while len(posted) < count or not all(k in done for k in posted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(k in done for k in posted)} of {len(posted)} processed")
        await asyncio.sleep(0.01)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(plans: list[Plan]) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    go = ctx.Event()
    readies = [ctx.Event() for _ in plans]
    procs = [ctx.Process(target=child, args=(p, r, go, results))
             for p, r in zip(plans, readies, strict=True)]
    for p in procs:
        p.start()
    for r in readies:
        if not r.wait(600):
            raise TimeoutError("a gridbot process did not start")
    go.set()
    out = [results.get(timeout=1200) for _ in procs]
    for p in procs:
        p.join()
    return sorted(out, key=lambda r: r["account"])


def report(title: str, runs: list[dict[str, Any]]) -> None:
    latencies = sorted(x for r in runs for x in r["latencies"])
    n = len(latencies)
    elapsed = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    pct = lambda q: latencies[min(n - 1, int(q * n))]  # noqa: E731
    outcomes: Counter[str] = Counter()
    for r in runs:
        outcomes.update({str(k): v for k, v in r["outcomes"].items()})
    print(f"{title}: {n} messages in {elapsed:.2f} s = {n / elapsed:.0f} msg/s; "
          f"receipt→commit latency ms p50={pct(0.5):.1f} p99={pct(0.99):.1f} "
          f"max={latencies[-1]:.1f} mean={statistics.mean(latencies):.1f}")
    print("    outcomes: " + ", ".join(f"{k}={v}" for k, v in outcomes.most_common()))
    for r in runs:
        print(f"    process {r['account'] or '(single)'}: {r['messages']} messages, peak RSS "
              f"{r['rss_peak']:.0f} MB (after start-up and warm-up {r['rss_ready']:.0f} MB)")
    sys.stdout.flush()


def scenario(kind: str, args: argparse.Namespace, tmp: str, *, processes: int,
             rate: float, messages: int, title: str) -> None:
    with world.fresh_database(kind, tmp, name=f"{kind}{processes}{int(rate)}") as url:
        t0 = time.perf_counter()
        counts = world.build(url, groups=args.groups, residents=args.residents,
                             cases=args.cases, accounts=processes, events=False)
        print(f"[{kind}] world loaded in {time.perf_counter() - t0:.1f} s: {counts}")
        plans = [Plan(url=url, account=f"bot-{k}" if processes > 1 else "",
                      groups=[g for g in range(args.groups) if g % processes == k],
                      residents=args.residents, cases=args.cases,
                      messages=messages // processes, rate=rate / processes,
                      concurrency=args.concurrency, seed=args.seed + k,
                      scheduler=args.scheduler)
                 for k in range(processes)]
        report(title, run(plans))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000, help="unpaced run, all processes")
    ap.add_argument("--groups", type=int, default=5000)
    ap.add_argument("--residents", type=int, default=10, help="per group, known in advance")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=64, help="messages in flight, unpaced")
    ap.add_argument("--rate", type=float, default=200, help="paced run, messages/s")
    ap.add_argument("--paced-seconds", type=float, default=20)
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--runs", default="unpaced,paced,two",
                    help="unpaced, paced, two (two processes, PostgreSQL only)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scheduler", action="store_true",
                    help="also run the scheduled sweeps (timers, notices, digests)")
    args = ap.parse_args()
    runs = args.runs.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.db.split(","):
            if "unpaced" in runs:
                scenario(kind, args, tmp, processes=1, rate=0, messages=args.messages,
                         title=f"[{kind}] 1 process, unpaced")
            if "two" in runs and kind == "postgres":
                scenario(kind, args, tmp, processes=2, rate=0, messages=args.messages,
                         title=f"[{kind}] 2 processes (bot-0, bot-1), unpaced")
            if "paced" in runs:
                scenario(kind, args, tmp, processes=1, rate=args.rate,
                         messages=int(args.rate * args.paced_seconds),
                         title=f"[{kind}] 1 process, paced at {args.rate:.0f} msg/s")


if __name__ == "__main__":
    main()
