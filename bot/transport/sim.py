"""The built-in simulator: a pretend WeChat kept in memory, driven through /sim and its JSON API.

It stands where WeChat stands: it keeps the chat history (gridbot's own database keeps only what
gridbot received and sent). A contact's id is their display name, so typing a worker's name in
/sim lets you act as that worker.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.transport.base import (
    MESSAGE_KINDS,
    BaseTransport,
    ChatMessage,
    ContactInfo,
    MessageCallback,
    RoomInfo,
    TransportError,
)
from handlers.texts import WEB_TEMPLATES, phrases

BOT_ID = "gridbot"
MAX_LOG = 2000  # per chat; the simulator is for demos and tests, not an archive


class SimInputError(ValueError):
    """Bad input to the simulator API; ``str()`` is shown to the person typing, from the macro
    ``key`` of templates/web/api_messages.j2."""

    def __init__(self, key: str, /, **variables: Any) -> None:
        self.key = key
        super().__init__(phrases("api_messages", WEB_TEMPLATES)(key, **variables))


@dataclass(frozen=True)
class SimMessage:
    seq: int
    room: str | None
    contact: str | None  # for a private chat: the person talking with the bot
    sender: str
    text: str
    at: datetime
    from_bot: bool
    kind: str = "text"
    mentions: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"s{self.seq}"


@dataclass
class _Chat:
    messages: list[SimMessage] = field(default_factory=list)


class SimTransport(BaseTransport):
    name = "sim"

    def __init__(self, bot_name: str = "网格助手") -> None:
        self._bot_name = bot_name
        self._rooms: dict[str, RoomInfo] = {}
        self._chats: dict[tuple[str, str], _Chat] = {}
        self._seq = itertools.count(1)
        self._on_message: MessageCallback | None = None

    # --- the simulated world ------------------------------------------------------------------

    def set_rooms(self, rooms: Sequence[RoomInfo]) -> None:
        self._rooms = {r.id: r for r in rooms}

    def continue_after(self, message_id: str | None) -> None:
        """Number the next messages after ``message_id``, a message gridbot already stored: WeChat
        never reuses a message id, and gridbot drops a message whose id it has seen as a
        redelivery, so a simulator restarted on a kept database must not start again at s1."""
        last = _seq_of(message_id)
        current = next(self._seq)
        self._seq = itertools.count(max(current, last + 1))

    def known_room(self, room_id: str) -> bool:
        return room_id in self._rooms

    async def post(self, *, room: str | None, sender: str, text: str,
                   kind: str = "text") -> SimMessage:
        """A person sends a message; returns once gridbot has stored it."""
        sender = (sender or "").strip()
        if not sender:
            raise SimInputError("sim_no_sender")
        if len(sender) > 50:
            raise SimInputError("sim_sender_too_long")
        if sender == BOT_ID or sender == self._bot_name:
            raise SimInputError("sim_as_bot")
        if room is not None and room not in self._rooms:
            raise SimInputError("sim_no_room")
        if kind not in MESSAGE_KINDS:
            raise SimInputError("sim_kind")
        if self._on_message is None:
            raise TransportError("simulator is not started")
        msg = self._append(room=room, contact=None if room else sender, sender=sender, text=text,
                           from_bot=False, kind=kind)
        mentions = tuple(_mentioned_names(text))
        await self._on_message(ChatMessage(
            id=msg.id, room_id=room, sender_id=sender, sender_name=sender, text=text, kind=kind,
            mentions=mentions, mentions_bot=self._bot_name in mentions, at=msg.at,
        ))
        return msg

    def history(self, *, room: str | None = None, contact: str | None = None,
                after: str | None = None) -> list[SimMessage]:
        chat = self._chats.get(_key(room, contact))
        if chat is None:
            return []
        after_seq = _seq_of(after)
        return [m for m in chat.messages if m.seq > after_seq]

    # --- BaseTransport ------------------------------------------------------------------------

    @property
    def self_id(self) -> str:
        return BOT_ID

    @property
    def self_name(self) -> str:
        return self._bot_name

    async def start(self, on_message: MessageCallback) -> None:
        self._on_message = on_message

    async def stop(self) -> None:
        self._on_message = None

    async def send_text(self, *, room_id: str | None, contact_id: str | None, text: str,
                        mention_ids: Sequence[str] = ()) -> str | None:
        if room_id is not None and room_id not in self._rooms:
            raise TransportError(f"unknown room {room_id}")
        msg = self._append(room=room_id, contact=contact_id if room_id is None else None,
                           sender=self._bot_name, text=text, from_bot=True,
                           mentions=tuple(mention_ids))
        return msg.id

    async def rooms(self) -> list[RoomInfo]:
        return list(self._rooms.values())

    async def contact(self, contact_id: str) -> ContactInfo | None:
        return ContactInfo(id=contact_id, name=contact_id)

    # ------------------------------------------------------------------------------------------

    def _append(self, *, room: str | None, contact: str | None, sender: str, text: str,
                from_bot: bool, kind: str = "text", mentions: tuple[str, ...] = ()) -> SimMessage:
        msg = SimMessage(seq=next(self._seq), room=room, contact=contact, sender=sender,
                         text=text, at=datetime.now(UTC), from_bot=from_bot, kind=kind,
                         mentions=mentions)
        chat = self._chats.setdefault(_key(room, contact), _Chat())
        chat.messages.append(msg)
        del chat.messages[:-MAX_LOG]
        return msg


def _key(room: str | None, contact: str | None) -> tuple[str, str]:
    return ("room", room) if room is not None else ("contact", contact or "")


def _seq_of(message_id: str | None) -> int:
    if message_id and message_id.startswith("s") and message_id[1:].isdigit():
        return int(message_id[1:])
    return 0


def _mentioned_names(text: str) -> list[str]:
    names = []
    for part in text.split("@")[1:]:
        name = part.replace("\u2005", " ").split(" ", 1)[0].strip()
        if name:
            names.append(name)
    return names
