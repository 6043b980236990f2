"""Conversations: rename, search, the last one reopens at start; an export is named after
the conversation and holds every passage given to the model; plurals read right."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.gui.main_window import MainWindow
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import make_library, tiny_settings
from tests.gui.test_chat_view import index

pytestmark = pytest.mark.gui


def ask(qtbot: QtBot, window: MainWindow, question: str) -> None:
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask(question)


def test_rename_search_and_reopen_at_start(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tmp_path)
    window = make_window(settings)
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window, "How often should I descale?")
    window.chat.new_conversation()
    ask(qtbot, window, "What does the warranty cover?")
    panel = window.conversations_panel
    assert "1 question" in panel.list.item(0).text()
    assert "1 questions" not in panel.list.item(0).text()

    panel.list.setCurrentRow(1)
    monkeypatch.setattr(window.actions_, "ask_text", lambda title, label, text: "Kettle care")
    panel.rename_button.click()
    titles = [panel.list.item(i).toolTip() for i in range(panel.list.count())]
    assert "Kettle care" in titles

    panel.search.setText("kettle")
    visible = [
        panel.list.item(i).toolTip()
        for i in range(panel.list.count())
        if not panel.list.item(i).isHidden()
    ]
    assert visible == ["Kettle care"]
    latest = window.chat.conversation_id
    window.close()

    again = make_window(settings)
    assert again.chat.conversation_id == latest
    assert [e.question for e in again.chat_view.entries] == ["What does the warranty cover?"]


def test_export_is_named_after_the_conversation_and_holds_the_passages(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window, "What does the warranty cover?")
    offered: list[str] = []
    target = tmp_path / "out.md"

    def save_dialog(parent: object, caption: str, name: str, kinds: str) -> tuple[str, str]:
        offered.append(name)
        return str(target), kinds

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window.actions_.export_current()
    assert offered == ["What does the warranty cover.md"]
    markdown = target.read_text(encoding="utf-8")
    answer = window.chat_view.entries[-1].answer
    assert answer is not None and answer.passages
    assert "### Passages given to the model" in markdown
    for passage in answer.passages:
        assert passage.text.splitlines()[0] in markdown


def test_counts_read_in_the_singular_for_one() -> None:
    from types import SimpleNamespace

    from embeddinggemma_rag.gui.ingest_bar import describe_progress
    from embeddinggemma_rag.gui.library_panel import _summary, plural

    one = SimpleNamespace(
        files_done=0,
        files_total=1,
        chunks_done=1,
        elapsed_seconds=0.5,
        work_done=0.0,
        work_total=1.0,
    )
    assert describe_progress(one) == "0 of 1 file · 1 passage embedded"
    assert plural(1, "file") == "1 file" and plural(2, "file") == "2 files"
    assert _summary(["indexed"]) == "1 file"


def test_another_library_folder_lists_its_own_conversations(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    """Conversations are kept beside their library: new settings naming another folder
    show that folder's (none here), and the next question starts a conversation there."""
    settings = tiny_settings(tmp_path)
    window = make_window(settings)
    index(qtbot, window, make_library(tmp_path / "docs"))
    ask(qtbot, window, "How often should I descale?")
    panel = window.conversations_panel
    assert panel.list.count() == 1 and window.chat.conversation_id is not None
    window.actions_.apply_settings(settings.replace(data_dir=tmp_path / "other"))
    qtbot.waitUntil(lambda: panel.list.count() == 0, timeout=WAIT_MS)
    assert window.chat.conversation_id is None and window.chat_view.entries == []
    assert (tmp_path / "other" / "conversations.sqlite3").is_file()


@pytest.mark.parametrize(
    "title", ["档中对货币金额的写法有什么要求？", "ข้อกำหนดการเขียนจำนวนเงิน", "Kettle warranty"]
)
def test_every_row_has_room_for_its_title_and_its_time(qtbot: QtBot, title: str) -> None:
    """Seen in the window: a Chinese title, drawn in a taller fallback font, left its row no
    room for the second line ("00:54 · 1 question") and was cut with "…"."""
    import time

    from PySide6.QtGui import QTextLayout
    from PySide6.QtWidgets import QStyle

    from embeddinggemma_rag.core.records import ConversationSummary
    from embeddinggemma_rag.gui.conversations_panel import ConversationsPanel

    panel = ConversationsPanel()
    qtbot.addWidget(panel)
    panel.resize(480, 300)
    panel.show()
    now = time.time()
    panel.set_conversations([ConversationSummary(1, title, now, now, 1)], None)
    item = panel.list.item(0)
    needed = 0.0
    for line in item.text().split("\n"):
        layout = QTextLayout(line, panel.list.font())
        layout.beginLayout()
        text_line = layout.createLine()
        text_line.setLineWidth(10_000)
        layout.endLayout()
        needed += text_line.height()
    margin = panel.list.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameVMargin)
    qtbot.waitUntil(lambda: panel.list.visualItemRect(item).height() > 0)
    assert panel.list.visualItemRect(item).height() >= needed + 2 * margin
