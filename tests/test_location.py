"""Places in the many ways residents write them, normalised to one form."""

from __future__ import annotations

import pytest

from handlers.intake.location import Location, LocationExtractor, cn_to_int

PLACES = ["垃圾站", "地下车库", "车库", "快递柜", "小区广场", "广场"]


@pytest.fixture(scope="module")
def extract():
    return LocationExtractor(PLACES).extract


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3号楼楼道灯坏了", "3号楼"),
        ("三号楼楼道灯坏了", "3号楼"),
        ("3栋门口", "3号楼"),
        ("3幢后面", "3号楼"),
        ("3#楼下", "3号楼"),
        ("3＃楼下", "3号楼"),
        ("十二号楼", "12号楼"),
        ("二十三栋", "23号楼"),
        ("3号 楼", "3号楼"),
        ("2单元门禁坏了", "2单元"),
        ("二单元门禁坏了", "2单元"),
        ("3号楼2单元", "3号楼2单元"),
        ("3号楼二单元501漏水", "3号楼2单元501室"),
        ("三号楼二单元五零一", "3号楼2单元501室"),
        ("3栋501", "3号楼501室"),
        ("3号楼2单元的302", "3号楼2单元302室"),
        ("3-2-501家", "3号楼2单元501室"),
        ("3－2－501", "3号楼2单元501室"),
        ("我家501室漏水", "501室"),
        ("北门路灯", "北门"),
        ("小区东门口", "东门"),
        ("2号门那边", "2号门"),
        ("地下车库积水", "地下车库"),
        ("小区广场上跳舞", "小区广场"),
        ("快递柜被撬了", "快递柜"),
        ("3号楼旁边的垃圾站", "3号楼"),  # a building beats a named place
        ("6-2的楼道灯全坏了", "6号楼2单元"),
        ("5-1电梯关人了", "5号楼1单元"),
        ("502的天天装修", "502室"),
        ("楼上1101家漏水", "1101室"),
    ],
)
def test_written_forms(extract, text: str, expected: str) -> None:
    assert str(extract(text)) == expected


@pytest.mark.parametrize("text", ["明天3号开会", "住3楼", "2026年11月23日", "下午3:30",
                                  "电话13812345678", "一起去跳舞吗", "",
                                  "交了300的押金", "本周五8点-18点停电", "12-25那天"])
def test_no_place(extract, text: str) -> None:
    assert extract(text) is None


def test_group_posts_never_show_the_full_room() -> None:
    assert Location(3, 2, 501).masked == "3号楼2单元"
    assert Location(room=501).masked == "住户家中"
    assert Location(gate="北门").masked == "北门"


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("三", 3), ("十", 10), ("十二", 12),
                                             ("二十", 20), ("二十三", 23), ("一百零五", 105),
                                             ("五零一", 501), ("两", 2), ("abc", None)])
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert cn_to_int(text) == value
