"""Sentences the web app says (flash notices, refusals, API errors), from macros in
templates/web/messages.j2 rather than string literals in code, like the chat texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

import templates

WEB_TEMPLATES = Path(templates.__file__).resolve().parent / "web"


class Messages:
    """Plain text (pages autoescape it where they show it; JSON carries it as is)."""

    def __init__(self, directory: Path = WEB_TEMPLATES) -> None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=False,
                                 undefined=jinja2.StrictUndefined)
        self._module = env.get_template("messages.j2").module

    def __call__(self, name: str, /, **variables: Any) -> str:
        return str(getattr(self._module, name)(**variables)).strip()
