"""Keyboard: the question box has the focus at start, Ctrl+F finds where the user is,
Ctrl+L asks, Ctrl+, opens the settings, and a focused list shows a current row."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.sources_view import SourceRef
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.gui.conftest import WAIT_MS
from tests.gui.fakes import hit_at, make_library
from tests.gui.test_chat_view import index

pytestmark = pytest.mark.gui


def press(qtbot: QtBot, window: MainWindow, sequence: str) -> None:
    key = QKeySequence(sequence)[0]
    focus = QApplication.focusWidget() or window
    qtbot.keyClick(focus, key.key(), key.keyboardModifiers())


def test_the_question_box_has_the_focus_at_start(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.chat_view.question_box.hasFocus, timeout=WAIT_MS)


def test_ctrl_f_finds_in_the_conversation_then_in_the_viewer(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    window.activateWindow()
    index(qtbot, window, make_library(tmp_path / "docs"))
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask("warranty")
    press(qtbot, window, "Ctrl+F")
    find = window.chat_view.find_box
    assert find.hasFocus()
    qtbot.keyClicks(find, "covers")
    qtbot.keyClick(find, Qt.Key.Key_Return)
    assert window.chat_view.transcript.textCursor().selectedText() == "covers"

    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(make_pdf(["Alpha beta gamma."]))
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        window.open_source(SourceRef(hit_at(str(pdf), 1, "Alpha beta gamma.", 0, 17, 0.5), 1))
    window.viewer.pdf_view.setFocus()
    press(qtbot, window, "Ctrl+F")
    assert window.viewer.bar.find_box.hasFocus()
    press(qtbot, window, "Ctrl+L")
    assert window.chat_view.question_box.hasFocus()


def test_ctrl_comma_opens_the_settings(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    press(qtbot, window, "Ctrl+,")
    qtbot.waitUntil(lambda: window.actions_.settings_dialog is not None, timeout=WAIT_MS)
    dialog = window.actions_.settings_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.reject()


def test_a_focused_list_marks_a_row(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    window.activateWindow()
    index(qtbot, window, make_library(tmp_path / "docs"))
    tree = window.library_panel.tree
    tree.setCurrentIndex(tree.model().index(-1, -1))
    tree.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: tree.currentIndex().isValid(), timeout=WAIT_MS)
