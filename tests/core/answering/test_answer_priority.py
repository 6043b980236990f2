"""Answers before indexing: an ingest steps aside at its next batch while an answer runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from embeddinggemma_rag.core.answering.answer_priority import AnswerPriority
from embeddinggemma_rag.core.cancel import CancelToken
from embeddinggemma_rag.core.engine import build_engine
from embeddinggemma_rag.core.intake.ingestion import IngestProgress
from embeddinggemma_rag.core.settings import Settings
from tests.conftest import TINY_EMBEDDING_MODEL
from tests.core.intake.test_ingest_kill import make_corpus
from tests.stubs import Message, ScriptedGenerator


def test_without_an_answer_an_ingest_does_not_wait() -> None:
    priority = AnswerPriority()
    assert not priority.answer_running
    assert priority.wait_for_answers(CancelToken()) == 0.0
    assert not priority.wait_for_ingest_to_step_aside(0.01)


def test_an_ingest_waits_until_the_answer_ends() -> None:
    priority = AnswerPriority()
    waited: list[float] = []
    with priority.answering():
        ingest = threading.Thread(
            target=lambda: waited.append(priority.wait_for_answers(CancelToken()))
        )
        ingest.start()
        assert priority.wait_for_ingest_to_step_aside(5.0)
        time.sleep(0.2)
        assert ingest.is_alive()  # still waiting: the answer is running
    ingest.join(5.0)
    assert not ingest.is_alive()
    assert waited and waited[0] >= 0.2


def test_answers_back_to_back_still_let_the_ingest_go_on_between_them() -> None:
    """The next answer starts before the woken ingest runs (a script asking in a loop): the
    ingest must not wait out its time limit at every batch."""
    priority = AnswerPriority(max_wait_s=3.0)
    stop = threading.Event()

    def ask_in_a_loop() -> None:
        while not stop.is_set():
            with priority.answering():
                time.sleep(0.05)
            # no pause: the next answer starts at once

    asker = threading.Thread(target=ask_in_a_loop)
    asker.start()
    try:
        assert priority.wait_for_ingest_to_step_aside(0.0) is False
        waits = [priority.wait_for_answers(CancelToken()) for _ in range(5)]
    finally:
        stop.set()
        asker.join(5.0)
    # Each wait ends with the answer it met: five batches in about five answers' time, not
    # five time limits.
    assert sum(waits) < 2.5, waits


def test_a_cancel_or_the_time_limit_ends_the_wait() -> None:
    priority = AnswerPriority(max_wait_s=0.3)
    with priority.answering():
        started = time.monotonic()
        priority.wait_for_answers(CancelToken())  # a stuck answer: the ingest goes on
        assert 0.25 <= time.monotonic() - started < 3.0
        token = CancelToken()
        threading.Timer(0.1, token.cancel).start()
        patient = AnswerPriority(max_wait_s=60.0)
        with patient.answering():
            started = time.monotonic()
            patient.wait_for_answers(token)
            assert time.monotonic() - started < 3.0


class RecordingGenerator(ScriptedGenerator):
    """Notes how many chunks the ingest had embedded when the answer began and ended."""

    def __init__(self, chunks_done: list[int]) -> None:
        super().__init__(delay_seconds=0.02)
        self.chunks_done = chunks_done
        self.during: list[tuple[int, int]] = []

    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: CancelToken
    ) -> Iterator[str]:
        first = self.chunks_done[-1]
        yield from super().stream_chat(messages, max_tokens, temperature, cancel)
        self.during.append((first, self.chunks_done[-1]))


def test_an_answer_asked_during_an_ingest_runs_alone_on_every_thread(tmp_path: Path) -> None:
    folder = make_corpus(tmp_path / "corpus", files=120)
    chunks_done = [0]
    steps: list[str] = []
    embedded = threading.Event()

    def on_progress(progress: IngestProgress) -> None:
        chunks_done.append(progress.chunks_done)
        steps.append(progress.current_step)
        if progress.chunks_done:
            embedded.set()

    model = RecordingGenerator(chunks_done)
    settings = Settings(
        data_dir=tmp_path / "library", embedding_model=TINY_EMBEDDING_MODEL, threads=2
    )
    engine = build_engine(settings, generator_factory=lambda _: model)
    engine.relevance_threshold = -1.0  # random weights: cosines mean nothing
    engine.ingest([folder / "doc000.md"])  # something to answer from before the big ingest
    reports = []
    ingest = threading.Thread(
        target=lambda: reports.append(engine.ingest([folder], on_progress=on_progress))
    )
    try:
        ingest.start()
        assert embedded.wait(60), "the ingest never embedded a batch"
        answer = engine.ask("What does file 3 say about topic 2?")
        ingest.join(120)
    finally:
        engine.close()
    assert answer.text and not ingest.is_alive()
    assert model.during, "the answer never reached the model"
    first, last = model.during[0]
    assert first == last, f"the ingest embedded {last - first} chunks while the answer ran"
    assert model.threads[-1] == 2 and model.fresh[-1], "the answer did not get every core"
    assert "paused while an answer is written" in steps
    report = reports[0]
    assert report.seconds_waiting_for_answers > 0
    assert len(report.outcomes) == 120 and not report.cancelled
