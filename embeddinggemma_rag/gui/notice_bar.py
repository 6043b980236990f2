"""A strip that says what is missing and offers the one action that fixes it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QWidget

from embeddinggemma_rag.gui.widgets import button, plain_label


class NoticeBar(QFrame):
    """Hidden until `show_notice`; its button emits `action_clicked`."""

    action_clicked = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(name)
        self.label = plain_label(name=name)
        self.action_button = button("", self.action_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.action_button)
        self.hide()

    def show_notice(self, text: str, action: str) -> None:
        self.label.setText(text)
        self.action_button.setText(action)
        self.action_button.setAccessibleName(action.rstrip("…"))
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()
