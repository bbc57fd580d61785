"""Talking to a running gridbot through the simulator API, as the people in the groups do."""

from __future__ import annotations

import re

from tests.conftest import Harness

ROOM = "xingfuli-1@chatroom"  # 幸福里第一网格: worker 李娜, leader 张强; residents 王芳, 刘大爷
STAFF_ROOM = "xingfuli-staff@chatroom"  # 幸福里社区工作群, director 周主任


async def report(bot: Harness, text: str = "3号楼2单元楼道灯坏了好几天了",
                 sender: str = "王芳", room: str = ROOM) -> int:
    before = await bot.messages(room=room)
    await bot.post(room, sender, text)
    replies = await bot.bot_replies(room=room, after=before[-1]["id"] if before else None)
    return int(re.search(r"#(\d+)", replies[-1]["text"])[1])


async def say(bot: Harness, sender: str, text: str, room: str | None = ROOM) -> list[str]:
    """Post as ``sender`` and return what the bot answered in that chat since."""
    where = {"room": room} if room else {"contact": sender}
    before = await bot.messages(**where)
    await bot.post(room, sender, text)
    replies = await bot.bot_replies(**where, after=before[-1]["id"] if before else None)
    return [m["text"] for m in replies]


async def private(bot: Harness, person: str) -> list[str]:
    return [m["text"] for m in await bot.bot_replies(contact=person)]
