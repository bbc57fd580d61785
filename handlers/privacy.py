"""Masking private details before a text is posted in a group: the group is semi-public, so a
phone number, an ID number or a full room number written in a worker's note stays private."""

from __future__ import annotations

import re

_ID = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)\d{4}(\d{3,4})(?!\d)")
_HYPHEN_ROOM = re.compile(r"(?<!\d)(\d{1,3}[-－]\d{1,2}[-－])\d{3,4}(?!\d)")
_ROOM = re.compile(r"(?<![\d.])\d{3,4}(\s*(?:室|号房|房间))")
_ROOM_AFTER_UNIT = re.compile(r"(单元\s*)\d{3,4}(?!\d)")


def mask(text: str) -> str:
    text = _ID.sub(r"\1********\2", text)
    text = _PHONE.sub(r"\1****\2", text)
    text = _LANDLINE.sub(r"\1****\2", text)
    text = _HYPHEN_ROOM.sub(r"\1***", text)
    text = _ROOM_AFTER_UNIT.sub(r"\1***", text)
    return _ROOM.sub(r"***\1", text)
