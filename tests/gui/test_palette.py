"""The app follows the system's colour scheme, and its own colours follow the palette."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui import palette as palette_module
from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.palette import follow_color_scheme, is_dark
from embeddinggemma_rag.gui.signals import emit

pytestmark = pytest.mark.gui


def test_a_dark_system_setting_gives_a_dark_window_and_back(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    saved_palette, saved_style = QPalette(app.palette()), app.style().name()
    hints = app.styleHints()
    try:
        monkeypatch.setattr(hints, "colorScheme", lambda: Qt.ColorScheme.Dark)
        follow_color_scheme(app)
        assert is_dark(app.palette())
        qtbot.waitUntil(lambda: is_dark(window.chat_view.palette()))
        base = window.chat_view.transcript.palette().color(QPalette.ColorRole.Base)
        assert base.lightness() < 80
        emit(hints.colorSchemeChanged, Qt.ColorScheme.Light)
        assert not is_dark(app.palette())
    finally:
        app.setStyle(saved_style)
        app.setPalette(saved_palette)
        monkeypatch.undo()
    assert palette_module.dark_palette().color(QPalette.ColorRole.Link).lightness() > 128
