"""Small widget makers, so every button is named for screen readers and every label is plain."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, SignalInstance
from PySide6.QtWidgets import QAbstractItemView, QAbstractScrollArea, QLabel, QPushButton


def button(
    text: str, slot: Callable[..., object] | SignalInstance, name: str = "", tip: str = ""
) -> QPushButton:
    """A push button; `name` is what a screen reader says (the text without its ellipsis)."""
    made = QPushButton(text)
    made.setAccessibleName(name or text.rstrip("…"))
    if tip:
        made.setToolTip(tip)
    made.clicked.connect(slot)
    return made


def plain_label(text: str = "", name: str = "", wrap: bool = True) -> QLabel:
    """A label that never reads its text as markup: it shows paths, reasons and titles."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if name:
        label.setAccessibleName(name)
    return label


def pass_drops_to_window(view: QAbstractScrollArea) -> None:
    """Files dropped on a text view go to the window, which adds them, instead of being
    typed into the view as paths."""
    view.setAcceptDrops(False)
    view.viewport().setAcceptDrops(False)


class _CurrentOnFocus(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, QAbstractItemView):
            model = watched.model()
            if not watched.currentIndex().isValid() and model is not None and model.rowCount():
                # Without a current row, a list that has the focus shows no sign of it.
                watched.setCurrentIndex(model.index(0, 0))
        return False


def show_focus(view: QAbstractItemView) -> None:
    """A list or tree that gets the keyboard focus marks a row, so the focus can be seen."""
    keeper = _CurrentOnFocus(view)
    view.installEventFilter(keeper)
