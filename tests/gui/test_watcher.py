"""Watched folders: files added, changed or deleted on disk reach the library by themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.library_panel import STATUS
from embeddinggemma_rag.gui.main_window import MainWindow
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import make_library, tiny_settings

pytestmark = pytest.mark.gui


def indexed(window: MainWindow, path: Path) -> bool:
    item = window.library_panel.file_item(str(path))
    return item is not None and item.text(STATUS) == "Indexed"


def test_files_added_changed_and_deleted_are_picked_up(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    window.watcher.set_debounce(100)
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    qtbot.waitUntil(lambda: str(docs) in window.watcher.watched(), timeout=WAIT_MS)

    added = docs / "new.txt"
    added.write_text("A note written while the app runs.", encoding="utf-8")
    qtbot.waitUntil(lambda: indexed(window, added), timeout=WAIT_MS)

    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS) as finished:
        (docs / "note0.txt").write_text("Changed words entirely.", encoding="utf-8")
    changed = {o.path: o for o in finished.args[0].outcomes}
    assert changed[str(docs / "note0.txt")].embedded
    assert not changed[str(docs / "note1.txt")].embedded  # the others are left alone

    os.remove(docs / "note1.txt")
    qtbot.waitUntil(
        lambda: window.library_panel.file_item(str(docs / "note1.txt")) is None, timeout=WAIT_MS
    )


def test_changes_made_while_closed_are_picked_up_at_start(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path)
    first = make_window(settings)
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(first.host.ingest_finished, timeout=WAIT_MS):
        first.add_paths([docs])
    first.close()
    later = docs / "written-while-closed.txt"
    later.write_text("Added while the app was closed.", encoding="utf-8")

    second = make_window(settings)  # waits for the start-up rescan
    assert indexed(second, later)
