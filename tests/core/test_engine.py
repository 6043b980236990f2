"""The engine as the one door: what it offers without a model, and the operations that the
GUI and the CLI used to do around it (conversations, OCR boxes, re-indexing, recovery)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from embeddinggemma_rag.core.engine import build_engine, recover_library
from embeddinggemma_rag.core.records import Answer, RagError, SavedTurn, Settings
from tests.conftest import TINY_EMBEDDING_MODEL


def no_model(settings: Settings) -> NoReturn:
    raise AssertionError("the engine loaded a model it did not need")


def test_conversations_and_page_boxes_need_no_model(tmp_path: Path) -> None:
    engine = build_engine(Settings(data_dir=tmp_path / "library"), embedder_factory=no_model)
    try:
        assert engine.page_boxes(str(tmp_path / "scan.pdf"), 1) == []  # the library is not open
        store = engine.conversations
        conversation = store.create("What does the warranty cover?")
        store.add_turn(conversation, SavedTurn("What does the warranty cover?", Answer("q", "a")))
        assert [c.turn_count for c in store.list()] == [1]
        assert engine.conversations is store  # one store per engine
    finally:
        engine.close()
    assert (tmp_path / "library" / "conversations.sqlite3").is_file()


def test_closing_the_engine_closes_its_conversations(tmp_path: Path) -> None:
    engine = build_engine(Settings(data_dir=tmp_path / "library"), embedder_factory=no_model)
    first = engine.conversations
    engine.close()
    with pytest.raises(Exception, match="closed"):
        first.list()


def test_reindex_reads_every_source_again(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The kettle boils water in two minutes.\n", encoding="utf-8")
    extra = tmp_path / "extra.txt"
    extra.write_text("Descale the kettle every month.\n", encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "library", embedding_model=TINY_EMBEDDING_MODEL, threads=1
    )
    engine = build_engine(settings)
    try:
        assert engine.reindex().outcomes == []  # an empty library: nothing to read again
        engine.ingest([docs])
        report = engine.reindex([extra])
        assert sorted((Path(o.path).name, o.embedded) for o in report.outcomes) == [
            ("a.txt", True),  # forgotten first, so embedded again
            ("extra.txt", True),
        ]
        assert sorted(engine.status().sources) == sorted([str(docs), str(extra)])
    finally:
        engine.close()


def test_recovering_a_folder_without_a_library_says_so(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="no library database to recover"):
        recover_library(tmp_path)
