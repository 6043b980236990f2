"""Saved conversations: questions, answers and their sources in SQLite, and Markdown export."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embeddinggemma_rag.core.answering.rag_prompt import without_quote_tags
from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.records import Answer, Citation, SearchHit
from embeddinggemma_rag.core.records import Conversation as Conversation
from embeddinggemma_rag.core.records import ConversationSummary as ConversationSummary
from embeddinggemma_rag.core.records import SavedTurn as SavedTurn

DB_NAME = "conversations.sqlite3"
TITLE_CHARS = 60  # a title is the first question, cut to fit one line of the list

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations(
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL, answer TEXT NOT NULL, scope TEXT, asked_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns(conversation_id, id);
"""


def title_for(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    """Conversations of one library, in `conversations.sqlite3` beside its index.

    Kept apart from the chunk database so a library rebuild or recovery never touches them.
    One connection, serialised by a lock, usable from any thread.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(f"{self.path}: cannot open the conversations ({exc})") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._conn:  # one transaction: committed, or rolled back on error
                    yield self._conn
            except sqlite3.Error as exc:
                raise LibraryError(f"{self.path}: {exc}") from exc

    def create(self, title: str) -> int:
        now = time.time()
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO conversations(title, created_at, updated_at) VALUES (?, ?, ?)",
                (title_for(title), now, now),
            )
        return int(cursor.lastrowid or 0)

    def add_turn(self, conversation_id: int, turn: SavedTurn) -> None:
        asked_at = turn.asked_at or time.time()
        with self._db() as db:
            db.execute(
                "INSERT INTO turns(conversation_id, question, answer, scope, asked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (conversation_id, turn.question, _answer_json(turn.answer), turn.scope, asked_at),
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (asked_at, conversation_id)
            )

    def rename(self, conversation_id: int, title: str) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (title_for(title), conversation_id),
            )

    def list(self) -> list[ConversationSummary]:
        """Newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at, COUNT(t.id) "
                "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id GROUP BY c.id "
                "ORDER BY c.updated_at DESC, c.id DESC"
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def load(self, conversation_id: int) -> Conversation:
        with self._db() as db:
            head = db.execute(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            rows = db.execute(
                "SELECT question, answer, scope, asked_at FROM turns "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        if head is None:
            raise LibraryError(f"{self.path}: conversation {conversation_id} no longer exists")
        turns = tuple(SavedTurn(q, _answer_from_json(a), s, t) for q, a, s, t in rows)
        return Conversation(head[0], head[1], head[2], head[3], turns)

    def export(self, conversation_id: int, target: Path) -> None:
        """Write the conversation to `target` as Markdown (`export_markdown`)."""
        target.write_text(export_markdown(self.load(conversation_id)), encoding="utf-8")

    def delete(self, conversation_id: int) -> None:
        with self._db() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _answer_json(answer: Answer) -> str:
    return json.dumps(dataclasses.asdict(answer), ensure_ascii=False)


def _answer_from_json(text: str) -> Answer:
    data: dict[str, Any] = json.loads(text)
    # Answers saved before the tags were filtered as they streamed still hold the <quote>
    # tags a small model copied from its prompt: a reopened conversation shows them without.
    data["text"] = without_quote_tags(data.get("text", ""))
    data["passages"] = [SearchHit(**p) for p in data.get("passages", [])]
    data["citations"] = [
        _citation_from_json(c, data["passages"]) for c in data.get("citations", [])
    ]
    known = {f.name for f in dataclasses.fields(Answer)}
    return Answer(**{k: v for k, v in data.items() if k in known})


def _citation_from_json(data: dict[str, Any], passages: list[SearchHit]) -> Citation:
    """A saved citation, holding the saved passage it cites (the same object, as when asked).

    Turns saved before citations held their passage wrote the passage's fields beside the
    number, without `page_end` and `similarity`: the passage given under that chunk id
    stands for them, or one made of those fields if it is not there.
    """
    if "hit" in data:
        saved = SearchHit(**data["hit"])
        return Citation(data["number"], next((p for p in passages if p == saved), saved))
    fields = {k: v for k, v in data.items() if k != "number"}
    given = next((p for p in passages if p.chunk_id == fields["chunk_id"]), None)
    return Citation(data["number"], given or SearchHit(**fields, page_end=fields["page"]))


def export_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown: each question, its answer, then the passages it cited."""
    lines = [f"# {_one_line(conversation.title)}", ""]
    for turn in conversation.turns:
        lines += [f"## {_one_line(turn.question)}", ""]
        if turn.scope:
            lines += [f"*Asked about:* `{turn.scope}`", ""]
        lines += [turn.answer.text.strip() or "*(no answer)*", ""]
        if turn.answer.cancelled:
            lines += ["*(stopped before the end)*", ""]
        if turn.answer.citations:
            lines += ["### Sources", ""]
            for citation in turn.answer.citations:
                hit = citation.hit
                page = f", page {hit.page}" if hit.page else ""
                lines.append(f"{citation.number}. `{hit.path}`{page} (score {hit.score:.3f})")
                lines.append(f"   > {_excerpt(hit.text)}")
            lines.append("")
        if turn.answer.passages:
            lines += ["### Passages given to the model", ""]
            for number, hit in enumerate(turn.answer.passages, start=1):
                page = f", page {hit.page}" if hit.page else ""
                lines += [f"{number}. `{hit.path}`{page}", ""]
                lines += [f"   > {line}" if line else "   >" for line in hit.text.splitlines()]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_file_name(title: str) -> str:
    """A file name for an exported conversation: its title, without what file systems refuse."""
    name = re.sub(r"[^\w\- ]+", "", _one_line(title), flags=re.UNICODE).strip()[:60].strip()
    return f"{name or 'conversation'}.md"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str, width: int = 400) -> str:
    flat = _one_line(text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"
