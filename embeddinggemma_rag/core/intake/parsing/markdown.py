"""Markdown: the text as written (it reads well as it is), titled by front matter or heading."""

from __future__ import annotations

import re
from pathlib import Path

from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.encoding import decode_text, read_text_bytes

SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mkdn"})

# YAML (---) or TOML (+++, Hugo) front matter at the very start of the file.
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)\n(?:\1|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_TITLE_FIELD = re.compile(r"^title[ \t]*[:=][ \t]*(.*?)[ \t]*$", re.M | re.I)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")


def parse(path: Path) -> ParsedDocument:
    text = decode_text(read_text_bytes(path), path)
    return ParsedDocument(title=find_title(text), pages=(PageText(page=None, text=text),))


def find_title(text: str) -> str | None:
    """The front matter's `title`, else the first level-1 heading, else the first heading."""
    front = _FRONT_MATTER.match(text)
    if front is None:
        return first_heading(text)
    field = _TITLE_FIELD.search(front.group(2))
    if field is not None:
        title = field.group(1).strip("'\"").strip()
        if title and title not in {">", "|", ">-", "|-"}:  # a YAML block scalar: not worth it
            return title
    return first_heading(text[front.end() :])


def first_heading(text: str) -> str | None:
    first_any: str | None = None
    fence: str | None = None
    previous = ""  # the previous line when it is paragraph text, which a setext line underlines
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence, previous = opening.group(1), ""
            continue
        level, heading = _heading(line, previous)
        if level == 1:
            return heading
        if level and first_any is None:
            first_any = heading
        previous = "" if level or not line.strip() else line
    return first_any


def _heading(line: str, previous: str) -> tuple[int, str | None]:
    """(level, plain text) if `line` is a heading (`previous` for setext ones), else (0, None)."""
    atx = _ATX.match(line)
    if atx:
        return _titled(len(atx.group(1)), atx.group(2) or "")
    underline = _SETEXT.match(line)
    if underline and previous.strip():
        return _titled(1 if underline.group(1)[0] == "=" else 2, previous)
    return 0, None


def _titled(level: int, raw: str) -> tuple[int, str | None]:
    plain = _EMPHASIS.sub("", _LINK.sub(r"\1", raw)).strip()
    return (level, plain) if plain else (0, None)
