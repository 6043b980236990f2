"""Searching and answering while an ingest runs never fails ("database is locked" and the like)
and stays correct: every hit is a whole, current passage of its file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from embeddinggemma_rag.core.intake.documents import SearchHit
from tests.reliability.helpers import open_engine
from tests.reliability.test_kills import make_corpus

CONTROL_WORD = "quetzal"  # only the documents indexed before the ingest hold it
SEARCH_QUERIES = ["topic 3 details", "measurement 12", "appendix seven heron"]


def write_control(root: Path) -> Path:
    root.mkdir()
    for n in range(3):
        (root / f"control{n}.md").write_text(
            f"# Control {n}\n\nThe {CONTROL_WORD} nests in cloud forest number {n}.\n"
        )
    return root


def check_hit(hit: SearchHit) -> None:
    """The hit is exactly the text at its offsets in its file, as the file is on disk."""
    text = Path(hit.path).read_text(encoding="utf-8")
    assert text[hit.char_start : hit.char_end] == hit.text, hit


@pytest.mark.slow
def test_search_and_ask_while_a_folder_is_ingested(tmp_path: Path) -> None:
    control = write_control(tmp_path / "control")
    corpus = make_corpus(tmp_path / "corpus", 40)
    with open_engine(tmp_path / "library") as engine:
        engine.ingest([control])
        engine.relevance_threshold = -1.0  # random test weights: always ask the model
        expected_control = [h.chunk_id for h in engine.search(CONTROL_WORD, k=5, mode="keyword")]
        assert len(expected_control) == 3
        _ = engine.generator  # loaded before the race, as the GUI does after start-up

        done = threading.Event()
        errors: list[BaseException] = []
        counts = {"searches": 0, "answers": 0, "hits": 0}

        def loop(work: Callable[[], None], name: str) -> None:
            try:
                while not done.is_set():
                    work()
                    counts[name] += 1
            except BaseException as error:  # any failure fails the test
                errors.append(error)

        def search() -> None:
            for mode in ("hybrid", "vector", "keyword"):
                for query in SEARCH_QUERIES:
                    for hit in engine.search(query, k=5, mode=mode):
                        check_hit(hit)
                        counts["hits"] += 1
            control_hits = engine.search(CONTROL_WORD, k=5, mode="keyword")
            assert [h.chunk_id for h in control_hits] == expected_control

        def ask() -> None:
            answer = engine.ask(f"Where does the {CONTROL_WORD} nest?", k=3)
            assert answer.grounded and answer.passages
            for hit in answer.passages:
                check_hit(hit)
            given = {h.chunk_id for h in answer.passages}
            assert all(c.hit.chunk_id in given for c in answer.citations)

        workers = [
            threading.Thread(target=loop, args=(search, "searches")),
            threading.Thread(target=loop, args=(search, "searches")),
            threading.Thread(target=loop, args=(ask, "answers")),
        ]
        for worker in workers:
            worker.start()
        started = time.monotonic()
        try:
            report = engine.ingest([corpus])
        finally:
            done.set()
            for worker in workers:
                worker.join(timeout=60)
        seconds = time.monotonic() - started

        assert not errors, errors
        assert report.by_status()["indexed"] == 40
        assert counts["searches"] >= 3 and counts["answers"] >= 1, counts
        assert engine.library.consistency_report().ok
        # Afterwards the new documents are found like any other.
        hits = engine.search("File 17 topic 2", k=3, mode="keyword")
        assert hits and Path(hits[0].path).name == "doc017.md"
    print(f"\nduring a {seconds:.1f} s ingest: {counts}")


def test_removing_while_searching_never_returns_a_removed_passage_as_live(tmp_path: Path) -> None:
    """A search that races a removal may miss the removed file, never fail or half-return it."""
    corpus = make_corpus(tmp_path / "corpus", 8)
    with open_engine(tmp_path / "library") as engine:
        engine.ingest([corpus])
        doomed = corpus / "doc003.md"
        errors: list[BaseException] = []
        done = threading.Event()

        def searching() -> None:
            try:
                while not done.is_set():
                    for hit in engine.search("File 3 topic 1", k=8):
                        check_hit(hit)  # whole and current, never half a replaced file
            except BaseException as error:
                errors.append(error)

        worker = threading.Thread(target=searching)
        worker.start()
        try:
            for _ in range(5):
                engine.remove([doomed])
                engine.ingest([doomed])
        finally:
            done.set()
            worker.join(timeout=60)
        assert not errors, errors
        assert engine.library.consistency_report().ok
