"""What every domain function needs besides a session: rules, texts, deadlines, a calendar, who
the bot is, and the clock — a clock passed in, so tests move time instead of waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from handlers.deadlines import Deadlines
from handlers.intake.classifier import Classifier
from handlers.notices.receipts import ReceiptRules
from handlers.texts import Texts, formats
from handlers.worktime import WorkCalendar


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    classifier: Classifier
    texts: Texts
    deadlines: Deadlines
    calendar: WorkCalendar
    bot_id: str
    bot_name: str
    clock: Callable[[], datetime] = system_clock
    receipts: ReceiptRules = field(default_factory=ReceiptRules.load)
    account: str | None = None  # the bot account this process serves ([instance] account)
    messages_per_minute: int = 12  # per sender, before they are asked to slow down

    def now(self) -> datetime:
        return self.clock()

    def when(self, moment: datetime | None) -> str:
        """A moment as people write it: 11月25日 17:30 (today: 今天17:30)."""
        if moment is None:
            return ""
        local = moment.astimezone(self.calendar.tz)
        today = self.now().astimezone(self.calendar.tz).date()
        return formats("moment", month=local.month, day=local.day, time=f"{local:%H:%M}",
                       today=local.date() == today)

    def category_name(self, key: str) -> str:
        return self.classifier.rules.category_name(key)
