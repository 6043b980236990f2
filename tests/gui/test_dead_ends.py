"""No dead ends: without models, with a broken model, or with an empty library, the window
says what is missing and offers the action that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.gui.chat_controller import EMPTY_LIBRARY, NO_SEARCH_MODEL
from embeddinggemma_rag.gui.errors import OPEN_MODELS, describe
from embeddinggemma_rag.gui.library_panel import STATUS
from embeddinggemma_rag.gui.main_window import WAITING_FOR_MODEL, MainWindow
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import make_library, tiny_chat_engine
from tests.gui.test_setup_dialog import open_setup

pytestmark = pytest.mark.gui


def test_without_models_a_question_says_what_is_missing_at_once(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    dialog.reject()  # "Not now"
    assert "No search model yet" in window.model_notice.text()
    assert window.model_notice.action_button.text() == OPEN_MODELS
    window.chat_view.question_box.setPlainText("How often should I descale?")
    qtbot.mouseClick(window.chat_view.send_button, Qt.MouseButton.LeftButton)
    # Answered on the spot: no search waiting for a model that is not there.
    assert window.chat.job is None and not window.chat_view.busy
    assert window.chat_view.entries[-1].note == NO_SEARCH_MODEL
    assert window.chat_view.question_box.toPlainText() == "How often should I descale?"
    qtbot.mouseClick(window.model_notice.action_button, Qt.MouseButton.LeftButton)
    assert window.actions_.setup_dialog is not None and window.actions_.setup_dialog.isVisible()


def test_a_folder_added_before_the_models_is_kept_and_indexed_once_they_are_ready(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    dialog.reject()
    docs = make_library(tmp_path / "docs", text_files=1)
    window.add_paths([docs])
    source = window.library_panel._sources[str(docs)]
    assert source.text(STATUS) == WAITING_FOR_MODEL
    assert "1 folder or file will be indexed" in window.model_notice.text()
    assert window.host.ingest_job is None  # nothing hangs waiting for the model

    window.actions_.open_setup()
    dialog = window.actions_.setup_dialog
    assert dialog is not None
    dialog.import_path(TINY_EMBEDDING_MODEL)
    qtbot.waitUntil(dialog.continue_button.isEnabled, timeout=WAIT_MS)
    dialog.accept()

    def note_status() -> str:
        item = window.library_panel.file_item(str(docs / "note0.txt"))
        return item.text(STATUS) if item is not None else ""

    qtbot.waitUntil(lambda: note_status() == "Indexed", timeout=WAIT_MS)
    assert "No search model" not in window.model_notice.text()


def test_model_errors_name_the_window_action_not_terminal_commands() -> None:
    shown = describe(ModelError("/models/chat.gguf", "cannot be loaded by llama.cpp"), "load it")
    assert "embeddinggemma-rag" not in shown.message and "`" not in shown.message
    assert shown.message.startswith("/models/chat.gguf: cannot be loaded by llama.cpp.")
    assert OPEN_MODELS in shown.message and shown.action == OPEN_MODELS


def test_the_error_box_has_a_button_that_opens_the_models(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window()
    window.errors.dialogs_enabled = True
    window.errors.report(ModelError(tmp_path / "x.gguf", "is damaged"), "load the chat model")
    box = window.errors._box
    assert box is not None
    buttons = [b for b in box.findChildren(QPushButton) if b.text() == OPEN_MODELS]
    assert len(buttons) == 1
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert window.actions_.setup_dialog is not None and window.actions_.setup_dialog.isVisible()
    assert isinstance(box, QMessageBox)


def test_a_broken_chat_model_is_reported_at_start_with_the_way_out(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    from tests.gui.fakes import tiny_settings

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    window = make_window(tiny_settings(tmp_path, generator_model=broken), tiny_chat_engine)
    qtbot.waitUntil(lambda: bool(window.errors.history), timeout=WAIT_MS)
    error = window.errors.history[-1]
    assert error.title == "Could not load the chat model"
    assert str(broken) in error.message and error.action == OPEN_MODELS


def test_an_empty_library_says_so_and_shows_how_to_add_documents(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.tabs.setCurrentIndex(1)  # the conversations
    window.chat_view.question_box.setPlainText("How long is the warranty?")
    qtbot.mouseClick(window.chat_view.send_button, Qt.MouseButton.LeftButton)
    assert window.chat.job is None
    note = window.chat_view.entries[-1].note
    assert note == EMPTY_LIBRARY and "Add folder…" in note and "below" not in note
    assert window.tabs.currentIndex() == 0  # the library, where documents are added
    assert window.library_panel.add_folder_button.hasFocus()
