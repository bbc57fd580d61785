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

TEMPLATES = Path(templates.__file__).resolve().parent
CHAT_TEMPLATES = TEMPLATES / "chat"
WEB_TEMPLATES = TEMPLATES / "web"  # sentences read only in the browser (and the CLI beside it)


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
    refused, say), for code that raises them far from any rendering context. Plain text: a web
    page escapes them where it shows them."""

    def __init__(self, name: str, directory: Path = CHAT_TEMPLATES) -> None:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), autoescape=False,
                                 undefined=jinja2.StrictUndefined)
        self.name = name
        self._module = env.get_template(f"{name}.j2").module

    def __call__(self, key: str, /, **variables: Any) -> str:
        macro = getattr(self._module, key, None)
        if not isinstance(macro, jinja2.runtime.Macro):
            raise KeyError(f"{self.name}.j2 has no macro {key!r}")
        return str(macro(**variables)).strip()

    def macros(self) -> dict[str, tuple[str, ...]]:
        """Each macro's name and argument names, so a test can hold the code's keys and
        variables against the template."""
        return {name: tuple(value.arguments) for name, value in vars(self._module).items()
                if isinstance(value, jinja2.runtime.Macro)}


@functools.cache
def phrases(name: str, directory: Path = CHAT_TEMPLATES) -> Phrases:
    return Phrases(name, directory)


def event_note(key: str, /, **variables: Any) -> str:
    """What the event log says about a step (shown on the case page, in the API and by 查询),
    from templates/chat/event_notes.j2. Stored as written, so a later change of wording does
    not rewrite history."""
    return phrases("event_notes")(key, **variables)


def formats(key: str, /, **variables: Any) -> str:
    """A moment, a duration or a notice's audience written out for a sentence, from
    templates/chat/formats.j2: the words (今天, 月, 日, 个工作小时) are wording, kept with the
    other wording; the arithmetic stays in the caller."""
    return phrases("formats")(key, **variables)
