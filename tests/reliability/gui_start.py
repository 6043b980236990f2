"""Start the desktop app as `embeddinggemma-rag gui` does, offscreen, and close its window
once it has finished starting (models loaded, folders synced) or after a deadline.

Prints what the user would have seen, one line each: `STATE <model> <state>`, `SHOWN <title>:
<message>` for every error shown, `INGESTED`, then `EXIT <code>`. Settings come from the
environment (EMBEDDINGGEMMA_RAG_DATA_DIR, ..._EMBEDDING_MODEL, ..._GENERATOR_MODEL).
Heavy imports stay inside main(): the parser process re-imports this script (spawn).
"""

from __future__ import annotations

import multiprocessing
import sys


def main(deadline_seconds: float) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from embeddinggemma_rag.core.settings import load_settings
    from embeddinggemma_rag.gui import app as gui_app
    from embeddinggemma_rag.gui import errors, main_window
    from embeddinggemma_rag.gui.engine_host import EMBEDDING, GENERATOR

    qt = QApplication(sys.argv[:1])
    states: dict[str, str] = {}
    ingested: list[bool] = []
    windows: list[main_window.MainWindow] = []

    def say(line: str) -> None:
        print(" ".join(line.split()), flush=True)

    def finished_starting() -> bool:
        embedding = states.get(EMBEDDING, "")
        if embedding.startswith("not loaded"):
            return True
        generator = states.get(GENERATOR, "")
        return (
            embedding == "ready"
            and bool(ingested)
            and (generator == "ready" or generator.startswith("not loaded"))
        )

    def close_all() -> None:
        for window in windows:
            window.close()

    def on_state(kind: str, state: str) -> None:
        states[kind] = state
        say(f"STATE {kind} {state}")
        if finished_starting():
            QTimer.singleShot(300, close_all)

    def on_ingested(report: object) -> None:
        ingested.append(True)
        say(f"INGESTED {'failed' if report is None else 'ok'}")
        if finished_starting():
            QTimer.singleShot(300, close_all)

    show = errors.ErrorReporter.show

    def record(self: errors.ErrorReporter, error: errors.ShownError) -> None:
        say(f"SHOWN {error.title}: {error.message}")
        show(self, error)

    errors.ErrorReporter.show = record  # type: ignore[method-assign]
    start = main_window.MainWindow.start

    def start_and_watch(self: main_window.MainWindow) -> None:
        windows.append(self)
        self.host.model_state_changed.connect(on_state)
        self.host.ingest_finished.connect(on_ingested)
        start(self)

    main_window.MainWindow.start = start_and_watch  # type: ignore[method-assign]

    def give_up() -> None:
        say("DEADLINE")
        close_all()

    QTimer.singleShot(int(deadline_seconds * 1000), give_up)
    code = gui_app.run_app(load_settings())
    say(f"EXIT {code}")
    del qt
    return code


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0))
