"""The setup screen: shown when models are missing; choose files, or download with progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.setup_dialog import SetupDialog
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.core.models.test_model_store import hub_state
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import tiny_settings
from tests.hub_server import serve_hub

pytestmark = pytest.mark.gui


def open_setup(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> tuple[MainWindow, SetupDialog]:
    settings = tiny_settings(tmp_path, embedding_model=None, generator_model=None)
    window = make_window(settings, wait_ready=False)
    qtbot.waitUntil(lambda: window.actions_.setup_dialog is not None, timeout=WAIT_MS)
    dialog = window.actions_.setup_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: bool(dialog.statuses), timeout=WAIT_MS)
    return window, dialog


def test_the_setup_screen_says_what_is_missing_with_sizes_and_licences(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    assert (dialog.isVisible() and dialog.isModal() is False) or dialog.isVisible()
    embedding, generator = dialog.boxes["embedding"], dialog.boxes["generator"]
    assert embedding.state.text().startswith("Not usable: ")
    assert "model_q4.onnx" in embedding.state.text()
    assert generator.state.text().startswith("Not usable: ")
    assert "Gemma Terms of Use" in embedding.about.text()
    assert "about 231.7 MB" in embedding.about.text()
    assert "about 806.0 MB" in generator.about.text()
    assert not dialog.continue_button.isEnabled()
    assert dialog.download_button.isEnabled()
    assert window.status.model_state("embedding").endswith("missing")
    assert window.status.network_label.text() == "● Offline"


def test_choosing_model_files_checks_them_and_the_app_goes_on(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    with qtbot.waitSignal(window.errors.shown, timeout=WAIT_MS) as shown:
        dialog.import_path(tmp_path / "not-a-model")
    assert "not-a-model" in shown.args[0].message

    dialog.import_path(TINY_EMBEDDING_MODEL)
    qtbot.waitUntil(dialog.continue_button.isEnabled, timeout=WAIT_MS)
    assert dialog.boxes["embedding"].state.text() == f"Ready: {TINY_EMBEDDING_MODEL}"
    # The box says the files are the user's own, not the download it describes.
    assert dialog.boxes["embedding"].about.text().startswith("Your own model files")
    assert "about 806.0 MB" in dialog.boxes["generator"].about.text()
    assert not dialog.boxes["generator"].about.text().startswith("Your own")
    qtbot.mouseClick(dialog.continue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "ready" in window.status.model_state("embedding"), timeout=WAIT_MS)
    assert window.host.settings.embedding_model == TINY_EMBEDDING_MODEL


def test_download_shows_progress_and_the_network_in_use(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    # What the network indicator read at the moment each dialog message appeared: the
    # product guarantees "Offline" by the time it says the download is over.
    seen: list[tuple[str, str]] = []
    set_text = dialog.progress_label.setText

    def recording_set_text(text: str) -> None:
        seen.append((text, window.status.network_label.text()))
        set_text(text)

    dialog.progress_label.setText = recording_set_text  # type: ignore[method-assign]
    with serve_hub(hub_state()) as url:
        window.host.download_endpoint = url
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert window.status.network_label.text().startswith("● Online")
        assert dialog.progress.isVisible() and dialog.cancel_button.isVisible()
        qtbot.waitUntil(
            lambda: dialog.progress_label.text() == "Downloaded and checked.", timeout=WAIT_MS
        )
    assert ("Downloaded and checked.", "● Offline") in seen
    assert window.status.network_label.text() == "● Offline"
    assert not dialog.progress.isVisible()
    qtbot.waitUntil(
        lambda: dialog.boxes["generator"].state.text().startswith("Ready"), timeout=WAIT_MS
    )


def test_a_download_can_be_cancelled(qtbot: QtBot, make_window: MakeWindow, tmp_path: Path) -> None:
    window, dialog = open_setup(qtbot, make_window, tmp_path)
    with serve_hub(hub_state()) as url:
        window.host.download_endpoint = url
        qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: dialog.progress_label.text() == "Download cancelled.", timeout=WAIT_MS
        )
    assert window.errors.history == []  # cancelling is not an error
    assert dialog.download_button.isEnabled()
    assert window.status.network_label.text() == "● Offline"


def test_choosing_files_starts_in_the_home_folder(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in the folder the app happened to be started from (a newcomer's dialogs opened
    in the clone)."""
    from PySide6.QtWidgets import QFileDialog

    _, dialog = open_setup(qtbot, make_window, tmp_path)
    asked: list[str] = []

    def folder(parent: object, caption: str, start: str) -> str:
        asked.append(start)
        return ""

    def file(parent: object, caption: str, start: str, filters: str) -> tuple[str, str]:
        asked.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", folder)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", file)
    dialog.choose_files("embedding")
    dialog.choose_files("generator")
    assert asked == [str(Path.home()), str(Path.home())]
