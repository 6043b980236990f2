"""Saved conversations: the list, and new, export and delete."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QTextLayout
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from embeddinggemma_rag.core.records import ConversationSummary
from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import button

ID_ROLE = Qt.ItemDataRole.UserRole


def when(timestamp: float) -> str:
    today = time.strftime("%Y-%m-%d")
    day = time.strftime("%Y-%m-%d", time.localtime(timestamp))
    return time.strftime("%H:%M" if day == today else "%d %b %Y", time.localtime(timestamp))


class ConversationsPanel(QWidget):
    new_clicked = Signal()
    open_requested = Signal(int)
    export_requested = Signal(int)
    delete_requested = Signal(int)
    rename_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setAccessibleName("Saved conversations")
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.list.itemClicked.connect(self._on_list_item_activated)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.new_button = button("New", self.new_clicked, "New conversation", "Ctrl+N")
        self.export_button = button(
            "Export…", self._on_export_button_clicked, "Export conversation to Markdown"
        )
        self.delete_button = button("Delete", self._on_delete_button_clicked, "Delete conversation")
        self.rename_button = button(
            "Rename…", self._on_rename_button_clicked, "Rename conversation"
        )
        self.search = QLineEdit()
        self.search.setAccessibleName("Search conversations")
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_search)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        self._on_list_current_item_changed()

    def set_conversations(
        self, conversations: Sequence[ConversationSummary], current: int | None
    ) -> None:
        self.list.blockSignals(True)  # rebuilding is not the user choosing one
        self.list.clear()
        for summary in conversations:
            questions = f"{summary.turn_count} question{'' if summary.turn_count == 1 else 's'}"
            item = QListWidgetItem(f"{summary.title}\n{when(summary.updated_at)} · {questions}")
            item.setSizeHint(self._row_size(item.text()))
            item.setData(ID_ROLE, summary.id)
            item.setToolTip(summary.title)
            self.list.addItem(item)
            if summary.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._apply_search()
        self._on_list_current_item_changed()

    def _row_size(self, text: str) -> QSize:
        """Room for every line as drawn. The list sizes a row by its font's line height, but
        a Chinese or Thai title is drawn in a taller fallback font: the row then lost its
        second line (the time and count) and cut the title with "…" (seen in the window)."""
        font = self.list.font()
        lines = text.split("\n")
        height = sum(_line_height(line, font) for line in lines)
        margin = self.list.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameVMargin)
        width = max(QFontMetrics(font).horizontalAdvance(line) for line in lines)
        return QSize(width + 4 * margin, math.ceil(height) + 2 * margin + 2)

    def _apply_search(self) -> None:
        words = self.search.text().casefold().split()
        for row in range(self.list.count()):
            item = self.list.item(row)
            title = str(item.toolTip()).casefold()
            item.setHidden(not all(word in title for word in words))

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return int(item.data(ID_ROLE)) if item is not None else None

    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        emit(self.open_requested, int(item.data(ID_ROLE)))

    def _on_list_current_item_changed(self, *_: object) -> None:
        chosen = self.selected_id() is not None
        self.export_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)
        self.rename_button.setEnabled(chosen)

    def _on_rename_button_clicked(self) -> None:
        if (conversation_id := self.selected_id()) is not None:
            emit(self.rename_requested, conversation_id)

    def _on_export_button_clicked(self) -> None:
        if (conversation_id := self.selected_id()) is not None:
            emit(self.export_requested, conversation_id)

    def _on_delete_button_clicked(self) -> None:
        if (conversation_id := self.selected_id()) is not None:
            emit(self.delete_requested, conversation_id)


def _line_height(line: str, font: QFont) -> float:
    """A line's height as laid out, with the fallback fonts its characters are drawn in."""
    layout = QTextLayout(line, font)
    layout.beginLayout()
    text_line = layout.createLine()
    text_line.setLineWidth(1_000_000)
    layout.endLayout()
    return float(text_line.height())
