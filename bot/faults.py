"""Crash points for the crash tests: ``GRIDBOT_CRASH_AT=name`` makes the process kill itself
with SIGKILL when it reaches the named point (after ``GRIDBOT_CRASH_AFTER`` earlier passes, default
0), as a power cut would. Unset — always, outside the crash tests — a crash point costs one string
comparison.

The points, in the order a message travels:
    inbound.stored       the message is in the inbound log, not processed yet
    inbound.processing   inside the processing transaction, before it commits
    outbox.claimed       an outbox row is claimed, not sent yet
    outbox.sent          the transport took the message, the row is not marked sent yet
"""

from __future__ import annotations

import os
import signal

_AT = os.environ.get("GRIDBOT_CRASH_AT", "")
_remaining = int(os.environ.get("GRIDBOT_CRASH_AFTER", "0") or 0)


def crash_point(name: str) -> None:
    global _remaining
    if name != _AT:
        return
    if _remaining > 0:
        _remaining -= 1
        return
    os.kill(os.getpid(), signal.SIGKILL)
