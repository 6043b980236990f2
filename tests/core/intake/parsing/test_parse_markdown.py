"""Markdown: text kept as written, title from front matter or the first heading."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddinggemma_rag.core.intake.parsing import parse_file


def parse_md(tmp_path: Path, text: str, name: str = "readme.md") -> tuple[str, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    document = parse_file(path)
    return document.title or "", document.pages[0].text


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Install guide\n\nSteps.", "Install guide"),
        ("Intro text\n\n## Section\n\n# Main #\n", "Main"),
        ("Setext Title\n============\n\nBody", "Setext Title"),
        ("Para\n\nSub title\n---------\n", "Sub title"),
        ("```\n# a shell comment\n```\n\n# Real\n", "Real"),
        ('---\ntitle: "From YAML"\ntags: [a]\n---\n# Heading\n', "From YAML"),
        ("---\nauthor: me\n---\n\n# Heading after front matter\n", "Heading after front matter"),
        ("+++\ntitle = 'Hugo page'\n+++\nbody\n", "Hugo page"),
        ("# [Linked **bold**](http://x) `code`\n", "Linked bold code"),
        ("#hashtag is not a heading\n\n***\n\nplain", "readme"),
    ],
)
def test_title(tmp_path: Path, text: str, title: str) -> None:
    assert parse_md(tmp_path, text)[0] == title


def test_text_is_kept_as_written(tmp_path: Path) -> None:
    text = "---\ntitle: T\n---\n# T\n\n* item **bold**\r\n"

    assert (
        parse_md(tmp_path, text, "notes.markdown")[1]
        == "---\ntitle: T\n---\n# T\n\n* item **bold**\n"
    )
