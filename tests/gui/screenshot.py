"""Drive the real window with the tiny models and save screenshots; run it under Xvfb.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/gui/screenshot.py /tmp/screens

Indexes a folder, asks a question, opens the cited PDF page, and saves PNGs of each step (the
whole screen, so dialogs are in them too). `--scripted` answers with a scripted chat model that
cites its passages (the tiny GGUF writes random text and cites nothing); `--dark` uses a dark
palette. Nothing here touches the user's settings: every folder is a temporary one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How long does the warranty last, and what does it cover?"
MANUAL = [
    "Kettle KX-200 user manual\nRead all of these instructions before the first use.\n"
    "Keep this manual for later reference.",
    "Filling and boiling\nFill the kettle to between the MIN and MAX marks.\n"
    "Press the switch: the light turns on and the kettle boils in about three minutes.",
    "Cleaning\nDescale the kettle every month with white vinegar or citric acid.\n"
    "Never put the kettle in a dishwasher.",
    "Warranty\nThe warranty lasts three years from the date of purchase.\n"
    "It covers the heating element and the lid hinge, but not limescale damage.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("/tmp/screens"))
    parser.add_argument("--scripted", action="store_true", help="a chat model that cites")
    parser.add_argument("--dark", action="store_true", help="a dark palette")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="screens-"))
    for name in ("CONFIG", "MODELS", "DATA"):
        os.environ[f"EMBEDDINGGEMMA_RAG_{name}_DIR"] = str(work / name.lower())
    os.environ["HF_HUB_OFFLINE"] = "1"
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("-scripted" if args.scripted else "") + ("-dark" if args.dark else "")
    return Driver(work, args.out, suffix, args.scripted, args.dark).run()


class Driver:
    def __init__(self, work: Path, out: Path, suffix: str, scripted: bool, dark: bool) -> None:
        from PySide6.QtWidgets import QApplication

        self.work, self.out, self.suffix = work, out, suffix
        self.app = QApplication([])
        if dark:
            self.app.setStyle("Fusion")
            self.app.setPalette(dark_palette())
        self.scripted = scripted
        self.saved: list[Path] = []

    def run(self) -> int:
        from embeddinggemma_rag.gui.main_window import MainWindow
        from tests.gui.fakes import scripted_engines, tiny_chat_engine, tiny_settings

        library = make_documents(self.work / "Kettle documents")
        factory = scripted_engines(delay_seconds=0.02) if self.scripted else tiny_chat_engine
        started = time.perf_counter()
        window = MainWindow(tiny_settings(self.work), factory)
        window.show()  # sized by the app to the screen, as at a first start
        window.start()
        self.wait(lambda: window.isVisible() and window.windowHandle().isExposed(), "window")
        print(f"window shown {time.perf_counter() - started:.2f} s after it was created")
        self.wait(lambda: "ready" in window.status.model_state("embedding"), "embedding model")
        self.wait(lambda: window.host.ingest_job is None, "start-up rescan")

        window.add_paths([library])
        self.wait(lambda: window.host.ingest_job is not None, "indexing to start")
        self.wait(lambda: window.host.ingest_job is None, "indexing", 120)
        self.settle()
        self.shoot(window, "01-library-indexed")

        self.wait(lambda: "ready" in window.status.model_state("generator"), "chat model")
        answers: list[object] = []
        window.chat.answer_finished.connect(answers.append)
        window.chat_view.question_box.setPlainText(QUESTION)
        window.chat_view.send_button.click()
        self.wait(lambda: bool(window.chat_view.entries[-1].partial.strip()), "the first words")
        self.settle(150)
        self.shoot(window, "02-answer-streaming")
        self.wait(lambda: bool(answers), "the answer", 120)
        self.settle()
        self.shoot(window, "03-answer-with-sources")

        sources = window.chat_view.entries[-1].sources
        pdf = next((s for s in sources if s.hit.path.endswith(".pdf")), None)
        if pdf is None:
            print("no PDF among the sources; the viewer screenshot is skipped", file=sys.stderr)
        else:
            window.open_source(pdf)
            self.wait(lambda: window.viewer.pdf_view.currentSearchResultIndex() >= 0, "highlight")
            self.settle(800)
            self.shoot(window, "04-pdf-viewer-at-cited-page")
        window.actions_.open_settings()
        self.settle()
        self.shoot(window, "06-settings")
        if window.actions_.settings_dialog is not None:
            window.actions_.settings_dialog.reject()
        window.close()
        self.setup_screen()
        for path in self.saved:
            print(path)
        return 0

    def setup_screen(self) -> None:
        from embeddinggemma_rag.gui.main_window import MainWindow
        from tests.gui.fakes import tiny_settings

        bare = tiny_settings(self.work / "empty", embedding_model=None, generator_model=None)
        window = MainWindow(bare)
        window.show()
        window.start()
        self.wait(lambda: window.actions_.setup_dialog is not None, "the setup screen")
        dialog = window.actions_.setup_dialog
        assert dialog is not None
        self.wait(lambda: bool(dialog.statuses), "the model check")
        self.settle()
        self.shoot(window, "05-setup-models-missing")
        dialog.reject()  # "Not now": the window says what is missing, and a question too
        window.chat_view.question_box.setPlainText("What does the warranty cover?")
        window.chat_view.send_button.click()
        self.settle()
        self.shoot(window, "07-no-models-question")
        window.close()

    def wait(self, ready: Callable[[], bool], what: str, seconds: float = 60) -> None:
        from PySide6.QtCore import QEventLoop

        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"gave up waiting for {what}")
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.01)

    def settle(self, milliseconds: int = 400) -> None:
        end = time.monotonic() + milliseconds / 1000
        self.wait(lambda: time.monotonic() > end, "paint")

    def shoot(self, window: object, name: str) -> None:
        """The screen as the X server shows it (dialogs included), or the window offscreen."""
        from PySide6.QtGui import QGuiApplication

        screen = QGuiApplication.primaryScreen()
        image = screen.grabWindow(0) if screen is not None else None
        if image is None or image.isNull() or QGuiApplication.platformName() == "offscreen":
            image = window.grab()  # type: ignore[attr-defined]
        path = self.out / f"{name}{self.suffix}.png"
        image.save(str(path))
        self.saved.append(path)


def make_documents(folder: Path) -> Path:
    from tests.core.intake.parsing.pdf_factory import encrypt_pdf, make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kettle-manual.pdf").write_bytes(make_pdf(MANUAL, title="Kettle KX-200 manual"))
    (folder / "receipt.txt").write_text(
        "Receipt 2024-03-14\nKettle KX-200, 49.90 EUR\nKeep this receipt: the warranty needs it.\n",
        encoding="utf-8",
    )
    notes = folder / "notes"
    notes.mkdir(exist_ok=True)
    (notes / "descaling.md").write_text(
        "# Descaling\n\nHard water leaves limescale. Once a month, boil a mix of water and "
        "vinegar, leave it for an hour, then rinse twice.\n",
        encoding="utf-8",
    )
    (notes / "scan.pdf").write_bytes(make_pdf([""]))  # a scan without a text layer
    (folder / "contract.pdf").write_bytes(
        encrypt_pdf(make_pdf(["Private"]), "secret", "owner", "AES-128")
    )
    (folder / "photo.heic").write_bytes(b"\x00" * 64)
    return folder


def dark_palette() -> object:
    from embeddinggemma_rag.gui.palette import dark_palette as product_palette

    return product_palette()


if __name__ == "__main__":
    sys.exit(main())
