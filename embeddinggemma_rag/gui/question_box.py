"""The question box: Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import pass_drops_to_window


class QuestionBox(QPlainTextEdit):
    submitted = Signal(str)
    HINT = "Ask about your documents (Enter sends, Shift+Enter: new line)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(self.HINT)
        self.setAccessibleName("Question")
        self.setTabChangesFocus(True)
        pass_drops_to_window(self)
        lines = 3
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if not enter:
            super().keyPressEvent(event)
        elif event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.insertPlainText("\n")  # a real newline, not Qt's line separator U+2028
        elif text := self.toPlainText().strip():
            emit(self.submitted, text)
