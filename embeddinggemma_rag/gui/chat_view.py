"""The conversation: question and answer bubbles, streamed text, clickable citations and sources."""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, Qt, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import Answer
from embeddinggemma_rag.gui.question_box import QuestionBox
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.text_views import SafeTextBrowser
from embeddinggemma_rag.gui.transcript import ChatEntry, insert_entry
from embeddinggemma_rag.gui.widgets import button, plain_label


class ChatView(QWidget):
    """Shows `entries`; asking, stopping and opening sources are signals for the controller."""

    ask_requested = Signal(str, object)  # question, scope path or None
    regenerate_requested = Signal(str, object)  # an earlier question and its scope, again
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
        self.scope_combo.currentIndexChanged.connect(self._on_scope_combo_current_index_changed)
        scope_label = QLabel("&Ask about:")
        scope_label.setBuddy(self.scope_combo)
        # Beside the question box: a narrowed question never goes out unnoticed.
        self.scope_chip = QFrame()
        self.scope_chip.setFrameShape(QFrame.Shape.StyledPanel)
        self.scope_chip.setAccessibleName("Question scope")
        self.scope_chip_label = plain_label(name="Question scope", wrap=False)
        self.scope_clear_button = button(
            "✕", self.clear_scope, "Ask about the whole library", "Ask about the whole library"
        )
        self.scope_clear_button.setFlat(True)
        chip_row = QHBoxLayout(self.scope_chip)
        chip_row.setContentsMargins(6, 0, 0, 0)
        chip_row.addWidget(self.scope_chip_label, 1)
        chip_row.addWidget(self.scope_clear_button)
        self.scope_chip.hide()
        self.transcript = SafeTextBrowser()
        self.transcript.setAccessibleName("Conversation")
        self.transcript.anchorClicked.connect(self._on_transcript_anchor_clicked)
        self.question_box = QuestionBox()
        self.question_box.submitted.connect(self._on_question_box_submitted)
        self.send_button = button("Send", self._on_send_button_clicked, "Send question")
        self.stop_button = button("Stop", self.stop_requested, "Stop answer", "Stop (Esc)")
        self.stop_button.setEnabled(False)
        self.find_box = QLineEdit()
        self.find_box.setAccessibleName("Find in the conversation")
        self.find_box.setPlaceholderText("Find in the conversation (Ctrl+F)")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self._on_find_box_return_pressed)
        header = QHBoxLayout()
        header.addWidget(scope_label)
        header.addWidget(self.scope_combo)
        header.addStretch(1)
        header.addWidget(self.find_box)
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
        layout.addWidget(self.scope_chip)
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

    def clear_scope(self) -> None:
        self.scope_combo.setCurrentIndex(0)

    def _on_scope_combo_current_index_changed(self, _index: int) -> None:
        path = self.scope()
        self.scope_chip.setVisible(path is not None)
        if path is not None:
            name = os.path.basename(path.rstrip(os.sep)) or path
            self.scope_chip_label.setText(f"Asking only about: {name}")
            self.scope_chip.setToolTip(path)

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
        for index, entry in enumerate(self.entries):  # only the last one can be streaming
            self._stream, self._placeholder = insert_entry(cursor, index, entry, self.palette())
        if at_bottom:
            self._scroll_to_bottom()

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
        emit(self.ask_requested, text, self.scope())

    def _on_find_box_return_pressed(self) -> None:
        text = self.find_box.text()
        backwards = bool(QGuiApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        if text and not self.transcript.find(text, flags):
            cursor = self.transcript.textCursor()  # wrap around once
            cursor.movePosition(
                QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
            )
            self.transcript.setTextCursor(cursor)
            self.transcript.find(text, flags)

    def _on_send_button_clicked(self) -> None:
        text = self.question_box.toPlainText().strip()
        if text:
            self._on_question_box_submitted(text)

    def _on_transcript_anchor_clicked(self, url: QUrl) -> None:
        kind, _, rest = url.toString().partition(":")
        entry_text, _, item = rest.partition(":")
        if not entry_text.isdigit() or not item.isdigit() or int(entry_text) >= len(self.entries):
            return
        entry = self.entries[int(entry_text)]
        sources = entry.sources
        if kind == "copy" and entry.answer is not None:
            QGuiApplication.clipboard().setText(entry.answer.text)
        elif kind == "regenerate" and not self.busy:
            emit(self.regenerate_requested, entry.question, entry.scope)
        elif kind == "passages":
            entry.show_passages = not entry.show_passages
            self._render()
        elif kind == "passage" and int(item) < len(entry.passages):
            emit(self.source_activated, entry.passages[int(item)])
        elif kind == "source" and int(item) < len(sources):
            emit(self.source_activated, sources[int(item)])
        elif kind == "cite":
            for source in sources:
                if source.number == int(item):
                    emit(self.source_activated, source)
