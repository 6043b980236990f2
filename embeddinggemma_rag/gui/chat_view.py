"""The conversation: question and answer bubbles, streamed text, clickable citations and sources."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QPalette, QTextCharFormat, QTextCursor, QTextFrameFormat
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.answer_types import Answer
from embeddinggemma_rag.gui.question_box import QuestionBox
from embeddinggemma_rag.gui.sources_view import SourceRef, insert_sources
from embeddinggemma_rag.gui.text_views import (
    SafeTextBrowser,
    blend,
    link_format,
    query_words,
    terms_pattern,
)
from embeddinggemma_rag.gui.widgets import button

# The forms the answering code accepts: [1], [1, 2], [1; 2] (and [1][2] as two groups).
SEARCHING = "Searching your documents…"
CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


@dataclass
class ChatEntry:
    """One question and its answer as shown; `answer` is None while it streams."""

    question: str
    scope: str | None = None
    answer: Answer | None = None
    partial: str = ""
    note: str = ""  # "Stopped", "Failed: …"
    sources: list[SourceRef] = field(default_factory=list)


class ChatView(QWidget):
    ask_requested = Signal(str, object)  # question, scope path or None
    stop_requested = Signal()
    source_activated = Signal(object)  # SourceRef

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ChatEntry] = []
        self._stream: QTextCursor | None = None
        self._placeholder: QTextCursor | None = None
        self.scope_combo = QComboBox()
        self.scope_combo.setAccessibleName("Ask about")
        self.scope_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.scope_combo.addItem("Whole library", None)
        scope_label = QLabel("&Ask about:")
        scope_label.setBuddy(self.scope_combo)
        self.transcript = SafeTextBrowser()
        self.transcript.setAccessibleName("Conversation")
        self.transcript.anchorClicked.connect(self._on_transcript_anchor_clicked)
        self.question_box = QuestionBox()
        self.question_box.submitted.connect(self._on_question_box_submitted)
        self.send_button = button("Send", self._on_send_button_clicked, "Send question")
        self.stop_button = button("Stop", self.stop_requested, "Stop answer", "Stop (Esc)")
        self.stop_button.setEnabled(False)
        header = QHBoxLayout()
        header.addWidget(scope_label)
        header.addWidget(self.scope_combo)
        header.addStretch(1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.question_box, 1)
        bottom.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(bottom)

    # Scope -----------------------------------------------------------------------------

    def set_scope_choices(self, sources: list[str]) -> None:
        current = self.scope()
        self.scope_combo.clear()
        self.scope_combo.addItem("Whole library", None)
        for source in sources:
            self._add_scope(source)
        self.set_scope(current)

    def set_scope(self, path: str | None) -> None:
        index = self.scope_combo.findData(path) if path else 0
        if index < 0:
            index = self._add_scope(path or "")
        self.scope_combo.setCurrentIndex(index)

    def scope(self) -> str | None:
        data = self.scope_combo.currentData()
        return str(data) if data else None

    def _add_scope(self, path: str) -> int:
        self.scope_combo.addItem(os.path.basename(path.rstrip(os.sep)) or path, path)
        index = self.scope_combo.count() - 1
        self.scope_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    # Conversation ----------------------------------------------------------------------

    def show_entries(self, entries: list[ChatEntry]) -> None:
        self.entries = entries
        self._stream = None
        self._render()

    def begin_answer(self, question: str, scope: str | None) -> None:
        self.entries.append(ChatEntry(question, scope))
        self._render()
        self.set_busy(True)

    def append_tokens(self, text: str) -> None:
        if self._stream is None or not self.entries:
            return
        self.entries[-1].partial += text
        at_bottom = self._at_bottom()
        if self._placeholder is not None:
            self._placeholder.removeSelectedText()
            self._placeholder = None
        self._stream.insertText(text, QTextCharFormat())
        if at_bottom:
            self._scroll_to_bottom()

    def finish_answer(self, answer: Answer | None, note: str = "") -> None:
        """End the streaming entry with its answer, or keep the partial text with a note."""
        entry = self.entries[-1]
        entry.answer, entry.note = answer, note
        self.set_busy(False)
        self._render()

    def set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        if not busy:
            self._stream = None

    @property
    def busy(self) -> bool:
        return self.stop_button.isEnabled()

    # Rendering -------------------------------------------------------------------------

    def _render(self) -> None:
        at_bottom = self._at_bottom()
        self._stream = self._placeholder = None
        document = self.transcript.document()
        document.clear()
        cursor = QTextCursor(document)
        for index, entry in enumerate(self.entries):
            self._insert_entry(cursor, index, entry)
        if at_bottom:
            self._scroll_to_bottom()

    def _insert_entry(self, cursor: QTextCursor, index: int, entry: ChatEntry) -> None:
        palette = self.palette()
        plain, heading, dim = QTextCharFormat(), QTextCharFormat(), QTextCharFormat()
        heading.setFontWeight(700)
        dim.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
        cursor.insertFrame(self._bubble(user=True))
        cursor.insertText("You", heading)
        if entry.scope:
            cursor.insertText(f"  ·  about {os.path.basename(entry.scope)}", dim)
        cursor.insertBlock()
        cursor.insertText(entry.question, plain)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertFrame(self._bubble(user=False))
        cursor.insertText("Answer", heading)
        cursor.insertBlock()
        pattern = terms_pattern(query_words(entry.question))
        if entry.answer is None:
            cursor.insertText(entry.partial, plain)
            if entry.note:
                cursor.insertBlock()
                cursor.insertText(entry.note, dim)
            else:  # still streaming: tokens go here, after a note that goes with the first
                if not entry.partial:
                    start = cursor.position()
                    cursor.insertText(SEARCHING, dim)
                    self._placeholder = QTextCursor(cursor)
                    self._placeholder.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
                self._stream = QTextCursor(cursor)
        else:
            self._insert_answer_text(cursor, index, entry.answer, plain, palette)
            if entry.note:
                cursor.insertBlock()
                cursor.insertText(entry.note, dim)
            href = f"source:{index}:"
            entry.sources = insert_sources(cursor, entry.answer, href, palette, pattern)
        cursor.movePosition(QTextCursor.MoveOperation.End)

    def _insert_answer_text(
        self,
        cursor: QTextCursor,
        index: int,
        answer: Answer,
        plain: QTextCharFormat,
        palette: QPalette,
    ) -> None:
        cited = {c.number for c in answer.citations}
        position = 0
        for match in CITATION.finditer(answer.text):
            cursor.insertText(answer.text[position : match.start()], plain)
            cursor.insertText("[", plain)
            for part in re.split(r"(\s*[,;]\s*)", match.group(1)):
                if part.isdigit() and int(part) in cited:
                    cursor.insertText(part, link_format(palette, f"cite:{index}:{part}", plain))
                else:
                    cursor.insertText(part, plain)
            cursor.insertText("]", plain)
            position = match.end()
        cursor.insertText(answer.text[position:], plain)

    def _bubble(self, user: bool) -> QTextFrameFormat:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        tint = palette.color(QPalette.ColorRole.Highlight if user else QPalette.ColorRole.Text)
        fmt = QTextFrameFormat()
        fmt.setBackground(blend(base, tint, 0.16 if user else 0.05))
        fmt.setBorder(1)
        fmt.setBorderBrush(palette.color(QPalette.ColorRole.Mid))
        fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        fmt.setPadding(10)
        fmt.setTopMargin(6)
        fmt.setBottomMargin(6)
        if user:
            fmt.setLeftMargin(80)  # the asker's bubbles sit to the right
        else:
            fmt.setRightMargin(40)
        return fmt

    def _at_bottom(self) -> bool:
        bar = self.transcript.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _scroll_to_bottom(self) -> None:
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._stream is None:
            self._render()  # bubble tints come from the palette: follow a light/dark switch

    # Slots -----------------------------------------------------------------------------

    def _on_question_box_submitted(self, text: str) -> None:
        if self.busy:
            return  # one answer at a time; the text stays in the box
        self.question_box.clear()
        self.ask_requested.emit(text, self.scope())

    def _on_send_button_clicked(self) -> None:
        text = self.question_box.toPlainText().strip()
        if text:
            self._on_question_box_submitted(text)

    def _on_transcript_anchor_clicked(self, url: QUrl) -> None:
        kind, _, rest = url.toString().partition(":")
        entry_text, _, item = rest.partition(":")
        if not entry_text.isdigit() or not item.isdigit() or int(entry_text) >= len(self.entries):
            return
        sources = self.entries[int(entry_text)].sources
        if kind == "source" and int(item) < len(sources):
            self.source_activated.emit(sources[int(item)])
        elif kind == "cite":
            for source in sources:
                if source.number == int(item):
                    self.source_activated.emit(source)
