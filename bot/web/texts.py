"""Sentences the web app says (flash notices, refusals, API errors), from macros in
templates/web/messages.j2 and api_messages.j2 rather than string literals in code, like the chat
texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from handlers.texts import WEB_TEMPLATES, phrases


class Messages:
    """Plain text (pages autoescape it where they show it; JSON carries it as is)."""

    def __init__(self, directory: Path = WEB_TEMPLATES) -> None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=False,
                                 undefined=jinja2.StrictUndefined)
        self._module = env.get_template("messages.j2").module

    def __call__(self, name: str, /, **variables: Any) -> str:
        return str(getattr(self._module, name)(**variables)).strip()


def api_text(key: str, /, **variables: Any) -> str:
    """Why an API request is refused, from the macro ``key`` of templates/web/api_messages.j2:
    needs no request, so code that only checks the input (an action's fields, an Open311 date)
    can say it too."""
    return phrases("api_messages", WEB_TEMPLATES)(key, **variables)
