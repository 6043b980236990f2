"""Conversation storage: save, list, load, delete, and the Markdown export with sources."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from embeddinggemma_rag.core.answering.answer_types import Answer, Citation
from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.intake.documents import SearchHit
from embeddinggemma_rag.core.library.conversations import (
    DB_NAME,
    Conversation,
    ConversationStore,
    SavedTurn,
    export_markdown,
    title_for,
)


def _answer(text: str = "Cats sleep a lot [1].", cancelled: bool = False) -> Answer:
    hit = SearchHit(7, "/docs/cats.pdf", "Cats", 3, 3, 0.81, "Cats sleep 16 hours.", 10, 30, 0.7)
    return Answer("How long?", text, [Citation(1, hit)], [hit], cancelled=cancelled, seconds=1.5)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "library")


def test_a_saved_turn_loads_back_whole(store: ConversationStore, tmp_path: Path) -> None:
    cid = store.create("How long do cats sleep?")
    store.add_turn(cid, SavedTurn("How long do cats sleep?", _answer(), "/docs", 100.0))

    loaded = store.load(cid)

    assert (tmp_path / "library" / DB_NAME).is_file()
    assert loaded.title == "How long do cats sleep?"
    [turn] = loaded.turns
    assert turn.answer == _answer()
    assert turn.scope == "/docs"
    assert turn.asked_at == 100.0


def test_list_is_newest_first_with_turn_counts(store: ConversationStore) -> None:
    first = store.create("first")
    second = store.create("second")
    store.add_turn(first, SavedTurn("q", _answer(), asked_at=9e9))

    summaries = store.list()

    assert [s.id for s in summaries] == [first, second]
    assert [s.turn_count for s in summaries] == [1, 0]


def test_delete_removes_the_conversation_and_its_turns(store: ConversationStore) -> None:
    cid = store.create("gone")
    store.add_turn(cid, SavedTurn("q", _answer()))
    store.delete(cid)

    assert store.list() == []
    with pytest.raises(LibraryError, match="no longer exists"):
        store.load(cid)


def test_history_skips_answers_that_were_stopped_before_any_text(
    store: ConversationStore,
) -> None:
    cid = store.create("c")
    store.add_turn(cid, SavedTurn("one", _answer("first answer")))
    store.add_turn(cid, SavedTurn("two", _answer("", cancelled=True)))

    history = store.load(cid).history()

    assert [(t.question, t.answer) for t in history] == [("one", "first answer")]


def test_conversations_survive_reopening(tmp_path: Path) -> None:
    first = ConversationStore(tmp_path)
    cid = first.create("kept")
    first.close()

    assert [s.id for s in ConversationStore(tmp_path).list()] == [cid]


def test_export_lists_each_answer_with_its_sources() -> None:
    turn = SavedTurn("How long\ndo cats sleep?", _answer(), "/docs")
    conversation = Conversation(1, "Cats", 0.0, 0.0, (turn,))

    markdown = export_markdown(conversation)

    assert markdown.startswith("# Cats\n")
    assert "## How long do cats sleep?" in markdown
    assert "Cats sleep a lot [1]." in markdown
    assert "### Sources" in markdown
    assert "1. `/docs/cats.pdf`, page 3 (score 0.810)" in markdown
    assert "   > Cats sleep 16 hours." in markdown


def test_titles_are_one_short_line() -> None:
    assert title_for("  a\nb  ") == "a b"
    long = title_for("word " * 40)
    assert len(long) <= 60
    assert long.endswith("…")


def test_turns_saved_before_citations_held_their_passage_still_load(
    store: ConversationStore,
) -> None:
    """Older turns wrote a citation as the passage's fields (no page_end, no similarity)
    beside its number: it loads holding the passage given under its chunk id, or, when that
    is not among the passages, one made of those fields."""
    answer = _answer()
    hit = answer.passages[0]
    old_citation = {
        "number": 1,
        **{k: getattr(hit, k) for k in ("chunk_id", "path", "title", "page", "text", "score")},
        **{k: getattr(hit, k) for k in ("char_start", "char_end", "ocr", "page_label")},
    }
    old = {**dataclasses.asdict(answer), "citations": [old_citation]}
    cid = store.create("old")
    with sqlite3.connect(store.path) as db:
        for question, passages in (("given", old["passages"]), ("not given", [])):
            db.execute(
                "INSERT INTO turns(conversation_id, question, answer, asked_at) "
                "VALUES (?, ?, ?, 1)",
                (cid, question, json.dumps({**old, "passages": passages})),
            )
    db.close()

    given, not_given = store.load(cid).turns

    assert given.answer == answer
    assert given.answer.citations[0].hit is given.answer.passages[0]
    assert not_given.answer.citations == [Citation(1, replace(hit, similarity=None))]


def test_answers_saved_with_echoed_quote_tags_reopen_without_them(
    store: ConversationStore,
) -> None:
    """Answers saved before the stream filter held the prompt's <quote> tags a small model
    copied ("[1] number.md <quote>" and the passage): reopened, they read as the filter
    would have shown them, the rest of the answer untouched."""
    saved = _answer("[1] cats.pdf <quote>Cats sleep 16 hours.</quote> so x < 3 <b>", False)
    cid = store.create("old")
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT INTO turns(conversation_id, question, answer, asked_at) VALUES (?, ?, ?, 1)",
            (cid, "How long?", json.dumps(dataclasses.asdict(saved))),
        )
    db.close()

    [turn] = store.load(cid).turns

    assert turn.answer.text == "[1] cats.pdf Cats sleep 16 hours. so x < 3 <b>"
    assert turn.answer.citations == saved.citations
