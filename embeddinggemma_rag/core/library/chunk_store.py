"""SQLite store of documents, chunks, their full 768-d vectors and a BM25 keyword index."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus, PageText, TextBox
from embeddinggemma_rag.core.library import keyword_search, page_store
from embeddinggemma_rag.core.library.keyword_search import (
    KEYWORD_INDEX,
    KEYWORD_INDEX_VERSION,
    OLD_KEYWORD_INDEX,
    keyword_text_of,
    under_clause,
)
from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.library.vector_rows import (
    FULL_DIMENSION as FULL_DIMENSION,
)
from embeddinggemma_rag.core.library.vector_rows import (
    VectorRows,
    batches,
)
from embeddinggemma_rag.core.records import ChunkRecord as ChunkRecord
from embeddinggemma_rag.core.records import DocumentRecord as DocumentRecord

_log = logging.getLogger(__name__)

# 2: the keyword index became chunks_keywords (derived text); version 1 libraries are migrated
# on open by rebuilding it from the stored chunks (`_migrate_keyword_index`), no re-embedding.
SCHEMA_VERSION = 2
_VECTOR_BYTES = FULL_DIMENSION * 4

_META_TABLE = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources(path TEXT PRIMARY KEY, added_at REAL);
CREATE TABLE IF NOT EXISTS documents(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, size INTEGER, mtime_ns INTEGER,
    content_hash TEXT, title TEXT, status TEXT NOT NULL, reason TEXT,
    chunk_count INTEGER NOT NULL DEFAULT 0, updated_at REAL);
-- AUTOINCREMENT: chunk ids are never reused, so a FAISS id always names the same vector and
-- comparing id sets is enough to reconcile the index after a crash.
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER, text TEXT NOT NULL, page_start INTEGER, page_end INTEGER,
    char_start INTEGER, char_end INTEGER, token_count INTEGER, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
"""
_INSERT_CHUNK = """INSERT INTO chunks(document_id, ordinal, text, page_start, page_end,
    char_start, char_end, token_count, vector) VALUES (:document_id, :ordinal, :text,
    :page_start, :page_end, :char_start, :char_end, :token_count, :vector)"""
_UPSERT_DOCUMENT = """INSERT INTO documents(path, size, mtime_ns, content_hash, title, status,
    reason, chunk_count, updated_at) VALUES (:path, :size, :mtime_ns, :content_hash, :title,
    :status, :reason, :chunk_count, :updated_at) ON CONFLICT(path) DO UPDATE SET
    size=:size, mtime_ns=:mtime_ns, content_hash=:content_hash, title=:title, status=:status,
    reason=:reason, chunk_count=:chunk_count, updated_at=:updated_at"""
_DOC_COLUMNS = "path, size, mtime_ns, content_hash, title, status, reason, chunk_count, updated_at"
_JOIN = "FROM chunks c JOIN documents d ON d.id = c.document_id"
_CHUNK_COLUMNS = (
    "c.id, d.path, d.title, c.ordinal, c.text, c.page_start, c.page_end, c.char_start, c.char_end"
)


@dataclass(frozen=True)
class ReplaceResult:
    """Chunk ids a write removed and added: what the vector index must mirror."""

    removed_ids: list[int]
    added_ids: list[int]


class SqliteChunkStore(VectorRows):
    """One connection per thread: WAL lets a search read while the ingest thread writes.

    Every write is one `BEGIN IMMEDIATE` transaction, so a kill leaves the old or the new state.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._guard = threading.Lock()
        self._closed = False
        try:
            db = self._db()
            db.execute(_META_TABLE)
            version = int(self.get_meta("schema_version") or SCHEMA_VERSION)
            if version > SCHEMA_VERSION:
                raise LibraryError(
                    f"{self.path}: the library was written by a newer version of the app "
                    f"(schema {version}); update the app to open it"
                )
            # Every statement is IF NOT EXISTS: a kill during creation is finished on next open.
            db.executescript(_SCHEMA + page_store.SCHEMA)
            for statement in KEYWORD_INDEX:  # a library always has one, even killed here
                db.execute(statement)
            self.keyword_chunks_reindexed = self._migrate_keyword_index(db)
            sql = "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)"
            db.execute(sql, (str(SCHEMA_VERSION),))
        except BaseException:
            self.close()
            raise

    def _migrate_keyword_index(self, db: sqlite3.Connection) -> int:
        """Create the keyword index, or re-create it from the stored chunks when it was built
        by another `KEYWORD_INDEX_VERSION` (schema 1 libraries included); returns how many
        chunks were indexed (0: nothing to do). Vectors are untouched. One transaction: a
        kill leaves the old index, and the next open starts again."""
        if self.get_meta("keyword_index_version") == KEYWORD_INDEX_VERSION:
            return 0
        started = time.perf_counter()
        with self._write():
            for statement in (*OLD_KEYWORD_INDEX, *KEYWORD_INDEX):
                db.execute(statement)
            db.execute(
                "INSERT INTO chunks_keywords(rowid, text) "
                "SELECT c.id, keyword_text(c.text, d.title) FROM chunks c "
                "JOIN documents d ON d.id = c.document_id ORDER BY c.id"
            )
            count = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('keyword_index_version', ?)",
                (KEYWORD_INDEX_VERSION,),
            )
        if count:
            _log.warning(
                "%s: rebuilt the keyword index for search in every language from the stored "
                "text: %d chunks in %.1f s, nothing re-embedded",
                self.path,
                count,
                time.perf_counter() - started,
            )
        return count

    def _db(self) -> sqlite3.Connection:
        if self._closed:
            raise LibraryError(f"{self.path}: the library is closed")
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode with explicit BEGIN IMMEDIATE: the write lock is taken up front,
            # so busy_timeout applies instead of a deadlock when a reader upgrades to writer.
            db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL is safe in WAL: a power cut may lose only the last commits, never
                # consistency, and the library reconciles FAISS with whatever SQLite kept.
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA busy_timeout=10000")
                # The insert triggers call it: every connection that writes chunks needs it.
                db.create_function("keyword_text", 2, keyword_text_of, deterministic=True)
            except BaseException:
                db.close()
                raise
            self._local.db = db
            self._local.term_counts = keyword_search.TermCounts()
            with self._guard:
                # Close the connections of finished threads, or a GUI that searches from a
                # new thread each time would leak three file handles per search.
                alive = []
                for thread, other in self._connections:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        other.close()
                self._connections = [*alive, (threading.current_thread(), db)]
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (disk full) may leave it open
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        for _, db in connections:
            db.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_source(self, path: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO sources VALUES (?, ?)", (path, time.time()))

    def remove_source(self, path: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sources WHERE path = ?", (path,))

    def sources(self) -> list[str]:
        return [r[0] for r in self._db().execute("SELECT path FROM sources ORDER BY path")]

    def get_document(self, path: str) -> DocumentRecord | None:
        sql = f"SELECT {_DOC_COLUMNS} FROM documents WHERE path = ?"
        row = self._db().execute(sql, (path,)).fetchone()
        return None if row is None else _document(row)

    def documents(self, under: str | None = None) -> list[DocumentRecord]:
        where, params = under_clause("path", under)
        sql = f"SELECT {_DOC_COLUMNS} FROM documents WHERE {where} ORDER BY path"
        return [_document(row) for row in self._db().execute(sql, params)]

    def update_file_stat(self, path: str, size: int, mtime_ns: int) -> None:
        """A file touched but not changed (same hash): remember its new size and mtime."""
        sql = "UPDATE documents SET size = ?, mtime_ns = ?, updated_at = ? WHERE path = ?"
        with self._write() as db:
            db.execute(sql, (size, mtime_ns, time.time(), path))

    def replace_document(
        self,
        record: DocumentRecord,
        chunks: Sequence[Chunk],
        vectors: npt.ArrayLike,
        pages: Sequence[PageText] = (),
    ) -> ReplaceResult:
        """Store a document's new chunks and full-size vectors in place of its old ones."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if not chunks and matrix.size == 0:
            matrix = matrix.reshape(0, FULL_DIMENSION)
        if matrix.shape != (len(chunks), FULL_DIMENSION) or not np.isfinite(matrix).all():
            raise ValueError(f"need {len(chunks)} finite {FULL_DIMENSION}-d vectors")
        matrix = truncate_and_normalize(matrix, FULL_DIMENSION)
        with self._write() as db:
            document_id, removed = self._upsert(db, record, len(chunks))
            rows = [
                dict(_row(chunk), document_id=document_id, ordinal=n, vector=v.tobytes())
                for n, (chunk, v) in enumerate(zip(chunks, matrix.astype("<f4"), strict=True))
            ]
            db.executemany(_INSERT_CHUNK, rows)
            page_store.write_pages(db, document_id, pages)
            sql = "SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal"
            added = [r[0] for r in db.execute(sql, (document_id,))]
        return ReplaceResult(removed, added)

    def mark_document(self, record: DocumentRecord) -> list[int]:
        """Record a document without chunks (failed, skipped, no text); returns removed ids."""
        with self._write() as db:
            return self._upsert(db, record, 0)[1]

    def _upsert(
        self, db: sqlite3.Connection, record: DocumentRecord, chunk_count: int
    ) -> tuple[int, list[int]]:
        row = dict(_row(record), status=str(record.status), chunk_count=chunk_count)
        db.execute(_UPSERT_DOCUMENT, dict(row, updated_at=time.time()))
        sql = "SELECT id FROM documents WHERE path = ?"
        document_id = int(db.execute(sql, (record.path,)).fetchone()[0])
        sql = "SELECT id FROM chunks WHERE document_id = ?"
        removed = [r[0] for r in db.execute(sql, (document_id,))]
        db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        db.execute("DELETE FROM pages WHERE document_id = ?", (document_id,))
        return document_id, removed

    def remove_documents(self, paths_or_prefix: str | Iterable[str]) -> list[int]:
        """Forget documents at or under each path; returns the removed chunk ids."""
        prefixes = [paths_or_prefix] if isinstance(paths_or_prefix, str) else paths_or_prefix
        removed: list[int] = []
        with self._write() as db:
            for prefix in prefixes:
                where, params = under_clause("path", prefix)
                docs = f"SELECT id FROM documents WHERE {where}"
                sql = f"SELECT id FROM chunks WHERE document_id IN ({docs})"
                removed += [r[0] for r in db.execute(sql, params)]
                db.execute(f"DELETE FROM chunks WHERE document_id IN ({docs})", params)
                db.execute(f"DELETE FROM documents WHERE {where}", params)
        return removed

    def clear_chunks(self) -> None:
        """Drop every chunk and vector, and forget what documents held, so all is re-embedded."""
        with self._write() as db:
            db.execute("DELETE FROM chunks")
            db.execute("UPDATE documents SET content_hash = NULL, mtime_ns = NULL, chunk_count = 0")

    def chunks_by_ids(self, ids: Iterable[int]) -> list[ChunkRecord]:
        """Chunks with their document's path and title, in the order asked; unknown ids dropped."""
        wanted = [int(i) for i in ids]
        found: dict[int, ChunkRecord] = {}
        for batch in batches(wanted):
            marks = ",".join("?" * len(batch))
            sql = f"SELECT {_CHUNK_COLUMNS} {_JOIN} WHERE c.id IN ({marks})"
            found.update((row[0], ChunkRecord(*row)) for row in self._db().execute(sql, batch))
        return [found[i] for i in wanted if i in found]

    def chunk_with_neighbours(self, chunk_id: int, neighbours: int) -> list[ChunkRecord]:
        """The chunk and up to `neighbours` of its document's chunks on either side, in order."""
        sql = (
            f"SELECT {_CHUNK_COLUMNS} {_JOIN} JOIN chunks anchor ON anchor.id = ? "
            "WHERE c.document_id = anchor.document_id "
            "AND c.ordinal BETWEEN anchor.ordinal - ? AND anchor.ordinal + ? ORDER BY c.ordinal"
        )
        rows = self._db().execute(sql, (int(chunk_id), neighbours, neighbours))
        return [ChunkRecord(*row) for row in rows]

    def page_notes(self, chunk_ids: Iterable[int]) -> dict[int, page_store.PageNote]:
        """OCR flag and page label of the chunks that have them (see page_store)."""
        return page_store.page_notes(self._db(), chunk_ids)

    def ocr_page_counts(self) -> dict[str, int]:
        return page_store.ocr_page_counts(self._db())

    def page_boxes(self, path: str, page: int) -> list[TextBox]:
        return page_store.page_boxes(self._db(), path, page)

    def keyword_search(
        self, query_text: str, k: int, under: str | None = None
    ) -> list[tuple[int, float]]:
        """BM25 matches of free text, best first (see `keyword_search.search`)."""
        db = self._db()
        return keyword_search.search(db, query_text, k, under, self._local.term_counts)

    def counts(self) -> tuple[dict[str, int], int]:
        """(documents per status, chunk count)."""
        db = self._db()
        by_status = dict(db.execute("SELECT status, count(*) FROM documents GROUP BY status"))
        return by_status, int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def bad_vector_count(self) -> int:
        sql = "SELECT count(*) FROM chunks WHERE vector IS NULL OR length(vector) != ?"
        return int(self._db().execute(sql, (_VECTOR_BYTES,)).fetchone()[0])

    def integrity_ok(self, full_text: bool = True) -> bool:
        """PRAGMA quick_check, and (optionally, it reads every chunk) the FTS index's check."""
        try:
            db = self._db()
            if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                return False
            if full_text:
                check = "INSERT INTO chunks_keywords(chunks_keywords, rank) VALUES (?, 1)"
                db.execute(check, ("integrity-check",))
        except sqlite3.DatabaseError:
            return False
        return True


def _document(row: tuple[Any, ...]) -> DocumentRecord:
    fields = dict(zip(_DOC_COLUMNS.split(", "), row, strict=True))
    fields["status"] = FileStatus(fields["status"])
    return DocumentRecord(**fields)


def _row(item: Any) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every field, a third of the write time.
    return {f.name: getattr(item, f.name) for f in fields(item)}
