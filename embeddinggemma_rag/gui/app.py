"""Starting the desktop app: the Qt application, the window, and errors before it exists.

Nothing heavy is imported at the top: a parser child process (spawned, not forked) imports
the entry script again, and it should not pay for Qt; and the window should be up before
onnxruntime and FAISS have been imported (that happens on a worker thread).
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embeddinggemma_rag.core.records import Settings
    from embeddinggemma_rag.gui.engine_host import EngineFactory


def run_app(settings: Settings, engine_factory: EngineFactory | None = None) -> int:
    """Show the window and run until it is closed; the exit status of the event loop."""
    if not qt_can_start():
        return 1
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from embeddinggemma_rag import APP_NAME
    from embeddinggemma_rag.gui.main_window import MainWindow
    from embeddinggemma_rag.gui.palette import follow_color_scheme

    if QApplication.instance() is None:
        # Fractional screen scales (125 %, 150 %) as they are, not rounded to 1 or 2.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    follow_color_scheme(app)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("embeddinggemma-rag")
    window = MainWindow(settings, engine_factory) if engine_factory else MainWindow(settings)
    _route_uncaught_exceptions(window)
    # Ctrl+C or a TERM in the terminal closes the window like the user would (cancel, wait,
    # save). Python handles signals only when it runs, so a timer lets it in now and then.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    window.show()
    QTimer.singleShot(0, window.start)  # first paint, then the model check
    return int(app.exec())


def _route_uncaught_exceptions(window: object) -> None:
    """An exception escaping a slot reaches the user like any other error, not stderr alone."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: object) -> None:
        previous(kind, exc, tb)  # type: ignore[arg-type]
        window.errors.report(exc, "finish that")  # type: ignore[attr-defined]

    sys.excepthook = hook


def main() -> int:
    """Entry point of the `embeddinggemma-rag-gui` script."""
    import multiprocessing

    multiprocessing.freeze_support()  # a frozen app's parser child starts here
    from embeddinggemma_rag.core.engine import load_settings
    from embeddinggemma_rag.core.records import RagError

    try:
        settings = load_settings()
    except RagError as error:
        _show_startup_error(error.message)
        return 1
    return run_app(settings)


def qt_can_start() -> bool:
    """Say in one line what to install, instead of letting Qt abort, when it cannot start."""
    from embeddinggemma_rag.gui.platform_check import xcb_problem

    problem = xcb_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
    return problem is None


def _show_startup_error(message: str) -> None:
    if not qt_can_start():
        print(message, file=sys.stderr)
        return
    from PySide6.QtWidgets import QApplication, QMessageBox

    from embeddinggemma_rag import APP_NAME

    _app = QApplication.instance() or QApplication(sys.argv)
    box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, message)
    box.setTextFormat(box.textFormat().PlainText)
    box.exec()


if __name__ == "__main__":
    sys.exit(main())
