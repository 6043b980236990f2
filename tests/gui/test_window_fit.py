"""A window that fits: the first one fits the screen, and the viewer borrows room from the
conversation only, gives it back, and never leaves its squeezed split for the next start."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow, first_window_geometry
from embeddinggemma_rag.gui.sources_view import SourceRef
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import hit_at, tiny_settings

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("screen", [(1280, 720), (1366, 768), (1920, 1080), (3840, 2160)])
def test_the_first_window_fits_the_screen(screen: tuple[int, int]) -> None:
    available = QRect(0, 27, screen[0], screen[1] - 27)  # a top panel
    geometry = first_window_geometry(available)
    assert available.contains(geometry)
    assert geometry.bottom() + 8 <= available.bottom()  # room for the frame's bottom edge
    assert geometry.width() >= min(1000, screen[0] * 0.75)


def test_a_first_start_opens_inside_the_screen(window: MainWindow) -> None:
    assert window.screen().availableGeometry().contains(window.geometry())


def open_pdf(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(make_pdf(["Alpha beta gamma delta."]))
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(SourceRef(hit_at(str(pdf), 1, "Alpha beta gamma delta.", 0, 23, 0.5), 1))


def test_the_viewer_takes_room_from_the_chat_only_and_gives_it_back(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path)
    window = make_window(settings)
    window.resize(1600, 900)
    window.splitter.setSizes([400, 1200, 0])
    library, chat, _ = window.splitter.sizes()
    open_pdf(qtbot, window, tmp_path)
    sizes = window.splitter.sizes()
    assert sizes[0] == library and sizes[2] > 0 and sizes[1] + sizes[2] == chat
    window.close_viewer()
    assert window.splitter.sizes() == [library, chat, 0]

    open_pdf(qtbot, window, tmp_path)  # left open at exit
    window.close()
    assert window.splitter.sizes() == [library, chat, 0]  # what was saved for next time
    again = make_window(settings)
    assert again.splitter.sizes()[2] == 0 and again.viewer.isHidden()


def test_in_a_narrow_window_the_library_lends_the_viewer_room_and_gets_it_back(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    """At 1280 px the conversation kept about 200 px beside the viewer ("90.8 words/ s"):
    the library gives up room so the conversation keeps its minimum, and has it back when
    the viewer closes."""
    from embeddinggemma_rag.gui.main_window import CHAT_MIN_WIDTH

    window = make_window(tiny_settings(tmp_path))
    window.resize(1150, 650)  # a 1280 x 720 screen, less the window's frame and the panel
    window.splitter.setSizes([486, 660, 0])
    before = window.splitter.sizes()
    open_pdf(qtbot, window, tmp_path)
    library, chat, viewer = window.splitter.sizes()
    assert chat >= CHAT_MIN_WIDTH and viewer > 0 and library < before[0]
    window.close_viewer()
    assert window.splitter.sizes() == before
