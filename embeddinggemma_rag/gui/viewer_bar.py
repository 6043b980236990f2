"""The viewer's bar: page N of M, previous and next page, zoom, and find in the document."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QApplication, QComboBox, QHBoxLayout, QLineEdit, QWidget

from embeddinggemma_rag.gui.signals import emit
from embeddinggemma_rag.gui.widgets import button, plain_label

FIT_WIDTH = 0.0  # the zoom combo's data for "Fit width"; other entries are factors
ZOOMS = [("Fit width", FIT_WIDTH)] + [(f"{p} %", p / 100) for p in (50, 75, 100, 125, 150, 200)]


class ViewerBar(QWidget):
    """Controls only: the viewer decides what they do for a PDF or a text."""

    page_step = Signal(int)  # -1 previous, +1 next
    zoom_chosen = Signal(float)  # FIT_WIDTH or a factor
    find_requested = Signal(str, bool)  # text, backwards

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.previous_button = button("◀", lambda: emit(self.page_step, -1), "Previous page")
        self.previous_button.setToolTip("Previous page (Page Up)")
        self.next_button = button("▶", lambda: emit(self.page_step, 1), "Next page")
        self.next_button.setToolTip("Next page (Page Down)")
        for step in (self.previous_button, self.next_button):
            step.setMaximumWidth(step.fontMetrics().horizontalAdvance("◀") * 3 + 16)
        self.page_label = plain_label(name="Page", wrap=False)
        self.zoom = QComboBox()
        self.zoom.setAccessibleName("Zoom")
        for text, factor in ZOOMS:
            self.zoom.addItem(text, factor)
        self.zoom.activated.connect(lambda i: emit(self.zoom_chosen, float(self.zoom.itemData(i))))
        # Not `find`: that would hide QWidget.find, the widget lookup by window id.
        self.find_box = QLineEdit()
        self.find_box.setAccessibleName("Find in the document")
        self.find_box.setPlaceholderText("Find (Ctrl+F)")
        self.find_box.setToolTip(
            "Find in the document: Enter for the next match, Shift+Enter before"
        )
        self.find_box.setClearButtonEnabled(True)
        self.find_box.returnPressed.connect(self._on_find_return_pressed)
        self.find_box.setMinimumWidth(
            self.find_box.fontMetrics().horizontalAdvance("Find in the doc") + 24
        )
        self.find_state = plain_label(name="Find result", wrap=False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.previous_button)
        row.addWidget(self.page_label)
        row.addWidget(self.next_button)
        row.addWidget(self.zoom)
        row.addWidget(self.find_box, 1)
        row.addWidget(self.find_state)

    def set_pages(self, page: int | None, count: int | None) -> None:
        """1-based `page` of `count`; None for a text, which has no pages to step through."""
        paged = page is not None and count is not None
        for widget in (self.previous_button, self.next_button, self.page_label, self.zoom):
            widget.setVisible(paged)
        if page is not None and count is not None:
            self.page_label.setText(f"Page {page} of {count}")
            self.previous_button.setEnabled(page > 1)
            self.next_button.setEnabled(page < count)

    def _on_find_return_pressed(self) -> None:
        backwards = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        emit(self.find_requested, self.find_box.text(), backwards)
