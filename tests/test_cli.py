"""The gridbot command as an operator uses it, in a real subprocess where it matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from storage import db, queries

KEYS = ["text", "is_request", "category", "urgent", "location", "confidence"]


def config_for(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "gridbot.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_classify_one_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "3号楼电梯坏了，老人上不去楼"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out) == KEYS
    assert out["is_request"] is True and out["category"] == "repair"
    assert out["location"] == "3号楼"
    assert 0 < out["confidence"] <= 1


def test_classify_jsonl_contract() -> None:
    lines = ["收到", "小区北门路灯不亮了", "", "楼道里冒烟了快来人", "😀"]
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "-q", "classify", "--jsonl"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=120, check=True)
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["text"] for r in rows] == lines
    assert all(list(r) == KEYS for r in rows)
    assert [r["is_request"] for r in rows] == [False, True, False, True, False]
    assert rows[1]["location"] == "北门" and rows[1]["category"] == "facility"
    assert rows[3]["urgent"] is True


def test_classify_explain_shows_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", "--explain", "楼梯口停满了电瓶车"]) == 0
    out = capsys.readouterr().out
    assert "电瓶车" in out and "safety" in out and "scores:" in out


def test_classify_needs_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify"]) == 2
    assert "needs a message text" in capsys.readouterr().err


def test_token_create_prints_a_working_token_on_its_last_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["token", "create", "--role", "admin", "--config",
                 str(config_for(tmp_path, url))]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        assert queries.token_role(session, token=token) == "admin"
        assert queries.token_role(session, token=token + "x") is None
    engine.dispose()


def test_db_upgrade_reaches_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    assert main(["db", "upgrade", "--config", str(config_for(tmp_path, url))]) == 0
    assert f"revision {db.head_revision()}" in capsys.readouterr().out


def test_user_add_list_passwd_and_a_write_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from handlers.accounts import LoginOutcome, authenticate
    from storage.demo_seed import seed_demo
    from tests.conftest import START

    url = f"sqlite:///{tmp_path / 'g.db'}"
    config = str(config_for(tmp_path, url))
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        seed_demo(session)

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return main([*argv, "--config", config])

    assert run("user", "add", "lina", "--role", "grid_worker", "--grid", "幸福里第一网格",
               "--contact", "李娜", "--password-stdin", stdin="correct horse 1\n") == 0
    assert "acting as contact 李娜" in capsys.readouterr().out
    assert run("user", "add", "x", "--role", "grid_worker", "--grid", "幸福里第一网格",
               "--password-stdin", stdin="correct horse 1\n") == 2
    assert "--contact" in capsys.readouterr().err
    assert run("user", "list") == 0
    assert "lina\tgrid_worker" in capsys.readouterr().out
    assert run("user", "passwd", "lina", "--password-stdin", stdin="another horse 2\n") == 0
    with db.session_scope(engine) as session:
        result = authenticate(session, username="lina", password="another horse 2", now=START)
        assert result.outcome == LoginOutcome.OK

    assert run("token", "create", "--role", "staff", "--scope", "write") == 2
    assert "--user" in capsys.readouterr().err
    assert run("token", "create", "--role", "staff", "--scope", "write", "--user", "lina") == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with db.session_scope(engine) as session:
        row = queries.token_row(session, token=token)
        assert row.scope == "write" and row.account_id is not None
    engine.dispose()
