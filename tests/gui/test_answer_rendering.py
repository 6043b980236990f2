"""Answers render Markdown safely, carry Copy and Regenerate and their speed, and show every
passage the model was given; snippets read as text and scores as ranks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtGui import (
    QGuiApplication,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.records import Answer, Citation
from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.sources_view import insert_passages, insert_sources, source_label
from embeddinggemma_rag.gui.text_views import snippet
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import make_library, scripted_engines
from tests.gui.test_chat_view import click_link, index
from tests.stubs import make_hit

pytestmark = pytest.mark.gui

MARKDOWN_REPLY = (
    "The kettle needs **regular descaling** [1]:\n\n"
    "- every *month*\n- with vinegar\n\n"
    "```\nboil, wait, rinse\n```\n\n"
    "| step | minutes |\n|---|---|\n| boil | 3 |\n\n"
    "See [the maker](http://127.0.0.1:9/) and ![logo](http://127.0.0.1:9/logo.png) [2]."
)


def ask(qtbot: QtBot, window: MainWindow, question: str = "kettle descaling") -> object:
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as finished:
        window.chat.ask(question)
    return finished.args[0]


def test_markdown_renders_with_structure_and_nothing_that_loads_or_leaves(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window(engine_factory=scripted_engines(MARKDOWN_REPLY))
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window)
    document = window.chat_view.transcript.document()
    text = document.toPlainText()
    assert "regular descaling" in text and "**" not in text and "```" not in text
    assert "| step |" not in text  # a table, not pipes
    formats = [f.toCharFormat() for f in document.allFormats() if f.isCharFormat()]
    assert any(f.fontWeight() == 700 and not f.isAnchor() for f in formats)
    assert any(f.fontItalic() for f in formats)
    assert "<table" in document.toHtml()
    hrefs = {f.anchorHref() for f in formats if f.isAnchor()}
    assert not any(h.startswith(("http", "file")) for h in hrefs)  # the link is just text now
    assert "<img" not in document.toHtml() and "[image: http://127.0.0.1:9/logo.png]" in text
    assert not any(isinstance(f, QTextCharFormat) and f.isImageFormat() for f in formats)
    assert "cite:0:1" in hrefs  # citations stay links


def test_actions_under_an_answer_ending_in_a_list_are_no_bullet_of_it(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    """Seen in the window: "• Copy · Regenerate" after an answer that ended in a list."""
    reply = "Descale the kettle [1]:\n\n- every month\n- with vinegar"
    window = make_window(engine_factory=scripted_engines(reply))
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window)
    document = window.chat_view.transcript.document()
    found = document.find("Regenerate")
    assert not found.isNull()
    assert found.block().textList() is None
    assert document.find("with vinegar").block().textList() is not None  # the list itself


def test_citations_in_code_are_links_and_links_the_answer_writes_are_not(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    """Seen in the window: an answer echoing the prompt in an indented block showed
    "\\[[1](cite:1:1)\\]"; and a link the model writes must never pass for a citation."""
    reply = (
        "Descale monthly [1].\n\n    Answer briefly, citing the passages like [1].\n\n"
        "```\nsee [2]\n```\n\nA [forged](cite:0:2) link."
    )
    window = make_window(engine_factory=scripted_engines(reply))
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window)
    document = window.chat_view.transcript.document()
    text = document.toPlainText()
    assert "cite:" not in text and "\\[" not in text
    assert "like [1]." in text and "see [2]" in text
    linked = [
        (f.toCharFormat().anchorHref())
        for f in document.allFormats()
        if f.isCharFormat() and f.toCharFormat().isAnchor()
    ]
    assert "cite:0:1" in linked
    forged = document.find("forged")
    assert not forged.isNull() and not forged.charFormat().isAnchor()


def test_copy_regenerate_and_the_answer_speed(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window(engine_factory=scripted_engines(delay_seconds=0.01))
    index(qtbot, window, make_library(tmp_path / "docs"))
    answer = ask(qtbot, window)
    text = window.chat_view.transcript.toPlainText()
    assert "Copy" in text and "Regenerate" in text
    assert "first word after " in text and " words/s" in text
    click_link(qtbot, window.chat_view.transcript, "copy:0:0")
    assert QGuiApplication.clipboard().text() == answer.text  # type: ignore[attr-defined]
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        click_link(qtbot, window.chat_view.transcript, "regenerate:0:0")
    entries = window.chat_view.entries
    assert len(entries) == 2 and entries[1].question == entries[0].question


def test_every_passage_given_to_the_model_can_be_shown(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window()
    index(qtbot, window, make_library(tmp_path / "docs"))
    answer = ask(qtbot, window)
    count = len(answer.passages)  # type: ignore[attr-defined]
    transcript = window.chat_view.transcript
    assert f"▸ Show the {count} passages given to the model" in transcript.toPlainText()
    click_link(qtbot, transcript, "passages:0:0")
    shown = transcript.toPlainText()
    assert f"▾ Hide the {count} passages" in shown
    assert all(" ".join(p.text.split())[:40] in shown for p in answer.passages)  # type: ignore[attr-defined]
    assert len(window.chat_view.entries[0].passages) == count


def test_snippets_show_text_not_markdown_markers() -> None:
    passage = (
        "## Descaling\n\n**Warning:** use *white* vinegar, see [the guide](guide.md).\n"
        "- `once` a month"
    )
    shown = snippet(passage, None)
    assert shown == "Descaling Warning: use white vinegar, see the guide. once a month"


def test_every_passage_given_is_listed_and_opened_as_the_sources_are(qtbot: QtBot) -> None:
    """A scanned page's passage says "OCR" and opens at its page image, and a sheet's names
    the sheet, in the list of passages given to the model as among the sources."""
    scan = replace(make_hit(1, "Kettle 49 EUR", "/docs/prices.pdf"), ocr=True)
    sheet = replace(make_hit(2, "Toaster 35 EUR", "/docs/prices.xlsx"), page_label="Kitchen")
    answer = Answer("Prices?", "49 [1], 35 [2].", [Citation(1, scan)], [scan, sheet])
    document = QTextDocument()
    cursor = QTextCursor(document)

    sources = insert_sources(cursor, answer, "source:0:", QPalette(), None)
    passages = insert_passages(cursor, answer, 0, True, QPalette(), None)

    assert [(s.hit, s.number) for s in sources] == [(scan, 1)]
    assert [(p.hit, p.number) for p in passages] == [(scan, None), (sheet, None)]
    assert [source_label(p) for p in passages] == [
        "prices.pdf, page 1 · OCR",
        "prices.xlsx, page 1 (Kitchen)",
    ]
    assert "2. prices.xlsx, page 1 (Kitchen)" in document.toPlainText()
