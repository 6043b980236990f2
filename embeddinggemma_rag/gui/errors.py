"""The one place where an exception becomes something the user sees."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from embeddinggemma_rag.core.records import AnswerModelCrashed, Cancelled, ModelError, RagError
from embeddinggemma_rag.gui.signals import emit

STATUS_SECONDS = 6
OPEN_MODELS = "Open Models…"  # the setup screen: download models or choose their files
RETRY = "Retry"  # ask the last question again (the answer model's process is started anew)


@dataclass(frozen=True)
class ShownError:
    """What the user was told: a title, the message (file and reason), details if any, and
    the window action that fixes it (a button in the message box)."""

    title: str
    message: str
    details: str = ""
    action: str = ""


def describe(exc: BaseException, doing: str) -> ShownError:
    """Turn an exception into words; a `RagError` already names the file and the reason."""
    title = f"Could not {doing}" if doing else "Something went wrong"
    if isinstance(exc, AnswerModelCrashed):
        # Not a file to replace: the model's process died (a native fault, memory). The
        # window and the conversation are intact, and the next question starts it anew.
        return ShownError(
            title,
            f"{exc.reason[:1].upper()}{exc.reason[1:]}. The conversation is kept; Retry asks "
            "the question again.",
            action=RETRY,
        )
    if isinstance(exc, ModelError):
        # The core's hint names terminal commands; in the window the setup screen does both.
        return ShownError(
            title,
            f"{exc.path}: {exc.reason}. Use {OPEN_MODELS} (File menu) to download the "
            "models or choose other files.",
            action=OPEN_MODELS,
        )
    if isinstance(exc, RagError):
        return ShownError(title, exc.message)
    if isinstance(exc, OSError) and exc.filename:
        return ShownError(title, f"{exc.filename}: {exc.strerror or exc}")
    details = "".join(traceback.format_exception(exc))
    return ShownError(title, f"Unexpected error: {type(exc).__name__}: {exc}", details)


class ErrorReporter(QObject):
    """Shows errors in a non-blocking message box and the status bar, and keeps a record.

    Message boxes are window-modal but opened with `open()`, never `exec()`, so a job that
    fails while the user types loses nothing and the event loop keeps running. `Cancelled`
    is never an error: it only leaves a short note in the status bar.
    """

    shown = Signal(object)  # ShownError; tests listen here instead of reading dialogs

    def __init__(self, window: QWidget, status_bar: QStatusBar | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._status_bar = status_bar
        self.history: list[ShownError] = []
        self.dialogs_enabled = True
        self._box: QMessageBox | None = None
        self.actions: dict[str, Callable[[], object]] = {}  # ShownError.action -> what it does

    def report(self, exc: BaseException, doing: str = "") -> None:
        if isinstance(exc, Cancelled):
            self.note("Cancelled")
            return
        self.show(describe(exc, doing))

    def show(self, error: ShownError) -> None:
        self.history.append(error)
        self.note(f"{error.title}: {error.message}")
        emit(self.shown, error)
        if self.dialogs_enabled:
            self._open_box(error)

    def note(self, text: str) -> None:
        if self._status_bar is not None:
            self._status_bar.showMessage(" ".join(text.split()), STATUS_SECONDS * 1000)

    def _open_box(self, error: ShownError) -> None:
        # Plain text only, and no informative text: Qt shows that as rich text with external
        # links enabled, and messages quote file names and document text.
        if self._box is not None and self._box.isVisible():
            # One box at a time: a burst of failures appends instead of stacking windows.
            self._box.setText(f"{self._box.text()}\n\n{error.message}")
            return
        box = QMessageBox(self._window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(error.title)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"{error.title}.\n\n{error.message}")
        if error.details:
            box.setDetailedText(error.details)
        do = self.actions.get(error.action)
        if do is not None:
            action = box.addButton(error.action, QMessageBox.ButtonRole.ActionRole)
            action.clicked.connect(do)
            box.addButton(QMessageBox.StandardButton.Close)
        box.setAccessibleName("Error")
        self._box = box
        box.open()
