"""The one exception of the notices domain; its sentences are in templates/chat/notice_errors.j2."""

from __future__ import annotations

from typing import Any

from handlers.texts import phrases


class NoticeError(ValueError):
    """A notice that cannot be accepted as given; ``str()`` tells staff why, in Chinese. Raised
    before anything is stored or sent."""

    def __init__(self, key: str, /, **variables: Any) -> None:
        self.key = key
        self.variables = variables
        super().__init__(phrases("notice_errors")(key, **variables))


class NoticeForbidden(NoticeError):
    """The publisher may not reach some of the groups the notice names (a community's staff
    publishing beyond their community)."""
