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
from embeddinggemma_rag.gui.signals import emit
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
    assert "4 documents" in window.status.library_label.text()  # indexed ones only
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
        lambda: status_text(window, docs / "long001.txt") == "Indexed",
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
        lambda: status_text(window, docs / "long000.txt") == "Indexed",
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
        lambda: status_text(window, docs / "long002.txt") == "Indexed",
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


def test_every_file_is_listed_at_once_and_the_bar_follows_the_work(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_big_library(tmp_path / "big", files=12, pairs=120)
    seen: list[tuple[int, int, int, float, str]] = []

    def on_progress(progress: object) -> None:
        panel = window.library_panel
        done_rows = sum(
            1
            for item in panel._files.values()
            if not item.text(STATUS).startswith(("Queued", "Indexing"))
        )
        seen.append(
            (
                progress.files_done,  # type: ignore[attr-defined]
                progress.files_total,  # type: ignore[attr-defined]
                len(panel._files),
                progress.work_done,  # type: ignore[attr-defined]  # what the bar shows
                window.status.library_label.text(),
            )
        )
        assert done_rows == progress.files_done  # type: ignore[attr-defined]

    def on_started(job: object) -> None:
        job.progressed.connect(on_progress)  # type: ignore[attr-defined]

    window.host.ingest_started.connect(on_started)
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2):
        window.add_paths([docs])
    running = [s for s in seen if s[1] and s[0] < s[1]]
    assert running and all(rows == total for _, total, rows, _, _ in running)
    # The files are embedded together: the bar's measure moves while no file is finished.
    stalled = [work for done, _, _, work, _ in running if done == 0]
    assert len(set(stalled)) > 1
    assert "12 documents" in window.status.library_label.text()


@pytest.mark.usefixtures("file_by_file")
def test_counts_are_live_while_indexing(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    docs = make_big_library(tmp_path / "big")
    window.add_paths([docs])
    qtbot.waitUntil(lambda: status_text(window, docs / "long001.txt") == "Indexed", timeout=WAIT_MS)
    assert window.host.ingest_job is not None  # still indexing
    assert "Library: 0 documents" not in window.status.library_label.text()
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2):
        pass


@pytest.mark.usefixtures("file_by_file")
def test_a_cancelled_folder_says_partial_and_resumes(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_big_library(tmp_path / "big")
    window.add_paths([docs])
    qtbot.waitUntil(lambda: status_text(window, docs / "long001.txt") == "Indexed", timeout=WAIT_MS)
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(window.ingest_bar.cancel_button, Qt.MouseButton.LeftButton)
    missing = 30 - len(finished.args[0].outcomes)
    assert missing > 0
    qtbot.waitUntil(lambda: window.host.ingest_job is None, timeout=WAIT_MS)

    def source() -> str:  # the row is rebuilt whenever the library is read again
        return window.library_panel._sources[str(docs)].text(STATUS)

    qtbot.waitUntil(lambda: source().startswith("Partial: "), timeout=WAIT_MS)
    assert source().startswith(f"Partial: {missing} files not indexed")
    assert status_text(window, docs / "long029.txt").startswith("Not indexed")
    assert window.library_panel.resume_button.isVisible()
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS * 2) as finished:
        qtbot.mouseClick(window.library_panel.resume_button, Qt.MouseButton.LeftButton)
    assert not finished.args[0].cancelled
    qtbot.waitUntil(lambda: source() == "30 files", timeout=WAIT_MS)
    assert not window.library_panel.resume_button.isVisible()


def test_nothing_changed_says_up_to_date(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.host.rescan()
    assert window.status.currentMessage().startswith("Up to date: 6 files checked")


def test_remove_asks_first_and_takes_the_rows_off_at_once(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    qtbot.waitUntil(lambda: window.host.ingest_job is None, timeout=WAIT_MS)
    panel = window.library_panel
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: False)
    panel.tree.setCurrentItem(panel._sources[str(docs)])
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert panel.source_paths() == [str(docs)]  # "No": nothing happens
    assert window.host.runner.active() == []
    asked: list[str] = []
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: asked.append(text) or True)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert asked and "stay on disk" in asked[0]
    # Gone from the tree at once: no rows left over until the library is read again.
    assert panel.source_paths() == [] and panel.tree.topLevelItemCount() == 0
    assert panel.file_item(str(docs / "manual.pdf")) is None
    qtbot.waitUntil(lambda: "0 documents" in window.status.library_label.text(), timeout=WAIT_MS)


def test_rows_show_the_whole_reason_preview_on_enter_and_filter_to_problems(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = make_library(tmp_path / "docs")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    qtbot.waitUntil(lambda: window.host.ingest_job is None, timeout=WAIT_MS)
    panel = window.library_panel
    # A narrow status column (the name column takes the rest of a narrow panel).
    panel.tree.header().resizeSection(0, panel.tree.viewport().width() - 150)
    locked = panel.file_item(str(docs / "locked.pdf"))
    assert locked is not None
    # Wrapped onto more lines when the column is narrow, never cut with an ellipsis.
    line = panel.tree.fontMetrics().height()
    qtbot.waitUntil(lambda: panel.tree.visualItemRect(locked).height() > line * 1.5)
    assert "…" not in locked.text(STATUS)

    note = panel.file_item(str(docs / "note0.txt"))
    assert note is not None
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        panel.tree.setCurrentItem(note)
        emit(panel.tree.itemActivated, note, 0)  # what Enter or a double-click sends
    assert window.viewer.isVisible() and window.viewer.detail.text() == ""
    assert "Note 0." in window.viewer.text_view.toPlainText()

    panel.problems_only.setChecked(True)
    shown = [p for p, item in panel._files.items() if not item.isHidden()]
    assert sorted(Path(p).name for p in shown) == ["locked.pdf"]
    panel.problems_only.setChecked(False)
    assert not any(item.isHidden() for item in panel._files.values())


def test_long_names_keep_their_file_name_on_one_line(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    """Seen in the window: five files of one subfolder all read "zh-style-guide/…": the name
    wrapped after its folder and the row cut the file name off. A name stays on one line
    and is shortened in the middle; a status still wraps."""
    from PySide6.QtWidgets import QStyleOptionViewItem

    from embeddinggemma_rag.gui.library_panel import NAME

    docs = tmp_path / "docs"
    (docs / "a-rather-long-style-guide-folder").mkdir(parents=True)
    note = docs / "a-rather-long-style-guide-folder" / "numbers-and-currency.md"
    note.write_text("Write amounts with digits.")
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths([docs])
    panel = window.library_panel
    item = panel.file_item(str(note))
    assert item is not None
    delegate = panel.tree.itemDelegate()
    line = panel.tree.fontMetrics().height()
    heights = {}
    for column in (NAME, STATUS):
        option = QStyleOptionViewItem()
        option.initFrom(panel.tree)
        option.features |= QStyleOptionViewItem.ViewItemFeature.WrapText  # type: ignore[attr-defined]
        option.rect.setWidth(90)  # type: ignore[attr-defined]  # narrower than either text
        index = panel.tree.indexFromItem(item, column)
        heights[column] = delegate.sizeHint(option, index).height()
    assert heights[NAME] < 1.5 * line  # one line, shortened in the middle when painted
    assert item.text(NAME).endswith("numbers-and-currency.md")
