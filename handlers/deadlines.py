"""How soon a case gets a response, from handlers/data/deadlines.toml (staff tune it)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "deadlines.toml"


@dataclass(frozen=True)
class Deadline:
    respond_minutes: int
    working_time: bool

    @property
    def phrase(self) -> str:
        """The promise as a person reads it: 15分钟, 2个工作小时, 90分钟."""
        hours, minutes = divmod(self.respond_minutes, 60)
        if hours and not minutes:
            return f"{hours}个工作小时" if self.working_time else f"{hours}小时"
        return f"{self.respond_minutes}分钟"


@dataclass(frozen=True)
class Deadlines:
    normal: Deadline
    urgent: Deadline

    def for_case(self, *, urgent: bool) -> Deadline:
        return self.urgent if urgent else self.normal


def load_deadlines(path: Path | None = None) -> Deadlines:
    raw = tomllib.loads((path or DEFAULT_FILE).read_text(encoding="utf-8"))

    def one(key: str) -> Deadline:
        body = raw.get(key, {})
        return Deadline(int(body.get("respond_minutes", 120)), bool(body.get("working_time", True)))

    return Deadlines(normal=one("normal"), urgent=one("urgent"))
