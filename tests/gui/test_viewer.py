"""The source viewer: a PDF at the cited page with the passage found, text at the passage."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.passage_match import locate, passage_range, utf16_offset
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.sources_view import SourceRef
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.gui.conftest import WAIT_MS
from tests.gui.fakes import hit_at

pytestmark = pytest.mark.gui

PAGES = [
    f"Page {n} heading\nThis page talks about topic number {n} at length." for n in range(1, 8)
]


def test_a_pdf_opens_at_the_cited_page_with_the_passage_highlighted(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "seven.pdf"
    pdf.write_bytes(make_pdf(PAGES))
    source = SourceRef(hit_at(str(pdf), 5, PAGES[4], 0, len(PAGES[4]), 0.5), 1)

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


def test_a_library_preview_opens_a_pdf_at_its_first_page_with_nothing_sought(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "seven.pdf"
    pdf.write_bytes(make_pdf(PAGES))
    preview = SourceRef.preview(str(pdf))
    hit = preview.hit  # a passage of no text at the document's start
    assert (hit.path, hit.page, hit.text, preview.number) == (str(pdf), 1, "", None)
    assert SourceRef.preview(str(tmp_path / "notes.txt")).hit.page is None

    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(preview)

    viewer = window.viewer
    assert viewer.current_page() == 1 and viewer.title.text() == "seven.pdf, page 1"
    assert viewer.search_model.searchString() == "" and viewer.detail.text() == ""


def test_a_passage_no_longer_on_the_page_still_opens_the_page(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "seven.pdf"
    pdf.write_bytes(make_pdf(PAGES))
    source = SourceRef(hit_at(str(pdf), 3, "words that were edited away long ago", 0, 10, 0.5), 1)
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
    source = SourceRef(hit_at(str(path), None, passage, start, start + len(passage), 0.4))

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


TALL_PAGES = [
    f"Page {n} heading\n" + "\n".join(f"Line {i} of page {n} says little." for i in range(44))
    for n in range(1, 8)
]


def outlined_pixels(viewer: object) -> int:
    """Pixels of Qt PDF's outline around the current search result that are on screen."""
    image = viewer.pdf_view.viewport().grab().toImage()  # type: ignore[attr-defined]
    return sum(
        1
        for y in range(0, image.height(), 1)
        for x in range(0, image.width(), 2)
        if image.pixelColor(x, y).name() == "#00ffff"  # QPdfView's current-result colour
    )


def test_a_passage_low_on_its_page_is_centred_in_view(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    window.resize(1280, 720)
    pdf = tmp_path / "tall.pdf"
    pdf.write_bytes(make_pdf(TALL_PAGES))
    passage = "Line 41 of page 5 says little. Line 42 of page 5 says little."
    source = SourceRef(hit_at(str(pdf), 5, passage, 0, len(passage), 0.5), 1)
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)
    viewer = window.viewer
    qtbot.waitUntil(lambda: viewer.pdf_view.currentSearchResultIndex() >= 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: outlined_pixels(viewer) > 0, timeout=WAIT_MS)
    # The view settles (a narrower viewer re-lays the pages out): the passage stays in view.
    window.splitter.setSizes([300, 500, 480])
    qtbot.waitUntil(lambda: outlined_pixels(viewer) > 0, timeout=WAIT_MS)
    assert viewer.bar.page_label.text() == "Page 5 of 7"


def test_the_viewer_steps_pages_zooms_and_finds(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    pdf = tmp_path / "tall.pdf"
    pdf.write_bytes(make_pdf(TALL_PAGES))
    source = SourceRef(hit_at(str(pdf), 2, TALL_PAGES[1][:60], 0, 60, 0.5), 1)
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)
    viewer, bar = window.viewer, window.viewer.bar
    assert bar.page_label.text() == "Page 2 of 7" and bar.previous_button.isEnabled()
    qtbot.mouseClick(bar.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.page_label.text() == "Page 3 of 7", timeout=WAIT_MS)
    bar.zoom.setCurrentIndex(bar.zoom.findText("150 %"))
    emit(bar.zoom.activated, bar.zoom.currentIndex())
    assert viewer.pdf_view.zoomFactor() == 1.5
    bar.find_box.setText("Line 30 of page 6")
    emit(bar.find_box.returnPressed)
    qtbot.waitUntil(lambda: bar.find_state.text() == "1 of 1", timeout=WAIT_MS)
    assert viewer.current_page() == 6
    qtbot.waitUntil(lambda: outlined_pixels(viewer) > 0, timeout=WAIT_MS)


def test_find_in_a_text_source(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("alpha\n" * 200 + "the needle is here\n" + "omega\n" * 200, encoding="utf-8")
    source = SourceRef(hit_at(str(path), None, "alpha alpha", 0, 11, 0.4))
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(source)
    bar = window.viewer.bar
    assert bar.page_label.isHidden()  # a text has no pages to step through
    bar.find_box.setText("needle")
    emit(bar.find_box.returnPressed)
    assert window.viewer.text_view.textCursor().selectedText() == "needle"
    bar.find_box.setText("haystack")
    emit(bar.find_box.returnPressed)
    assert bar.find_state.text() == "Not found"
