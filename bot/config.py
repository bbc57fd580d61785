"""Settings: parsed once from TOML into a typed object.

Without a config file gridbot runs on its embedded default (SQLite under ./data/, the simulator
transport, demo seed). Any mistake in a file is reported as one line that names the key, because
the people editing these files are operators, not Python developers.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DB_URL = "sqlite:///data/gridbot.db"
TRANSPORT_KINDS = ("sim", "wechaty")
ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
MIN_SECRET_CHARS = 32


class ConfigError(Exception):
    """A config problem, already phrased as the single line to show the operator."""


@dataclass(frozen=True)
class GeneralSettings:
    timezone: str = "Asia/Shanghai"
    bot_name: str = "网格助手"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class StorageSettings:
    url: str = DEFAULT_DB_URL


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # The key that signs dashboard session cookies. Empty: generated on first start and kept in
    # the database (app_secrets), so every process and restart shares it.
    secret: str = ""
    session_hours: int = 12  # a dashboard login lasts this long


@dataclass(frozen=True)
class TransportSettings:
    kind: str = "sim"
    endpoint: str = ""  # host:port of the puppet service; or WECHATY_PUPPET_SERVICE_ENDPOINT
    token: str = ""  # the puppet service token; or WECHATY_PUPPET_SERVICE_TOKEN
    reconnect_max_seconds: int = 30

    @property
    def resolved_endpoint(self) -> str:
        return os.environ.get(ENDPOINT_ENV) or self.endpoint

    @property
    def resolved_token(self) -> str:
        return os.environ.get(TOKEN_ENV) or self.token


@dataclass(frozen=True)
class DemoSettings:
    seed: bool = True


@dataclass(frozen=True)
class IntakeSettings:
    rules: str = ""
    userdict: str = ""
    deadlines: str = ""
    calendar: str = ""


@dataclass(frozen=True)
class SendingSettings:
    min_interval_ms: int = 0
    jitter_ms: int = 0
    daily_cap: int = 0  # sends per account per local day; 0 = no cap. Urgent messages pass.


@dataclass(frozen=True)
class NoticesSettings:
    grace_minutes: int = 60  # a notice due while gridbot was down is still sent this late
    receipt_hours: int = 72  # a 收到 counts for the group's latest notice sent this recently


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DigestsSettings:
    daily_at: str = "08:30"  # each grid worker's daily digest, local time; "" = off
    weekly_day: str = "mon"
    weekly_at: str = "09:00"  # the weekly report to staff groups; "" = off
    resident_summary_at: str = ""  # a short daily summary into resident groups; "" = off


@dataclass(frozen=True)
class ProcessingSettings:
    max_attempts: int = 3
    retry_seconds: int = 30
    timer_seconds: int = 30


@dataclass(frozen=True)
class InstanceSettings:
    account: str = ""  # the bot account this process serves; "" when there is only one
    lease_seconds: int = 15  # leader lease for the scheduled sweeps; a dead leader's successor
    #                          takes over within this time


@dataclass(frozen=True)
class LimitsSettings:
    messages_per_minute: int = 12  # per sender; beyond it messages are kept but not read
    max_message_chars: int = 20_000  # longer messages are stored cut to this length


LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "text"  # "json": one JSON object a line, for log collectors
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    web: WebSettings = field(default_factory=WebSettings)
    transport: TransportSettings = field(default_factory=TransportSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    sending: SendingSettings = field(default_factory=SendingSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    notices: NoticesSettings = field(default_factory=NoticesSettings)
    digests: DigestsSettings = field(default_factory=DigestsSettings)
    instance: InstanceSettings = field(default_factory=InstanceSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    source: Path | None = None


_SECTION_TYPES: dict[str, type] = {
    "general": GeneralSettings,
    "storage": StorageSettings,
    "web": WebSettings,
    "transport": TransportSettings,
    "demo": DemoSettings,
    "intake": IntakeSettings,
    "sending": SendingSettings,
    "processing": ProcessingSettings,
    "notices": NoticesSettings,
    "digests": DigestsSettings,
    "instance": InstanceSettings,
    "limits": LimitsSettings,
    "logging": LoggingSettings,
}


def load_settings(path: str | Path | None) -> Settings:
    """Read a config file, or return the embedded default when ``path`` is None."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    # A file written for production should not fill its database with demo people.
    raw.setdefault("demo", {}).setdefault("seed", False)
    return _parse(raw, source=path)


def _parse(raw: dict[str, Any], *, source: Path | None) -> Settings:
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        cls = _SECTION_TYPES.get(name)
        if cls is None:
            known = ", ".join(f"[{s}]" for s in _SECTION_TYPES)
            raise ConfigError(f"config: unknown section [{name}] (known: {known})")
        if not isinstance(value, dict):
            raise ConfigError(f"config: [{name}] must be a table")
        sections[name] = _parse_section(name, cls, value)
    settings = Settings(**sections, source=source)
    _validate(settings)
    return settings


def _parse_section(name: str, cls: type, values: dict[str, Any]) -> Any:
    defaults = cls()
    kwargs: dict[str, Any] = {}
    known = {f.name for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"config: unknown key [{name}] {key} (known: {', '.join(sorted(known))})"
            )
        expected = type(getattr(defaults, key))
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"config: [{name}] {key} must be an integer, got {value!r}")
        if expected is not int and not isinstance(value, expected):
            raise ConfigError(
                f"config: [{name}] {key} must be a {_type_word(expected)}, got {value!r}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def _type_word(t: type) -> str:
    return {str: "string", bool: "boolean (true/false)", int: "integer"}.get(t, t.__name__)


def _validate(s: Settings) -> None:
    try:
        ZoneInfo(s.general.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config: [general] timezone {s.general.timezone!r} is not a known time zone"
        ) from None
    if not s.storage.url.startswith(("sqlite://", "postgresql")):
        raise ConfigError(
            "config: [storage] url must start with sqlite:// or postgresql+psycopg://, "
            f"got {s.storage.url!r}"
        )
    if not 1 <= s.web.port <= 65535:
        raise ConfigError(f"config: [web] port must be between 1 and 65535, got {s.web.port}")
    if s.web.secret and len(s.web.secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"config: [web] secret must be at least {MIN_SECRET_CHARS} characters "
                          "(or leave it empty to have one generated)")
    if s.web.session_hours < 1:
        raise ConfigError("config: [web] session_hours must be at least 1")
    if s.transport.kind not in TRANSPORT_KINDS:
        raise ConfigError(
            f"config: [transport] kind must be one of {', '.join(TRANSPORT_KINDS)}, "
            f"got {s.transport.kind!r}"
        )
    if s.transport.kind == "wechaty":
        endpoint = s.transport.resolved_endpoint
        if not endpoint:
            raise ConfigError(
                f'config: [transport] endpoint is required for kind = "wechaty" (host:port of '
                f"the puppet service), or set {ENDPOINT_ENV}")
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"config: [transport] endpoint must be host:port, got {endpoint!r}")
        if not s.transport.resolved_token:
            raise ConfigError(f'config: [transport] token is required for kind = "wechaty", '
                              f"or set {TOKEN_ENV}")
    if s.transport.reconnect_max_seconds < 1:
        raise ConfigError("config: [transport] reconnect_max_seconds must be at least 1")
    for key in ("min_interval_ms", "jitter_ms", "daily_cap"):
        if getattr(s.sending, key) < 0:
            raise ConfigError(f"config: [sending] {key} must not be negative")
    if s.processing.max_attempts < 1:
        raise ConfigError("config: [processing] max_attempts must be at least 1")
    if s.processing.timer_seconds < 1:
        raise ConfigError("config: [processing] timer_seconds must be at least 1")
    for key in ("grace_minutes", "receipt_hours"):
        if getattr(s.notices, key) < 0:
            raise ConfigError(f"config: [notices] {key} must not be negative")
    for key in ("daily_at", "weekly_at", "resident_summary_at"):
        value = getattr(s.digests, key)
        if value and parse_clock(value) is None:
            raise ConfigError(f'config: [digests] {key} must be a time like "08:30" or "", '
                              f"got {value!r}")
    if s.digests.weekly_day not in WEEKDAYS:
        raise ConfigError(f"config: [digests] weekly_day must be one of {', '.join(WEEKDAYS)}, "
                          f"got {s.digests.weekly_day!r}")
    if s.instance.lease_seconds < 3:
        raise ConfigError("config: [instance] lease_seconds must be at least 3")
    if len(s.instance.account) > 100:
        raise ConfigError("config: [instance] account must be at most 100 characters")
    if s.limits.messages_per_minute < 1:
        raise ConfigError("config: [limits] messages_per_minute must be at least 1")
    if not 100 <= s.limits.max_message_chars <= 100_000:
        raise ConfigError("config: [limits] max_message_chars must be between 100 and 100000")
    if s.logging.format not in LOG_FORMATS:
        raise ConfigError(f"config: [logging] format must be one of {', '.join(LOG_FORMATS)}, "
                          f"got {s.logging.format!r}")
    if s.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"config: [logging] level must be debug, info, warning or error, "
                          f"got {s.logging.level!r}")
    for key in ("rules", "userdict", "deadlines", "calendar"):
        value = getattr(s.intake, key)
        if value and not _resolve(s, value).is_file():
            raise ConfigError(f"config: [intake] {key} file not found: {value}")


def parse_clock(value: str) -> tuple[int, int] | None:
    """"08:30" -> (8, 30); None if it is not a time of day."""
    hour, sep, minute = value.strip().partition(":")
    if not sep or not hour.isdigit() or not minute.isdigit() or len(minute) != 2:
        return None
    h, m = int(hour), int(minute)
    return (h, m) if 0 <= h < 24 and 0 <= m < 60 else None


def _resolve(s: Settings, value: str) -> Path:
    p = Path(value)
    if not p.is_absolute() and s.source is not None:
        p = s.source.parent / p
    return p


def resolve_path(s: Settings, value: str) -> Path | None:
    """Paths in a config file are relative to that file, so a deployment folder is movable."""
    return _resolve(s, value) if value else None
