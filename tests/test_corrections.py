"""Workers correct the classifier (改类, 不是工单); the corrections are kept and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cli import main
from storage.db import session_scope
from storage.models import CaseEvent, Correction
from tests.auxil.chat import ROOM, report, say
from tests.conftest import Harness


@pytest.fixture
async def bot(store_url: str, start_gridbot) -> Harness:
    return await start_gridbot(store_url)


async def test_recategorise_is_kept_as_a_correction(bot: Harness) -> None:
    no = await report(bot, "3号楼门口路灯不亮了")
    [answer] = await say(bot, "李娜", f"改类 #{no} 房屋维修")
    assert "市政设施" in answer and "房屋维修" in answer
    [again] = await say(bot, "李娜", f"改类 #{no} 房屋")  # a short form of the name
    assert "已经是“房屋维修”" in again
    [unknown] = await say(bot, "李娜", f"改类 #{no} 天气")
    assert "没有“天气”这个类别" in unknown and "市政设施" in unknown
    with session_scope(bot.runtime.engine) as session:
        [row] = session.exec(select(Correction)).all()
        assert (row.field, row.old_value, row.new_value) == ("category", "facility", "repair")
        assert row.text == "3号楼门口路灯不亮了"
        assert session.exec(select(CaseEvent.note).where(CaseEvent.action == "recategorize")
                            ).one() == "市政设施→房屋维修"


async def test_not_a_case_closes_quietly(bot: Harness) -> None:
    no = await report(bot, "4号楼电梯坏了吗")
    group_before = await bot.messages(room=ROOM)
    [answer] = await say(bot, "李娜", f"不是工单 #{no}", room=None)
    assert "不是工单" in answer
    assert await bot.messages(room=ROOM) == group_before, "the group hears nothing"
    [refused] = await say(bot, "刘大爷", f"不是工单 #{no}")
    assert "只有本网格的网格员" in refused
    with session_scope(bot.runtime.engine) as session:
        [row] = session.exec(select(Correction)).all()
        assert (row.field, row.new_value) == ("is_request", "false")
        assert session.exec(select(CaseEvent.note).where(CaseEvent.action == "dismiss")
                            ).one() == "不是工单"


async def test_eval_reports_on_corrections(bot: Harness, store_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    first = await report(bot, "3号楼门口路灯不亮了")
    second = await report(bot, "5号楼路灯也不亮", sender="刘大爷")
    await say(bot, "李娜", f"改类 #{first} 房屋维修")
    await say(bot, "李娜", f"改类 #{second} 房屋维修")
    config = tmp_path / "g.toml"
    config.write_text(f'[storage]\nurl = "{store_url}"\n', encoding="utf-8")
    assert main(["eval", "--corrections", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "corrections recorded: 2" in out
    assert "2  facility → repair" in out
    assert "category 0.000 (0/2)" in out  # today's rules still say facility for both


def test_eval_on_a_corpus_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    rows = [
        {"text": "北门路灯不亮了", "is_request": True, "category": "facility", "urgent": False,
         "location": "北门", "split": "test"},
        {"text": "收到谢谢", "is_request": False, "category": None, "urgent": False,
         "location": None, "split": "test"},
        {"text": "3号楼楼道冒烟了", "is_request": True, "category": "repair", "urgent": True,
         "location": "3号楼", "split": "train"},  # labelled wrong on purpose
    ]
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                      encoding="utf-8")
    assert main(["eval", str(corpus), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("messages 2: request P=1.000 R=1.000 F1=1.000")
    assert main(["eval", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "category 0.500 (1/2)" in out and "repair → safety: 1" in out
    assert "[category repair→safety] 3号楼楼道冒烟了" in out


def test_eval_refuses_a_broken_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "x"}\n', encoding="utf-8")
    assert main(["eval", str(corpus)]) == 2
    assert "c.jsonl:1: not a corpus line" in capsys.readouterr().err
