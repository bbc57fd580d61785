"""Logging set-up: readable lines for people, or one JSON object a line for log collectors
(``[logging] format = "json"``), with the process's account on every record so the lines of
several instances can be told apart."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, account: str = "") -> None:
        super().__init__()
        self._account = account

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._account:
            entry["account"] = self._account
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value  # fields given with extra={...}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(*, fmt: str = "text", level: str = "info", quiet: bool = False,
              account: str = "") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(account))
    else:
        prefix = f"[{account}] " if account else ""
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else level.upper())
    # APScheduler logs every run of every job at INFO (six lines a minute with the default
    # sweeps), which buries gridbot's own lines; its warnings and errors still show
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else max(root.level, logging.WARNING))
