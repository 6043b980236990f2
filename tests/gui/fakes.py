"""GUI test helpers: engines over the tiny models, sample documents, and event-loop timing."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from embeddinggemma_rag.core.engine import Engine, build_engine
from embeddinggemma_rag.core.records import SearchHit
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_CHAT_MODEL, TINY_EMBEDDING_MODEL
from tests.core.intake.parsing.pdf_factory import encrypt_pdf, make_pdf
from tests.stubs import CITING_REPLY, ScriptedGenerator

PDF_PAGES = [
    "Kettle manual\nRead these instructions before first use.",
    "Cleaning\nDescale the kettle every month with vinegar.",
    "Warranty\nThe warranty lasts three years from the date of purchase.\n"
    "It covers the heating element and the lid hinge.",
]


def tiny_settings(tmp_path: Path, **changes: object) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "library",
        embedding_model=TINY_EMBEDDING_MODEL,
        generator_model=TINY_CHAT_MODEL,
        threads=1,
        chunk_tokens=128,
        chunk_overlap_tokens=16,
    )
    return settings.replace(**changes)


def hit_at(
    path: str, page: int | None, text: str, start: int, end: int, score: float, ocr: bool = False
) -> SearchHit:
    """A passage as search returns it, to open in the viewer."""
    title = Path(path).name
    return SearchHit(1, path, title, page, page, score, text, start, end, ocr=ocr)


class ScriptedEngines:
    """An engine factory: real embedding, search and storage; a scripted chat model that
    cites [1] and [2] (and invents [9]). Keeps the generators it made, to read their prompts."""

    def __init__(self, reply: str | None = None, delay_seconds: float = 0.0) -> None:
        self.reply, self.delay_seconds = reply, delay_seconds
        self.generators: list[ScriptedGenerator] = []

    def __call__(self, settings: Settings) -> Engine:
        engine = build_engine(settings, generator_factory=self._generator)
        engine.relevance_threshold = -1.0  # random weights: cosines mean nothing
        return engine

    def _generator(self, _: Settings) -> ScriptedGenerator:
        generator = ScriptedGenerator(self.reply or CITING_REPLY, delay_seconds=self.delay_seconds)
        self.generators.append(generator)
        return generator


def scripted_engines(reply: str | None = None, delay_seconds: float = 0.0) -> ScriptedEngines:
    return ScriptedEngines(reply, delay_seconds)


def tiny_chat_engine(settings: Settings) -> Engine:
    """Everything real, the tiny GGUF included: it writes nonsense, but really streams."""
    engine = build_engine(settings)
    engine.relevance_threshold = -1.0
    return engine


def make_library(folder: Path, text_files: int = 3) -> Path:
    """A folder with a three-page PDF, some text files, a password-protected PDF and an
    unsupported file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manual.pdf").write_bytes(make_pdf(PDF_PAGES, title="Kettle manual"))
    for i in range(text_files):
        (folder / f"note{i}.txt").write_text(
            f"Note {i}. The kettle boils water in {i + 2} minutes. "
            "Limescale builds up where the water is hard.\n" * 3,
            encoding="utf-8",
        )
    (folder / "locked.pdf").write_bytes(encrypt_pdf(make_pdf(["secret"]), "pw", "owner", "AES-128"))
    (folder / "picture.xyz").write_bytes(b"\x00\x01")
    return folder


def make_big_library(folder: Path, files: int = 30, pairs: int = 40) -> Path:
    """Files of about 10 tokens per pair: 30 x 40 pairs take a few seconds on the tiny model."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        words = " ".join(f"word{(i * 7 + j) % 997} kettle{j % 13}" for j in range(pairs))
        (folder / f"long{i:03}.txt").write_text(words, encoding="utf-8")
    return folder


class StallMeter(QObject):
    """A 10 ms timer that records the longest gap between its ticks: the GUI's worst stall."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 0.0
        self.ticks = 0
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now
        self.ticks += 1
