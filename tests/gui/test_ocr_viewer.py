"""A passage read by OCR opens on its page image with its lines highlighted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.intake.documents import TextBox
from embeddinggemma_rag.core.intake.parsing import parse_file
from embeddinggemma_rag.gui.sources_view import SourceRef, source_label
from embeddinggemma_rag.gui.viewer import SourceViewer
from tests.core.intake.parsing.scan_factory import make_scanned_pdf
from tests.gui.fakes import hit_at

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def never_read(path: str, then: Any) -> Any:
    raise AssertionError("an OCR'd page is shown as its image, not re-read as text")


def test_ocr_passage_is_highlighted_on_the_page_image(qtbot: QtBot, tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf([["Checked the pumps.", "Bearings were ordered on Monday."]]))
    (page,) = parse_file(scan).pages  # one page: page offsets are document offsets
    asked: list[tuple[str, int]] = []

    def boxes(path: str, number: int) -> list[TextBox]:
        asked.append((path, number))
        return list(page.boxes)

    viewer = SourceViewer(never_read, read_page_boxes=boxes)
    qtbot.addWidget(viewer)
    viewer.resize(600, 800)
    viewer.show()
    second_line = page.boxes[1]
    source = SourceRef(
        hit_at(str(scan), 1, page.text, second_line.char_start, second_line.char_end, 0.5, True), 1
    )
    with qtbot.waitSignal(viewer.shown, timeout=10_000):
        viewer.open_source(source)

    assert asked == [(str(scan), 1)]
    assert viewer.stack.currentWidget() is viewer.ocr_view
    assert viewer.ocr_view.highlighted == [second_line]  # only the cited line
    assert "· OCR" in source_label(source) and "· OCR" in viewer.title.text()
    # The page image is painted yellow inside the line's box, and not inside the other's.
    image = viewer.ocr_view.label.pixmap().toImage()

    def colour_at(box: TextBox) -> QColor:
        x = int((box.left + 0.002) * image.width())
        y = int((box.top + box.bottom) / 2 * image.height())
        return image.pixelColor(x, y)

    marked, plain = colour_at(second_line), colour_at(page.boxes[0])
    assert marked.blue() < marked.red() - 40  # yellow over white or black
    assert abs(plain.blue() - plain.red()) < 10  # grey scale: untouched
