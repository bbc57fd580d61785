"""gridbot in (mock) WeChat groups through the real Wechaty puppet-service server."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from bot.transport.base import TransportError
from bot.transport.wechaty import WechatyTransport
from storage import queries
from storage.db import session_scope
from storage.models import Case, InboundMessage, Person, Role
from tests.e2e.conftest import TOKEN, PuppetServer

pytestmark = pytest.mark.wechaty

ROOM = "xingfuli-1@chatroom"
WANGFANG = "wxid_wangfang"


async def eventually(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def in_db(runtime: Runtime, query):
    def run():
        with session_scope(runtime.engine) as session:
            return query(session)
    return run


def case_count(runtime: Runtime) -> int:
    with session_scope(runtime.engine) as session:
        return len(session.exec(select(Case)).all())


async def test_login_and_rooms_are_recorded_by_id(gridbot_on_wechaty: Runtime) -> None:
    assert gridbot_on_wechaty.transport.self_id == "gridbot-self"
    # the demo seed knew this room by id; WeChat's current topic replaces the old one
    topic = await eventually(in_db(gridbot_on_wechaty, lambda s: (
        g := queries.get_group(s, room_id="hepingyuan@chatroom")) and g.topic == "和平苑居民群"
        and g.grid_id is not None))
    assert topic


async def test_complaint_is_acknowledged_with_a_real_mention(gridbot_on_wechaty: Runtime,
                                                             puppet_server: PuppetServer) -> None:
    await puppet_server.say(WANGFANG, "3号楼2单元楼道灯坏了好几天了")
    ack = await puppet_server.wait_sent(lambda m: m["room"] == ROOM and "#1" in m["text"])
    assert ack["mentions"] == [WANGFANG]
    assert ack["text"].startswith("@王芳\u2005"), "WeChat renders a mention as @name + U+2005"
    assert "房屋维修" in ack["text"] and "李娜" in ack["text"]
    with session_scope(gridbot_on_wechaty.engine) as session:
        case = queries.get_case(session, no=1)
        reporter = session.get(Person, case.reporter_id)
        assert (reporter.contact_id, reporter.name) == (WANGFANG, "王芳")


async def test_worker_command_relays_to_the_resident(gridbot_on_wechaty: Runtime,
                                                     puppet_server: PuppetServer) -> None:
    await puppet_server.say(WANGFANG, "5号楼电梯又坏了，老人上不去")
    await puppet_server.wait_sent(lambda m: "#1" in m["text"])
    await puppet_server.say("wxid_lina", "接单 #1")
    relay = await puppet_server.wait_sent(lambda m: "李娜受理" in m["text"])
    assert relay["room"] == ROOM and relay["mentions"] == [WANGFANG]


async def test_private_message_to_the_bot(gridbot_on_wechaty: Runtime,
                                          puppet_server: PuppetServer) -> None:
    await puppet_server.say("wxid_liudaye", "请问退休认证在哪儿办", room=None)
    reply = await puppet_server.wait_sent(lambda m: m["to"] == "wxid_liudaye")
    assert reply["room"] is None and "网格" in reply["text"]
    await puppet_server.say("wxid_lina", "帮助", room=None)
    help_text = await puppet_server.wait_sent(lambda m: m["to"] == "wxid_lina")
    assert "接单" in help_text["text"]


async def test_reconnects_after_the_service_restarts_without_doubling(
        gridbot_on_wechaty: Runtime, puppet_server: PuppetServer) -> None:
    transport = gridbot_on_wechaty.transport
    assert isinstance(transport, WechatyTransport)
    await puppet_server.say(WANGFANG, "3号楼门口井盖松了，一踩就晃", id="wx-msg-1")
    await puppet_server.wait_sent(lambda m: "#1" in m["text"])

    puppet_server.kill()
    await eventually(lambda: not transport.connected.is_set())
    puppet_server.start()
    await asyncio.wait_for(transport.connected.wait(), 30)
    assert transport.sessions == 2

    # after its restart the service delivers the old message again, under its old id:
    # recognised by that id and not processed twice
    await puppet_server.say(WANGFANG, "3号楼门口井盖松了，一踩就晃", id="wx-msg-1")
    await puppet_server.say(WANGFANG, "7号楼楼顶漏雨，家里天花板都湿了")
    await puppet_server.wait_sent(lambda m: "#2" in m["text"])
    assert case_count(gridbot_on_wechaty) == 2
    with session_scope(gridbot_on_wechaty.engine) as session:
        rows = session.exec(select(InboundMessage).where(
            InboundMessage.message_id == "wx-msg-1")).all()
        assert len(rows) == 1


async def test_sends_while_disconnected_wait_in_the_outbox(gridbot_on_wechaty: Runtime,
                                                           puppet_server: PuppetServer) -> None:
    puppet_server.kill()
    transport = gridbot_on_wechaty.transport
    await eventually(lambda: not transport.connected.is_set())
    with session_scope(gridbot_on_wechaty.engine) as session:
        queries.enqueue(session, room_id=ROOM, text="断线期间排队的消息")
    gridbot_on_wechaty.sender.wake()
    await asyncio.sleep(1)
    puppet_server.start()
    await asyncio.wait_for(transport.connected.wait(), 30)
    gridbot_on_wechaty.sender.wake()
    sent = await puppet_server.wait_sent(lambda m: m["text"] == "断线期间排队的消息", timeout=40)
    assert sent["room"] == ROOM


async def test_new_group_is_recorded_renamed_and_bound_by_a_leader(
        gridbot_on_wechaty: Runtime, puppet_server: PuppetServer) -> None:
    await asyncio.to_thread(puppet_server.control, "POST", "/contact",
                            {"id": "wxid_zhangqiang", "name": "张强"})
    with session_scope(gridbot_on_wechaty.engine) as session:
        leader = session.exec(select(Person).where(Person.name == "张强")).one()
        assert leader.role == Role.GRID_LEADER
        leader.contact_id = "wxid_zhangqiang"
    room = "new-group@chatroom"
    await asyncio.to_thread(puppet_server.control, "POST", "/room", {
        "id": room, "topic": "幸福里5号楼新群", "members": [WANGFANG, "wxid_zhangqiang"]})
    group = in_db(gridbot_on_wechaty, lambda s: queries.get_group(s, room_id=room))
    recorded = await eventually(group)
    assert recorded.grid_id is None and recorded.topic == "幸福里5号楼新群"

    await puppet_server.say(WANGFANG, "5号楼楼道灯坏了", room=room)  # unbound: ignored
    await asyncio.to_thread(puppet_server.control, "POST", "/topic",
                            {"room": room, "topic": "幸福里5号楼邻里群"})
    await eventually(lambda: group().topic == "幸福里5号楼邻里群")

    await puppet_server.say(WANGFANG, "绑定网格 幸福里第一网格", room=room)
    refused = await puppet_server.wait_sent(lambda m: m["room"] == room)
    assert "只有社区工作人员和网格长" in refused["text"]
    await puppet_server.say("wxid_zhangqiang", "绑定网格 幸福里第一网格", room=room)
    await puppet_server.wait_sent(lambda m: m["room"] == room and "已把本群绑定" in m["text"])
    assert group().grid_id is not None
    assert case_count(gridbot_on_wechaty) == 0
    await puppet_server.say(WANGFANG, "5号楼楼道灯还是坏的，没人管", room=room)
    await puppet_server.wait_sent(lambda m: m["room"] == room and "#1" in m["text"])


@pytest.mark.parametrize("kind", ["Image", "Audio", "Url", "Emoticon", "MiniProgram",
                                  "Recalled", "Video", "Attachment"])
async def test_non_text_messages_are_handled(gridbot_on_wechaty: Runtime,
                                             puppet_server: PuppetServer, kind: str) -> None:
    await puppet_server.say(WANGFANG, "3号楼电梯坏了")
    await puppet_server.wait_sent(lambda m: "#1" in m["text"])
    said = await puppet_server.say(WANGFANG, "", type=kind)
    row = await eventually(in_db(gridbot_on_wechaty, lambda s: s.exec(select(InboundMessage)
                           .where(InboundMessage.message_id == said["id"])).first()))
    await eventually(lambda: in_db(gridbot_on_wechaty, lambda s: s.get(
        InboundMessage, row.id).status)() == "done")
    assert case_count(gridbot_on_wechaty) == 1
    with session_scope(gridbot_on_wechaty.engine) as session:
        events = queries.case_events(session, case_id=queries.get_case(session, no=1).id)
        photos = [e for e in events if e.action == "photo"]
        assert len(photos) == (1 if kind == "Image" else 0)


async def test_unreachable_endpoint_is_a_clear_error() -> None:
    from tests.e2e.conftest import free_port

    transport = WechatyTransport(f"127.0.0.1:{free_port()}", TOKEN, login_timeout=5)
    with pytest.raises(TransportError, match="cannot reach the Wechaty puppet service"):
        await transport.start(lambda m: asyncio.sleep(0))


async def test_a_refused_token_is_a_clear_error(puppet_server: PuppetServer) -> None:
    transport = WechatyTransport(puppet_server.endpoint, "wrong-token", login_timeout=5)
    with pytest.raises(TransportError, match="refused the token"):
        await transport.start(lambda m: asyncio.sleep(0))


async def test_cli_reports_an_unreachable_service_in_one_line(tmp_path, capsys) -> None:
    from bot.cli import main
    from tests.e2e.conftest import free_port

    config = tmp_path / "g.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/g.db"\n[web]\nport = '
                      f'{free_port()}\n[transport]\nkind = "wechaty"\n'
                      f'endpoint = "127.0.0.1:{free_port()}"\ntoken = "t"\n', encoding="utf-8")
    code = await asyncio.to_thread(main, ["-q", "run", "--config", str(config)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gridbot: cannot reach the Wechaty puppet service") and "\n" not in err
