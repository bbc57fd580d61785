"""The interface every chat transport implements (the simulator now, Wechaty next).

Transport types stop here: the domain sees ChatMessage and plain ids, never a Wechaty object, so
puppet services can drop, reconnect and change without the domain noticing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Kinds of message a transport reports. Only "text" is classified; the rest are logged.
MESSAGE_KINDS = ("text", "image", "voice", "video", "link", "sticker", "file", "mini_program",
                 "system", "revoked", "other")


@dataclass(frozen=True)
class ChatMessage:
    id: str  # the transport's own message id: redeliveries carry the same one
    room_id: str | None  # None for a private chat with the bot
    sender_id: str
    sender_name: str
    text: str
    kind: str = "text"
    mentions: tuple[str, ...] = ()
    mentions_bot: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RoomInfo:
    id: str
    topic: str
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContactInfo:
    id: str
    name: str


MessageCallback = Callable[[ChatMessage], Awaitable[None]]


class TransportError(Exception):
    """A send or lookup failed in a way worth retrying later."""


class BaseTransport(ABC):
    #: short name stored with every inbound message ("sim", "wechaty")
    name: str

    @property
    @abstractmethod
    def self_id(self) -> str:
        """The bot's own contact id, to skip its own messages echoed back."""

    @property
    @abstractmethod
    def self_name(self) -> str: ...

    @property
    def is_connected(self) -> bool:
        """Whether messages can flow right now (for /readyz and the metrics)."""
        return True

    @abstractmethod
    async def start(self, on_message: MessageCallback) -> None:
        """Begin delivering messages to ``on_message``; return once ready."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def send_text(self, *, room_id: str | None, contact_id: str | None, text: str,
                        mention_ids: Sequence[str] = ()) -> str | None:
        """Send to one room (with real @mentions) or one contact; return the message id if the
        transport gives one."""

    @abstractmethod
    async def rooms(self) -> list[RoomInfo]: ...

    @abstractmethod
    async def contact(self, contact_id: str) -> ContactInfo | None: ...
