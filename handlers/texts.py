"""Chat texts come from jinja2 templates under templates/chat/, never from string literals in code.

Chat is plain text, so this environment does not HTML-escape (web pages use their own, escaping
environment); StrictUndefined makes a missing variable an error in tests, not a hole in a message.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

import templates

CHAT_TEMPLATES = Path(templates.__file__).resolve().parent / "chat"


class Texts:
    def __init__(self, directory: Path = CHAT_TEMPLATES) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, /, **context: Any) -> str:
        return self._env.get_template(f"{template}.j2").render(**context).strip()


class Phrases:
    """Short sentences kept together as jinja2 macros in one template file (why a notice is
    refused, say), for code that raises them far from any rendering context."""

    def __init__(self, name: str, directory: Path = CHAT_TEMPLATES) -> None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=False,
                                 undefined=jinja2.StrictUndefined)
        self._module = env.get_template(f"{name}.j2").module

    def __call__(self, key: str, /, **variables: Any) -> str:
        return str(getattr(self._module, key)(**variables)).strip()


@functools.cache
def phrases(name: str) -> Phrases:
    return Phrases(name)
