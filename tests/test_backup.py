"""`gridbot db backup` and `restore`, on a real SQLite file and on the local PostgreSQL server
(pg_dump / pg_restore): cases made after the backup are gone after the restore, cases made
before are back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main
from bot.runtime import prepare_database
from storage import db, queries
from storage.models import Case
from tests.conftest import make_settings


def config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "gridbot.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n[demo]\nseed = true\n', encoding="utf-8")
    return str(path)


def add_case(url: str, text: str) -> None:
    engine = prepare_database(make_settings(url))
    with db.session_scope(engine) as session:
        [view] = [v for v in queries.list_groups(session) if v.grid is not None][:1]
        person = queries.get_or_create_resident(session, contact_id="王芳", name="王芳")
        queries.add_case(session, Case(no=0, grid_id=view.grid.id or 0,
                                       group_id=view.group.id or 0, reporter_id=person.id or 0,
                                       text=text, category="repair"), actor_id=person.id)
    engine.dispose()


def case_texts(url: str) -> list[str]:
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        texts = [c.text for c in session.exec(select(Case).order_by(Case.no)).all()]
    engine.dispose()
    return texts


def test_backup_then_restore(tmp_path: Path, db_url: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url)
    add_case(db_url, "备份前的工单")
    target = tmp_path / "backups" / "gridbot.backup"
    assert main(["db", "backup", str(target), "--config", cfg]) == 0
    assert "backup written" in capsys.readouterr().out and target.stat().st_size > 0
    add_case(db_url, "备份后的工单")
    assert case_texts(db_url) == ["备份前的工单", "备份后的工单"]
    assert main(["db", "restore", str(target), "--config", cfg]) == 0
    assert f"revision {db.head_revision()}" in capsys.readouterr().out
    assert case_texts(db_url) == ["备份前的工单"]


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path, sqlite_url: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, sqlite_url)
    junk = tmp_path / "notes.txt"
    junk.write_text("不是数据库", encoding="utf-8")
    assert main(["db", "restore", str(junk), "--config", cfg]) == 2
    assert "is not a gridbot SQLite backup" in capsys.readouterr().err
    assert main(["db", "restore", str(tmp_path / "missing.db"), "--config", cfg]) == 2
    assert "no backup file" in capsys.readouterr().err
