"""The source viewer: a PDF at the cited page with the passage found, text at the passage."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.passage_match import locate, passage_range, utf16_offset
from embeddinggemma_rag.gui.sources_view import SourceRef
from tests.core.parsing.pdf_factory import make_pdf
from tests.gui.conftest import WAIT_MS

pytestmark = pytest.mark.gui

PAGES = [
    f"Page {n} heading\nThis page talks about topic number {n} at length." for n in range(1, 8)
]


def test_a_pdf_opens_at_the_cited_page_with_the_passage_highlighted(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "seven.pdf"
    pdf.write_bytes(make_pdf(PAGES))
    source = SourceRef(str(pdf), 5, PAGES[4], 0, len(PAGES[4]), 0.5, 1)

    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)

    viewer = window.viewer
    assert viewer.isVisible() and viewer.stack.currentWidget() is viewer.pdf_view
    assert viewer.current_page() == 5
    assert "seven.pdf, page 5" in viewer.title.text()
    qtbot.waitUntil(lambda: viewer.pdf_view.currentSearchResultIndex() >= 0, timeout=WAIT_MS)
    result = viewer.search_model.resultAtIndex(viewer.pdf_view.currentSearchResultIndex())
    assert result.page() == 4
    assert len(result.rectangles()) == 2  # both lines of the passage
    assert viewer.detail.text() == ""


def test_a_passage_no_longer_on_the_page_still_opens_the_page(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "seven.pdf"
    pdf.write_bytes(make_pdf(PAGES))
    source = SourceRef(str(pdf), 3, "words that were edited away long ago", 0, 10, 0.5, 1)
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)
    assert window.viewer.current_page() == 3
    assert "could not be found" in window.viewer.detail.text()


def test_a_text_file_is_shown_as_text_scrolled_to_the_passage(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    body = "".join(f"Filler line {i}.\n" for i in range(300))
    passage = "<b>The passage</b> we want 😀 found."
    path = tmp_path / "long.txt"
    path.write_text(body + passage + "\n" + body, encoding="utf-8")
    start = len(body)
    source = SourceRef(str(path), None, passage, start, start + len(passage), 0.4, None)

    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)

    viewer = window.viewer
    assert viewer.stack.currentWidget() is viewer.text_view
    assert viewer.highlighted_text() == passage  # plain text: the tags are characters
    assert viewer.text_view.verticalScrollBar().value() > 0  # scrolled down to it


def test_locate_tolerates_other_whitespace_and_punctuation() -> None:
    page = "Warranty\r\nThe warranty lasts three\r\nyears — from the date of purchase."
    start, end = locate(page, "The warranty lasts three years - from the date") or (0, 0)
    assert page[start:end] == "The warranty lasts three\r\nyears — from the date"


def test_locate_slides_past_words_the_other_reader_split_differently() -> None:
    page = "Warr anty\ncontinued text here and then the rest of the page"
    found = locate(page, "Warranty continued text here and then the rest")
    assert found is not None
    assert page[found[0] : found[1]] == "continued text here and then the rest"


def test_passage_range_prefers_the_stored_offsets_and_falls_back_to_search() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta"
    assert passage_range(text, "gamma delta", 11, 22) == (11, 22)
    moved = "new words first. " + text
    start, end = passage_range(moved, "gamma delta epsilon", 11, 30)
    assert moved[start:end] == "gamma delta epsilon"
    assert passage_range(text, "nothing like it at all", 0, 5) == (0, 0)


def test_utf16_offsets_count_astral_characters_twice() -> None:
    assert utf16_offset("😀a", 1) == 2
