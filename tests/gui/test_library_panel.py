"""The library panel: a dropped folder gets indexed, bad files say why, cancel, pause, close."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.library_panel import STATUS
from embeddinggemma_rag.gui.main_window import MainWindow
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import StallMeter, make_big_library, make_library, tiny_settings

pytestmark = pytest.mark.gui


def drop_on(widget: QWidget, paths: list[Path]) -> None:
    """What a file manager does: a drag enters with file URLs, then drops them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    action, button, keys = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.NoModifier
    enter = QDragEnterEvent(QPointF(centre), action, mime, button, keys)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(centre), action, mime, button, keys)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def status_text(window: MainWindow, path: Path) -> str:
    item = window.library_panel.file_item(str(path))
    return item.text(STATUS) if item is not None else ""


def test_a_dropped_folder_is_indexed_and_bad_files_say_why(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS) as finished:
        drop_on(window, [docs])
        assert str(docs) in window.library_panel.source_paths()  # shown at once, as queued
    assert finished.args[0].by_status() == {"indexed": 4, "skipped": 1, "no_text": 0, "failed": 1}
    qtbot.waitUntil(lambda: status_text(window, docs / "manual.pdf") == "Indexed", timeout=WAIT_MS)
    manual = window.library_panel.file_item(str(docs / "manual.pdf"))
    assert manual is not None and int(manual.text(2)) >= 1
    assert status_text(window, docs / "locked.pdf").startswith("Failed: ")
    assert "password" in status_text(window, docs / "locked.pdf")
    assert status_text(window, docs / "picture.xyz") == "Skipped: unsupported file type (.xyz)"
    assert "6 documents" in window.status.library_label.text()
    assert window.errors.history == []  # a bad file is a status, not an error dialog


def test_a_drop_on_the_question_box_adds_files_instead_of_typing_their_path(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        drop_on(window.chat_view.question_box.viewport(), [docs / "note0.txt"])
    assert window.chat_view.question_box.toPlainText() == ""
    qtbot.waitUntil(lambda: status_text(window, docs / "note0.txt") == "Indexed", timeout=WAIT_MS)


def test_indexing_keeps_the_event_loop_running(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_big_library(tmp_path / "big", files=20, pairs=150)
    meter = StallMeter()
    meter.start()
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2) as finished:
        window.add_paths([docs])
    meter.stop()
    assert finished.args[0].by_status()["indexed"] == 20
    assert meter.ticks > 10
    assert meter.longest < 0.1, f"the GUI stalled for {meter.longest * 1000:.0f} ms"


@pytest.mark.usefixtures("file_by_file")
def test_cancel_keeps_what_was_indexed_and_adding_again_resumes(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_big_library(tmp_path / "big")
    window.add_paths([docs])
    qtbot.waitUntil(lambda: window.host.ingest_job is not None, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: window.library_panel.file_item(str(docs / "long001.txt")) is not None,
        timeout=WAIT_MS,
    )
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(window.ingest_bar.cancel_button, Qt.MouseButton.LeftButton)
    first = finished.args[0]
    assert first.cancelled
    done = {o.path for o in first.outcomes}
    assert 0 < len(done) < 30
    qtbot.waitUntil(window.ingest_bar.isHidden, timeout=WAIT_MS)

    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2) as finished:
        window.add_paths([docs])
    second = finished.args[0]
    assert not second.cancelled
    assert second.by_status()["indexed"] == 30
    assert not any(o.embedded for o in second.outcomes if o.path in done)  # not embedded twice


@pytest.mark.usefixtures("file_by_file")
def test_pause_holds_indexing_while_a_question_is_answered(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_big_library(tmp_path / "big")
    window.add_paths([docs])
    qtbot.waitUntil(
        lambda: window.library_panel.file_item(str(docs / "long000.txt")) is not None,
        timeout=WAIT_MS,
    )
    job = window.host.ingest_job
    assert job is not None
    qtbot.mouseClick(window.ingest_bar.pause_button, Qt.MouseButton.LeftButton)
    assert job.paused and window.ingest_bar.pause_button.text() == "Resume"
    progress: list[object] = []
    job.progressed.connect(progress.append)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as answered:
        window.chat.ask("kettle3 word5")
    assert answered.args[0].text
    paused_progress = [p for p in progress if p.files_done < p.files_total]
    assert len({p.files_done for p in paused_progress}) <= 1  # nothing moved while paused
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2) as finished:
        qtbot.mouseClick(window.ingest_bar.pause_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].by_status()["indexed"] == 30


@pytest.mark.usefixtures("file_by_file")
def test_closing_while_indexing_cancels_and_keeps_what_was_saved(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path)
    window = make_window(settings)
    docs = make_big_library(tmp_path / "big")
    window.add_paths([docs])
    qtbot.waitUntil(
        lambda: window.library_panel.file_item(str(docs / "long002.txt")) is not None,
        timeout=WAIT_MS,
    )
    window.close()
    assert window.host.runner.active() == []
    assert window.host.runner.wait(0)  # no worker left running

    again = make_window(settings)
    qtbot.waitUntil(lambda: status_text(again, docs / "long000.txt") == "Indexed", timeout=WAIT_MS)
    assert again.errors.history == []


def test_remove_forgets_a_folder(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    window.library_panel.tree.setCurrentItem(window.library_panel._sources[str(docs)])
    with qtbot.waitSignal(window.host.status_changed, timeout=WAIT_MS):
        qtbot.mouseClick(window.library_panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.library_panel.source_paths() == [], timeout=WAIT_MS)
    assert docs.is_dir()  # only forgotten, never deleted
