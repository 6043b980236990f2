"""The settings dialog: every setting editable, checked, saved; a dimension change rebuilds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.settings import Settings, load_settings
from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.settings_dialog import SettingsDialog
from tests.gui.conftest import WAIT_MS
from tests.gui.fakes import make_library, tiny_settings

pytestmark = pytest.mark.gui


def test_an_invalid_combination_keeps_the_dialog_open_with_the_reason(
    qtbot: QtBot, tmp_path: Path
) -> None:
    dialog = SettingsDialog(tiny_settings(tmp_path))
    qtbot.addWidget(dialog)
    dialog.chunk_tokens.setValue(128)
    dialog.chunk_overlap.setValue(100)  # not under half a chunk
    dialog.accept()
    assert dialog.result_settings is None
    assert "overlap" in dialog.problem.text()
    assert dialog.chunk_tokens.maximum() == 2048


def test_settings_are_saved_and_a_dimension_change_rebuilds_the_index(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: asked.append(title) or True)
    window.actions_.open_settings()
    dialog = window.actions_.settings_dialog
    assert dialog is not None
    dialog.dimension.setCurrentIndex(dialog.dimension.findData(256))
    dialog.top_k.setValue(3)
    dialog.temperature.setValue(0.5)
    dialog.accept()

    assert asked == ["Change the dimension"]
    saved = load_settings()
    assert (saved.dimension, saved.top_k, saved.temperature) == (256, 3, 0.5)
    qtbot.waitUntil(lambda: window.host.settings.dimension == 256, timeout=WAIT_MS)
    with qtbot.waitSignal(window.host.status_changed, timeout=WAIT_MS) as status:
        window.host.refresh_status()
    assert status.args[0].dimension == 256
    assert window.errors.history == []


def test_a_chunk_size_change_can_re_index_everything(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: True)
    window.actions_.open_settings()
    dialog = window.actions_.settings_dialog
    assert dialog is not None
    dialog.chunk_tokens.setValue(64)
    dialog.chunk_overlap.setValue(0)
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS) as finished:
        dialog.accept()
    report = finished.args[0]
    assert window.host.settings.chunk_tokens == 64
    indexed = [o for o in report.outcomes if o.status == "indexed"]
    assert len(indexed) == 4 and all(o.embedded for o in indexed)  # read and embedded again
    assert str(docs) in window.library_panel.source_paths()


def test_ok_never_writes_paths_that_came_from_the_environment(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import tomllib

    from embeddinggemma_rag.core.settings import settings_file

    # The models and the library come from the environment (as in conftest and the README).
    monkeypatch.setenv(
        "EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL", str(window.host.settings.embedding_model)
    )
    assert os.environ["EMBEDDINGGEMMA_RAG_DATA_DIR"]
    window.host.settings = load_settings()
    window.actions_.open_settings()
    dialog = window.actions_.settings_dialog
    assert dialog is not None
    dialog.top_k.setValue(4)
    dialog.accept()
    saved = tomllib.loads(settings_file().read_text(encoding="utf-8"))
    assert saved == {"top_k": 4}  # only what the user changed


def test_settings_are_grouped_wide_and_can_be_restored(qtbot: QtBot, tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, top_k=9, temperature=1.0)
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() >= 720
    assert dialog.basic.isAncestorOf(dialog.embedding_model)
    assert dialog.advanced.isAncestorOf(dialog.chunk_tokens)
    assert dialog.library_folder.text() == str(settings.data_dir)
    dialog.restore_button.click()
    assert dialog.top_k.value() == Settings().top_k
    assert dialog.temperature.value() == Settings().temperature
    assert dialog.embedding_model.value() is None  # the default: the models folder
    dialog.accept()
    assert dialog.result_settings is not None
    assert dialog.result_settings.data_dir == settings.data_dir  # never "restored" away
