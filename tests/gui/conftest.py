"""GUI fixtures: a main window over the tiny models that records errors instead of showing them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.intake import ingestion
from embeddinggemma_rag.core.settings import Settings
from embeddinggemma_rag.gui.main_window import MainWindow
from tests.gui.fakes import scripted_engines, tiny_settings

WAIT_MS = 30_000  # generous: a loaded CI machine, never a hang

MakeWindow = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot, tmp_path: Path) -> Iterator[MakeWindow]:
    """Build, show and start a window; it is closed (cancelling its jobs) after the test."""
    windows: list[MainWindow] = []

    def make(
        settings: Settings | None = None,
        engine_factory: Callable[..., object] | None = None,
        wait_ready: bool = True,
    ) -> MainWindow:
        window = MainWindow(
            settings or tiny_settings(tmp_path), engine_factory or scripted_engines()
        )
        window.errors.dialogs_enabled = False  # recorded in window.errors.history instead
        # Confirmations are answered yes and recorded, never shown (a modal box would block).
        window.confirmations = []  # type: ignore[attr-defined]
        window.actions_.confirm = (  # type: ignore[method-assign]
            lambda title, text: window.confirmations.append(title) or True  # type: ignore[attr-defined]
        )
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        window.start()
        if wait_ready:
            qtbot.waitUntil(
                lambda: "ready" in window.status.model_state("embedding"), timeout=WAIT_MS
            )
            # The start-up rescan runs first; tests begin once it is done.
            qtbot.waitUntil(lambda: window.host.ingest_job is None, timeout=WAIT_MS)
        return window

    yield make
    for window in windows:
        window.close()
        assert window.host.runner.active() == [] or window.host.runner.closed


@pytest.fixture
def window(make_window: MakeWindow) -> MainWindow:
    return make_window()


@pytest.fixture
def file_by_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commit every file on its own, so outcomes arrive one by one while a test watches
    (ingestion normally embeds many small files together)."""
    monkeypatch.setattr(ingestion, "FLUSH_FILES", 1)
