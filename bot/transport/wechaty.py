"""Real WeChat groups through a Wechaty puppet service (gRPC), with the lean client
`wechaty-puppet-service` 0.8.x. Its objects stay in this module: the rest of gridbot sees
ChatMessage, RoomInfo and plain ids.

Why a supervisor: the client connects once and, when the service drops or restarts, its start()
task ends and never reconnects; a hung service is noticed only by a call with a timeout. So one
PuppetService object is made per connection attempt, watched by a ding watchdog, and replaced
with backoff when its session ends. Messages the service delivers again after a reconnect carry
their old ids, and the inbound log drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.transport.base import (
    BaseTransport,
    ChatMessage,
    ContactInfo,
    MessageCallback,
    RoomInfo,
    TransportError,
)

log = logging.getLogger(__name__)

RoomCallback = Callable[[RoomInfo], Awaitable[None]]

#: wechaty-puppet (TypeScript, 1.x) message type numbers, as the raw gRPC stub returns them.
#: The Python client's own mapping is off by one for several types and fails on 16, so the raw
#: stub is used with this table.
MESSAGE_KINDS = {
    0: "other", 1: "file", 2: "voice", 3: "other", 4: "other", 5: "sticker", 6: "image",
    7: "text", 8: "other", 9: "mini_program", 10: "system", 11: "other", 12: "other",
    13: "revoked", 14: "link", 15: "video", 16: "other",
}
CALL_TIMEOUT = 10.0


class WechatyTransport(BaseTransport):
    name = "wechaty"

    def __init__(self, endpoint: str, token: str, *, bot_name: str = "网格助手",
                 login_timeout: float = 10.0, ding_every: float = 5.0, ding_timeout: float = 5.0,
                 backoff_max: float = 30.0) -> None:
        self._endpoint = endpoint
        self._token = token
        self._bot_name = bot_name
        self._login_timeout = login_timeout
        self._ding_every = ding_every
        self._ding_timeout = ding_timeout
        self._backoff_max = backoff_max
        self._puppet: Any = None
        self._self_id = ""
        self._on_message: MessageCallback | None = None
        self._on_room: RoomCallback | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._names: dict[str, str] = {}
        self._stopping = False
        self.connected = asyncio.Event()
        self.sessions = 0  # how many times a connection was established (1 + reconnects)

    # --- BaseTransport ------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    @property
    def self_id(self) -> str:
        return self._self_id

    @property
    def self_name(self) -> str:
        return self._bot_name

    def on_room(self, callback: RoomCallback) -> None:
        """Called for every room the bot is in (at login), joins, and topic changes."""
        self._on_room = callback

    async def start(self, on_message: MessageCallback) -> None:
        """Connect and log in, or raise TransportError with a reason an operator can act on.
        After this first success, dropped connections are re-established in the background."""
        self._on_message = on_message
        self._stopping = False
        first = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._supervise(first), name="wechaty-supervisor")
        try:
            await first
        except BaseException:
            self._stopping = True
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
            raise

    async def stop(self) -> None:
        self._stopping = True
        puppet = self._puppet
        if puppet is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(puppet.stop(), 3)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        for task in list(self._handlers):
            task.cancel()
        self.connected.clear()

    async def send_text(self, *, room_id: str | None, contact_id: str | None, text: str,
                        mention_ids: Sequence[str] = ()) -> str | None:
        puppet = self._require_connection()
        conversation = room_id or contact_id
        if not conversation:
            raise TransportError("a message needs a room or a contact")
        text = await self._with_mention_marks(text, mention_ids)
        try:
            return await asyncio.wait_for(
                puppet.message_send_text(conversation, text, mention_ids=list(mention_ids)),
                CALL_TIMEOUT)
        except Exception as exc:  # grpclib, OS and timeout errors: the outbox retries later
            raise TransportError(f"send to {conversation} failed: {exc!r}") from exc

    async def rooms(self) -> list[RoomInfo]:
        puppet = self._require_connection()
        out = []
        for room_id in await asyncio.wait_for(puppet.room_list(), CALL_TIMEOUT):
            room = await self._room(puppet, room_id)
            if room is not None:
                out.append(room)
        return out

    async def contact(self, contact_id: str) -> ContactInfo | None:
        puppet = self._require_connection()
        try:
            payload = await asyncio.wait_for(puppet.contact_payload(contact_id), CALL_TIMEOUT)
        except Exception:
            return None
        self._names[contact_id] = payload.name
        return ContactInfo(id=contact_id, name=payload.name)

    # --- the connection -----------------------------------------------------------------------

    def _require_connection(self) -> Any:
        if self._puppet is None or not self.connected.is_set():
            raise TransportError("not connected to the Wechaty puppet service")
        return self._puppet

    async def _supervise(self, first: asyncio.Future[None]) -> None:
        backoff = 0.5
        while not self._stopping:
            reason, logged_in = await self._session(first)
            self.connected.clear()
            if first.done() and first.exception() is not None:
                return  # the very first attempt failed: start() reports it, no retry loop
            if self._stopping:
                return
            if logged_in:
                backoff = 0.5
            log.warning("Wechaty connection lost (%s); reconnecting in %.1fs", reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _session(self, first: asyncio.Future[None]) -> tuple[str, bool]:
        from wechaty_puppet import PuppetOptions
        from wechaty_puppet_service import PuppetService

        loop = asyncio.get_running_loop()
        try:
            puppet = PuppetService(PuppetOptions(end_point=self._endpoint, token=self._token))
        except Exception as exc:
            self._fail_first(first, exc)
            return f"cannot create the client: {exc!r}", False
        self._puppet = puppet
        logged_in: asyncio.Future[str] = loop.create_future()

        def on_login(payload: Any) -> None:
            self._self_id = payload.contact_id
            if not logged_in.done():
                logged_in.set_result(payload.contact_id)

        def on_logout(payload: Any) -> None:
            log.warning("the WeChat account logged out of the puppet service")
            self.connected.clear()

        def on_error(payload: Any) -> None:  # without it, a raising handler kills start()
            log.warning("Wechaty error event: %r", payload)

        puppet.on("login", on_login)
        puppet.on("logout", on_logout)
        puppet.on("error", on_error)
        puppet.on("message", lambda p: self._spawn(self._handle_message(puppet, p.message_id)))
        puppet.on("room-join", lambda p: self._spawn(self._room_event(puppet, p.room_id,
                                                                      p.invited_ids)))
        puppet.on("room-topic", lambda p: self._spawn(self._room_event(puppet, p.room_id, None)))

        task = asyncio.create_task(puppet.start(), name="wechaty-puppet-start")
        try:
            done, _ = await asyncio.wait({task, logged_in}, timeout=self._login_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                exc = task.exception()
                self._fail_first(first, exc or ConnectionError("the service closed the stream"))
                return f"start ended before login: {exc!r}", False
            if not done:
                self._fail_first(first, TimeoutError(f"no login within {self._login_timeout}s"))
                return "no login within the timeout", False
            self.sessions += 1
            self.connected.set()
            log.info("connected to the Wechaty puppet service at %s as %s (session %d)",
                     self._endpoint, self._self_id, self.sessions)
            await self._sync_rooms(puppet)
            if not first.done():
                first.set_result(None)
            watchdog = asyncio.create_task(self._watchdog(puppet))
            done, _ = await asyncio.wait({task, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            watchdog.cancel()
            if task in done:
                exc = task.exception()
                return (f"stream lost: {exc!r}" if exc else "the service ended the stream"), True
            return f"watchdog: {watchdog.result()}", True
        finally:
            self.connected.clear()
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=2)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as lost
            channel = getattr(puppet, "channel", None)
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.close()  # start() never closes an earlier channel itself

    def _fail_first(self, first: asyncio.Future[None], exc: BaseException) -> None:
        if first.done():
            return
        first.set_exception(TransportError(explain_failure(self._endpoint, exc)))

    async def _watchdog(self, puppet: Any) -> str:
        """The service sends no heartbeats: a hung one is only seen by a call that times out."""
        while True:
            await asyncio.sleep(self._ding_every)
            try:
                await asyncio.wait_for(puppet.ding("gridbot"), self._ding_timeout)
            except TimeoutError:
                return "ding timed out"
            except Exception as exc:
                return f"ding failed: {exc!r}"

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    # --- events -------------------------------------------------------------------------------

    async def _handle_message(self, puppet: Any, message_id: str) -> None:
        try:
            raw = await asyncio.wait_for(puppet.puppet_stub.message_payload(id=message_id),
                                         CALL_TIMEOUT)
        except Exception as exc:
            log.warning("could not fetch message %s: %r", message_id, exc)
            return
        if raw.from_id == self._self_id:
            return  # our own message, echoed back by the service
        try:
            msg = ChatMessage(
                id=raw.id or message_id,
                room_id=raw.room_id or None,
                sender_id=raw.from_id,
                sender_name=await self._name(puppet, raw.from_id),
                text=raw.text or "",
                kind=MESSAGE_KINDS.get(int(raw.type), "other"),
                mentions=tuple(raw.mention_ids),
                mentions_bot=self._self_id in raw.mention_ids,
                at=_timestamp(raw.timestamp),
            )
            if self._on_message is not None:
                await self._on_message(msg)
        except Exception:
            log.exception("failed to hand over message %s", message_id)

    async def _room_event(self, puppet: Any, room_id: str,
                          invited_ids: Sequence[str] | None) -> None:
        if invited_ids is not None and self._self_id not in invited_ids:
            return  # someone else joined a room we are in: nothing to record
        room = await self._room(puppet, room_id)
        if room is not None and self._on_room is not None:
            await self._on_room(room)

    async def _sync_rooms(self, puppet: Any) -> None:
        if self._on_room is None:
            return
        try:
            room_ids = await asyncio.wait_for(puppet.room_list(), CALL_TIMEOUT)
        except Exception as exc:
            log.warning("could not list rooms: %r", exc)
            return
        for room_id in room_ids:
            room = await self._room(puppet, room_id)
            if room is not None:
                await self._on_room(room)

    async def _room(self, puppet: Any, room_id: str) -> RoomInfo | None:
        try:
            p = await asyncio.wait_for(puppet.room_payload(room_id), CALL_TIMEOUT)
        except Exception as exc:
            log.warning("could not read room %s: %r", room_id, exc)
            return None
        return RoomInfo(id=p.id or room_id, topic=p.topic or "", member_ids=tuple(p.member_ids))

    async def _name(self, puppet: Any, contact_id: str) -> str:
        if contact_id not in self._names:
            try:
                payload = await asyncio.wait_for(puppet.contact_payload(contact_id), CALL_TIMEOUT)
                self._names[contact_id] = payload.name or contact_id
            except Exception:
                return contact_id
        return self._names[contact_id]

    async def _with_mention_marks(self, text: str, mention_ids: Sequence[str]) -> str:
        """WeChat shows "@name" as a mention when a U+2005 follows it; templates write a space."""
        puppet = self._puppet
        for contact_id in mention_ids:
            name = await self._name(puppet, contact_id)
            text = re.sub(rf"@{re.escape(name)}[ \u2005]", f"@{name}\u2005", text, count=1)
        return text


def _timestamp(value: Any) -> datetime:
    try:
        ms = int(value)
        if ms > 10**11:  # milliseconds
            return datetime.fromtimestamp(ms / 1000, UTC)
        if ms > 0:
            return datetime.fromtimestamp(ms, UTC)
    except (TypeError, ValueError, OverflowError):
        pass
    return datetime.now(UTC)


def explain_failure(endpoint: str, exc: BaseException) -> str:
    """One line an operator can act on, for the first connection attempt."""
    text = repr(exc)
    if "UNAUTHENTICATED" in text or ("token" in text.lower() and "invalid" in text.lower()):
        return (f"the Wechaty puppet service at {endpoint} refused the token "
                "(check [transport] token or WECHATY_PUPPET_SERVICE_TOKEN)")
    if isinstance(exc, ConnectionRefusedError | OSError) or "ping endpoint" in text:
        return (f"cannot reach the Wechaty puppet service at {endpoint} "
                "(is it running? check [transport] endpoint)")
    if isinstance(exc, TimeoutError):
        return (f"the Wechaty puppet service at {endpoint} did not log in within the timeout "
                "(is the WeChat account logged in at the token provider?)")
    return f"could not connect to the Wechaty puppet service at {endpoint}: {text}"
