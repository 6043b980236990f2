"""Small widget makers, so every button is named for screen readers and every label is plain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QPushButton


def button(text: str, slot: Callable[..., Any] | Any, name: str = "", tip: str = "") -> QPushButton:
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
