"""Config: the embedded default, overrides from TOML, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import DEFAULT_DB_URL, ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gridbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_default_needs_no_file() -> None:
    s = load_settings(None)
    assert s.storage.url == DEFAULT_DB_URL
    assert (s.web.host, s.web.port) == ("127.0.0.1", 8080)
    assert s.transport.kind == "sim"
    assert s.demo.seed is True


def test_file_overrides_and_leaves_the_rest_default(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[web]\nport = 9090\n[storage]\nurl = "sqlite:///x.db"\n'))
    assert s.web.port == 9090 and s.web.host == "127.0.0.1"
    assert s.storage.url == "sqlite:///x.db"
    assert s.demo.seed is False, "a config file does not seed demo people unless it says so"


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    s = load_settings(example)
    text = example.read_text(encoding="utf-8")
    from dataclasses import fields

    for section in fields(s):
        if section.name == "source":
            continue
        assert f"[{section.name}]" in text
        for key in fields(getattr(s, section.name)):
            assert f"\n{key.name} = " in text or f"\n# {key.name} = " in text, key.name


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[web]\nhots = 1\n", "unknown key [web] hots"),
        ("[webb]\nport = 1\n", "unknown section [webb]"),
        ('[web]\nport = "80"\n', "[web] port must be an integer"),
        ("[web]\nport = 70000\n", "[web] port must be between 1 and 65535"),
        ('[transport]\nkind = "telegram"\n', "[transport] kind must be one of"),
        ("[demo]\nseed = 1\n", "[demo] seed must be a boolean"),
        ('[storage]\nurl = "mysql://x"\n', "[storage] url must start with"),
        ('[general]\ntimezone = "Mars/Base"\n', "[general] timezone"),
        ("[sending]\nmin_interval_ms = -5\n", "[sending] min_interval_ms must not be negative"),
        ('[intake]\nrules = "nowhere.toml"\n', "[intake] rules file not found"),
        ("[web\nport = 1\n", "not valid TOML"),
        ('[web]\nsecret = "short"\n', "[web] secret must be at least 32 characters"),
        ("[web]\nsession_hours = 0\n", "[web] session_hours must be at least 1"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, toml))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_reports_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    path = write(tmp_path, "[web]\nport = \"x\"\n")
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "[web] port" in err
    # the option is accepted after the subcommand too
    assert main(["db", "upgrade", "--config", str(path)]) == 2


def test_cli_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "none.toml"), "classify", "x"]) == 2
    assert "file not found" in capsys.readouterr().err
