"""Asking: streamed answers, clickable citations and sources, stop, close, history, safety."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QTextBrowser
from pytestqt.qtbot import QtBot

from embeddinggemma_rag.core.library.conversations import ConversationStore
from embeddinggemma_rag.gui.chat_controller import STOPPED
from embeddinggemma_rag.gui.main_window import MainWindow
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.transcript import SEARCHING
from tests.core.intake.parsing.pdf_factory import make_pdf
from tests.gui.conftest import WAIT_MS, MakeWindow
from tests.gui.fakes import (
    PDF_PAGES,
    StallMeter,
    make_library,
    scripted_engines,
    tiny_chat_engine,
    tiny_settings,
)

pytestmark = pytest.mark.gui
QUESTION = "How long does the warranty last?"


def index(qtbot: QtBot, window: MainWindow, *paths: Path) -> None:
    with qtbot.waitSignal(window.host.ingest_finished, timeout=WAIT_MS):
        window.add_paths(list(paths))


def pdf_only(tmp_path: Path) -> Path:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "manual.pdf").write_bytes(make_pdf(PDF_PAGES))
    return folder


def anchor_positions(browser: QTextBrowser, href: str) -> list[int]:
    """Document positions of the characters inside the link `href`."""
    cursor = QTextCursor(browser.document())
    positions = []
    while not cursor.atEnd():
        cursor.movePosition(QTextCursor.MoveOperation.NextCharacter)
        if cursor.charFormat().anchorHref() == href:  # the format of the character before
            positions.append(cursor.position() - 1)
    assert positions, f"no link {href!r} in the conversation"
    return positions


def click_link(qtbot: QtBot, browser: QTextBrowser, href: str) -> None:
    """A real mouse click on a point of the link that the browser itself maps to it."""
    for position in anchor_positions(browser, href):
        cursor = QTextCursor(browser.document())
        cursor.setPosition(position)
        browser.setTextCursor(cursor)
        browser.ensureCursorVisible()
        point = browser.cursorRect(cursor).center() + QPoint(3, 0)
        if browser.anchorAt(point) == href:
            qtbot.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, pos=point)
            return
    raise AssertionError(f"the link {href!r} cannot be clicked")


def test_an_answer_streams_and_a_citation_opens_the_pdf_at_its_page(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window(engine_factory=scripted_engines(delay_seconds=0.03))
    index(qtbot, window, pdf_only(tmp_path))
    window.chat_view.question_box.setPlainText(QUESTION)
    window.chat_view.question_box.setFocus()
    qtbot.keyClick(window.chat_view.question_box, Qt.Key.Key_Return)
    assert window.chat_view.question_box.toPlainText() == ""
    job = window.chat.job
    assert job is not None and window.chat_view.stop_button.isEnabled()
    with qtbot.waitSignal(job.tokens, timeout=WAIT_MS):
        pass
    streaming = window.chat_view.entries[-1]
    assert streaming.answer is None and streaming.partial  # shown before the answer is done
    assert streaming.partial.strip() in window.chat_view.transcript.toPlainText()
    assert SEARCHING not in window.chat_view.transcript.toPlainText()  # gone with the first word
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as finished:
        pass
    answer = finished.args[0]
    assert answer.text.startswith("The warranty lasts three years [1].")
    assert [c.number for c in answer.citations] == [1, 2]
    shown = window.chat_view.transcript.toPlainText()
    assert "Sources" in shown and "match 1 of 3" in shown and "score" not in shown
    first = answer.citations[0].hit
    assert f"manual.pdf, page {first.page}" in shown

    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        click_link(qtbot, window.chat_view.transcript, "cite:0:1")
    assert window.viewer.isVisible()
    assert window.viewer.source is not None and window.viewer.source.number == 1
    assert window.viewer.current_page() == first.page
    view, model = window.viewer.pdf_view, window.viewer.search_model
    qtbot.waitUntil(lambda: view.currentSearchResultIndex() >= 0, timeout=WAIT_MS)
    assert model.resultAtIndex(view.currentSearchResultIndex()).page() == first.page - 1


def test_shift_enter_starts_a_new_line_and_enter_sends(qtbot: QtBot, window: MainWindow) -> None:
    box = window.chat_view.question_box
    asked: list[str] = []
    window.chat_view.ask_requested.disconnect()
    window.chat_view.ask_requested.connect(lambda text, scope: asked.append(text))
    box.setFocus()
    qtbot.keyClicks(box, "first line")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert asked == [] and box.toPlainText() == "first line\nsecond line"
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert asked == ["first line\nsecond line"] and box.toPlainText() == ""


def test_a_source_link_opens_a_text_file_at_the_highlighted_passage(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "kettle.txt").write_text(
        "Intro line.\n\nDescale the kettle every month.\n", encoding="utf-8"
    )
    index(qtbot, window, docs)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask("When should the kettle be descaled?")
    transcript = window.chat_view.transcript
    assert "kettle.txt" in transcript.toPlainText()
    with qtbot.waitSignal(window.viewer.shown, timeout=WAIT_MS):
        click_link(qtbot, transcript, "source:0:0")
    assert window.viewer.stack.currentWidget() is window.viewer.text_view
    assert "Descale the kettle every month." in window.viewer.highlighted_text()


def test_query_words_are_marked_in_the_snippets(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    index(qtbot, window, pdf_only(tmp_path))
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask(QUESTION)
    document = window.chat_view.transcript.document()
    found = document.find(
        "warranty", anchor_positions(window.chat_view.transcript, "source:0:0")[0]
    )
    assert not found.isNull()
    marked = QTextCursor(document)
    marked.setPosition(found.selectionStart() + 1)
    assert marked.charFormat().fontWeight() == 700  # the mark format


def test_stop_keeps_the_partial_answer_and_saves_it(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window(engine_factory=scripted_engines(delay_seconds=0.3))
    index(qtbot, window, pdf_only(tmp_path))
    window.chat.ask(QUESTION)
    job = window.chat.job
    assert job is not None
    with qtbot.waitSignal(job.tokens, timeout=WAIT_MS):
        pass
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(window.chat_view.stop_button, Qt.MouseButton.LeftButton)
    answer = finished.args[0]
    assert answer.cancelled and answer.text and "[9]" not in answer.text
    assert STOPPED in window.chat_view.transcript.toPlainText()
    assert window.chat_view.send_button.isEnabled()
    saved = window.chat.store.load(window.chat.conversation_id or 0)
    assert saved.turns[0].answer.cancelled


def test_escape_stops_the_answer(qtbot: QtBot, make_window: MakeWindow, tmp_path: Path) -> None:
    window = make_window(engine_factory=scripted_engines(delay_seconds=0.3))
    index(qtbot, window, pdf_only(tmp_path))
    window.chat.ask(QUESTION)
    assert window.chat.job is not None
    with qtbot.waitSignal(window.chat.job.tokens, timeout=WAIT_MS):
        pass
    window.activateWindow()
    window.chat_view.question_box.setFocus()
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as finished:
        qtbot.keyClick(window.chat_view.question_box, Qt.Key.Key_Escape)
    assert finished.args[0].cancelled


def test_closing_mid_answer_cancels_and_keeps_the_conversation(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path)
    window = make_window(settings, scripted_engines(delay_seconds=0.3))
    index(qtbot, window, pdf_only(tmp_path))
    window.chat.ask(QUESTION)
    assert window.chat.job is not None
    with qtbot.waitSignal(window.chat.job.tokens, timeout=WAIT_MS):
        pass
    window.close()
    assert window.host.runner.active() == []
    store = ConversationStore(settings.data_dir)
    [summary] = store.list()
    [turn] = store.load(summary.id).turns
    assert turn.question == QUESTION and turn.answer.cancelled and turn.answer.text
    store.close()


def test_a_follow_up_carries_the_earlier_turn(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    engines = scripted_engines()
    window = make_window(engine_factory=engines)
    index(qtbot, window, pdf_only(tmp_path))
    for question in (QUESTION, "And what does it cover?"):
        with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
            window.chat.ask(question)
    prompt = " ".join(m["content"] for m in engines.generators[-1].calls[-1])
    assert QUESTION in prompt
    conversation = window.chat.store.load(window.chat.conversation_id or 0)
    assert [t.question for t in conversation.turns] == [QUESTION, "And what does it cover?"]


def test_html_from_answers_and_documents_is_shown_as_text(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    reply = '<b>bold</b> <img src="http://127.0.0.1:9/x.png"> <a href="http://x">link</a> [1]'
    window = make_window(engine_factory=scripted_engines(reply))
    docs = tmp_path / "web"
    docs.mkdir()
    (docs / "page.txt").write_text(
        '<script>alert(1)</script> <img src="http://127.0.0.1:9/y.png"> warranty\n',
        encoding="utf-8",
    )
    index(qtbot, window, docs)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask("warranty")
    transcript = window.chat_view.transcript
    text = transcript.toPlainText()
    assert '<b>bold</b> <img src="http://127.0.0.1:9/x.png">' in text
    assert "<script>alert(1)</script>" in text
    html = transcript.document().toHtml()
    assert "<img" not in html and "<script" not in html
    links = {f.toCharFormat().anchorHref() for f in transcript.document().allFormats()}
    schemes = {link.split(":")[0] for link in links if link}
    assert {"cite", "source"} <= schemes <= {"cite", "source", "copy", "regenerate", "passages"}


def test_the_scope_limits_the_sources(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    docs = make_library(tmp_path / "docs")
    index(qtbot, window, docs)
    window.chat_view.set_scope(str(docs / "note1.txt"))
    assert window.chat_view.scope() == str(docs / "note1.txt")
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(window.chat_view.send_button, Qt.MouseButton.LeftButton)  # empty: no
        window.chat_view.question_box.setPlainText("kettle")
        qtbot.mouseClick(window.chat_view.send_button, Qt.MouseButton.LeftButton)
    answer = finished.args[0]
    assert answer.passages and {p.path for p in answer.passages} == {str(docs / "note1.txt")}


def test_conversations_are_listed_reopened_and_exported(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    index(qtbot, window, pdf_only(tmp_path))
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask(QUESTION)
    panel = window.conversations_panel
    assert panel.list.count() == 1 and QUESTION in panel.list.item(0).text()
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert window.chat_view.entries == [] and window.chat.conversation_id is None
    panel.list.setCurrentRow(0)
    emit(panel.open_requested, panel.selected_id())
    assert [e.question for e in window.chat_view.entries] == [QUESTION]
    assert "Sources" in window.chat_view.transcript.toPlainText()
    target = tmp_path / "export.md"
    window.chat.export(panel.selected_id() or 0, target)
    markdown = target.read_text(encoding="utf-8")
    assert f"## {QUESTION}" in markdown and "### Sources" in markdown and "manual.pdf" in markdown


def test_a_failed_answer_names_the_file_and_keeps_the_question(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    settings = tiny_settings(tmp_path, generator_model=tmp_path / "gone.gguf")
    window = make_window(settings, tiny_chat_engine)
    index(qtbot, window, pdf_only(tmp_path))
    with qtbot.waitSignal(window.errors.shown, timeout=WAIT_MS) as shown:
        window.chat.ask(QUESTION)
    assert "gone.gguf" in shown.args[0].message
    assert window.chat_view.question_box.toPlainText() == QUESTION
    assert QUESTION in window.chat_view.transcript.toPlainText()
    assert not window.chat_view.stop_button.isEnabled()


@pytest.mark.slow
def test_the_tiny_chat_model_streams_without_stalling_the_window(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path
) -> None:
    window = make_window(engine_factory=tiny_chat_engine)
    index(qtbot, window, pdf_only(tmp_path))
    qtbot.waitUntil(lambda: "ready" in window.status.model_state("generator"), timeout=WAIT_MS)
    meter = StallMeter()
    meter.start()
    window.chat.ask(QUESTION)
    assert window.chat.job is not None
    token_batches: list[str] = []
    window.chat.job.tokens.connect(token_batches.append)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS * 2) as finished:
        pass
    meter.stop()
    assert finished.args[0].text
    assert len(token_batches) >= 2  # streamed, not delivered at the end
    assert meter.longest < 0.1, f"the GUI stalled for {meter.longest * 1000:.0f} ms"


def test_the_scope_shows_beside_the_question_and_a_new_conversation_resets_it(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    emit(window.library_panel.scope_requested, str(docs))  # "Ask about this"
    view = window.chat_view
    assert view.scope() == str(docs)
    assert view.scope_chip.isVisible() and "docs" in view.scope_chip_label.text()
    qtbot.mouseClick(view.scope_clear_button, Qt.MouseButton.LeftButton)
    assert view.scope() is None and not view.scope_chip.isVisible()
    view.set_scope(str(docs))
    window.chat.new_conversation()
    assert view.scope() is None and not view.scope_chip.isVisible()


def test_deleting_a_conversation_asks_first(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = make_library(tmp_path / "docs")
    index(qtbot, window, docs)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS):
        window.chat.ask("kettle")
    conversation = window.chat.conversation_id
    assert conversation is not None
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: False)
    emit(window.conversations_panel.delete_requested, conversation)
    assert [c.id for c in window.chat.store.list()] == [conversation]
    monkeypatch.setattr(window.actions_, "confirm", lambda title, text: True)
    emit(window.conversations_panel.delete_requested, conversation)
    assert window.chat.store.list() == []


def test_a_crash_of_the_answer_model_keeps_the_window_and_retry_answers(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddinggemma_rag.core.answering.chat_process import ProcessChatModel
    from embeddinggemma_rag.core.engine import Engine, build_engine
    from embeddinggemma_rag.core.settings import Settings
    from embeddinggemma_rag.gui.errors import RETRY
    from tests.core.answering import chat_hooks

    def crashing_engine(settings: Settings) -> Engine:
        def generator(s: Settings) -> ProcessChatModel:
            assert s.generator_model is not None
            return ProcessChatModel(
                s.generator_model, s.context_tokens, 1, _setup_module=chat_hooks.__name__
            )

        engine = build_engine(settings, generator_factory=generator)
        engine.relevance_threshold = -1.0
        return engine

    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "segv:2")  # a native fault mid-answer
    window = make_window(engine_factory=crashing_engine)
    index(qtbot, window, pdf_only(tmp_path))
    with qtbot.waitSignal(window.errors.shown, timeout=WAIT_MS * 2) as shown:
        window.chat.ask(QUESTION)
    error = shown.args[0]
    assert "stopped unexpectedly" in error.message and "SIGSEGV" in error.message
    assert error.action == RETRY and RETRY in window.errors.actions
    assert window.isVisible() and QUESTION in window.chat_view.transcript.toPlainText()

    monkeypatch.setenv(chat_hooks.FAULT_VARIABLE, "")  # the next process is healthy
    with qtbot.waitSignal(window.chat.answer_finished, timeout=WAIT_MS * 2) as finished:
        window.errors.actions[RETRY]()
    assert finished.args[0].question == QUESTION and finished.args[0].grounded
    assert len(window.chat_view.entries) == 2  # the failed turn stays, the retry answered
