"""The library: SQLite (the truth) and FAISS (a rebuildable cache) kept consistent, and search."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.chunk_store import (
    FULL_DIMENSION,
    ChunkRecord,
    DocumentRecord,
    ReplaceResult,
    SqliteChunkStore,
)
from embeddinggemma_rag.core.documents import Chunk, PageText, SearchHit, TextBox
from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.search import (
    FloatArray,
    IdArray,
    QueryVector,
    Ranked,
    search_chunks,
)
from embeddinggemma_rag.core.vector_index import FaissIndex

DB_NAME = "library.sqlite3"
INDEX_NAME = "vectors.faiss"
SIDECAR_NAME = "vectors.json"
# Meta key: which way (compute_choice.CANDIDATES) the stored vectors were computed.
EMBEDDING_WAY_KEY = "embedding_compute"
_log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")


class ModelMismatch(LibraryError):
    """The library holds vectors of another embedding model: they must never be mixed."""

    def __init__(self, data_dir: Path, stored: str, wanted: str) -> None:
        self.stored_model_id, self.model_id = stored, wanted
        super().__init__(
            f"{data_dir}: the library was indexed with another embedding model "
            f"({stored[:12]}) than the one now set ({wanted[:12]}). Vectors of two models "
            "cannot be compared: re-index the library (every document is embedded again) "
            "or switch back to the previous model."
        )


class DamagedLibrary(LibraryError):
    """The SQLite database is unreadable; `Library.recover` moves it aside."""

    def __init__(self, data_dir: Path, reason: str) -> None:
        self.data_dir = data_dir
        super().__init__(
            f"{data_dir / DB_NAME}: the library database is damaged ({reason}). Recover it "
            "with `embeddinggemma-rag recover`: the damaged file is kept aside, an empty "
            "library starts, and the added folders are kept when they can still be read, so "
            "`embeddinggemma-rag ingest` of them (or a re-scan in the app) indexes them again."
        )


@dataclass(frozen=True)
class OpenReport:
    """What opening the library had to do to the vector index, for the UI."""

    rebuilt: bool  # built from SQLite instead of loaded
    reason: str  # why it was rebuilt ("" when loaded)
    added: int  # vectors SQLite had and the saved index lacked (a kill after a commit)
    removed: int  # vectors the saved index had and SQLite no longer has
    vectors: int  # in the index once open
    seconds: float
    # Chunks whose keyword index was rebuilt from their stored text (a library from before
    # search in every language); 0 on every later open.
    keywords_reindexed: int = 0

    def describe(self) -> str:
        vectors = self._describe_vectors()
        if self.keywords_reindexed:
            return (
                f"Rebuilt the keyword index for search in every language: "
                f"{self.keywords_reindexed} passages, nothing re-embedded. {vectors}"
            )
        return vectors

    def _describe_vectors(self) -> str:
        if self.rebuilt and not self.vectors:
            return "The vector index is empty."
        if self.rebuilt:
            return (
                f"Rebuilt the vector index from the database ({self.reason}): "
                f"{self.vectors} vectors in {self.seconds:.1f} s."
            )
        if self.added or self.removed:
            return f"Repaired the vector index: {self.added} added, {self.removed} removed."
        return "The vector index was loaded as saved."


@dataclass(frozen=True)
class ConsistencyReport:
    """Whether FAISS holds exactly SQLite's chunks and the database is sound."""

    sqlite_chunks: int
    index_vectors: int
    missing_from_index: int
    extra_in_index: int
    bad_vectors: int  # stored vectors not of 768 float32
    integrity_ok: bool  # SQLite quick_check and the FTS index check

    @property
    def ok(self) -> bool:
        return (
            self.sqlite_chunks == self.index_vectors
            and self.integrity_ok
            and not (self.missing_from_index or self.extra_in_index or self.bad_vectors)
        )


def _database_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn SQLite failures into `LibraryError`s a user can read, damage into `DamagedLibrary`."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            library: Library = args[0]  # type: ignore[assignment]
            raise _library_error(library.data_dir, exc) from exc

    return wrapper


def _library_error(data_dir: Path, exc: sqlite3.DatabaseError) -> LibraryError:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
        return DamagedLibrary(data_dir, str(exc))
    if name.startswith("SQLITE_FULL"):
        return LibraryError(
            f"{data_dir / DB_NAME}: the disk is full. What was indexed before is kept; free "
            "some space and sync again to index the rest."
        )
    if name.startswith("SQLITE_IOERR"):
        return LibraryError(
            f"{data_dir / DB_NAME}: the disk failed to read or write the library ({exc}). "
            "What was indexed before is kept; check the disk, then sync again."
        )
    if name.startswith("SQLITE_BUSY"):
        return LibraryError(
            f"{data_dir / DB_NAME}: busy for over 10 s; is another program using it?"
        )
    return LibraryError(f"{data_dir / DB_NAME}: {exc}")


class Library:
    """The one storage object the engine talks to. Use `Library.open`.

    Writes go to SQLite first (one transaction), then to FAISS in memory; `save_index` makes
    FAISS durable. Chunk ids are never reused and chunks never change in place, so comparing
    id sets on open is enough to heal a kill between the two. Thread safety: one writer at a
    time (`_write_lock`); searches from any thread, serialised with FAISS mutations only.
    """

    def __init__(
        self,
        data_dir: Path,
        store: SqliteChunkStore,
        index: FaissIndex,
        model_id: str,
        report: OpenReport,
    ) -> None:
        self.data_dir, self.embedding_model_id, self.open_report = data_dir, model_id, report
        self._store, self._index = store, index
        self._write_lock = threading.RLock()
        self._index_lock = threading.Lock()
        # Keyword searches run here while the caller embeds the query (search_chunks).
        self._keyword_thread = ThreadPoolExecutor(1, thread_name_prefix="keyword-search")
        self._unsaved = report.rebuilt or bool(report.added or report.removed)
        self.read_only = False
        self.saved_state: tuple[int, int] | None = None

    @property
    def store(self) -> SqliteChunkStore:
        """The database, for reads and `update_file_stat`; chunk writes go through `Library`."""
        return self._store

    @property
    def dimension(self) -> int:
        return self._index.dimension

    @classmethod
    def open(
        cls,
        data_dir: Path,
        dimension: int,
        embedding_model_id: str,
        *,
        reset_vectors: bool = False,
        read_only: bool = False,
    ) -> Library:
        """Open or create the library; `reset_vectors` drops another model's vectors.

        `read_only` is for a reader beside the app (the MCP server): a repair of the vector
        index stays in memory and is never saved, so only the app writes its files."""
        if not 1 <= dimension <= FULL_DIMENSION:
            raise ValueError(f"dimension must be between 1 and {FULL_DIMENSION}")
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        database = data_dir / DB_NAME
        if _file_size(database) == 0 and _file_size(Path(f"{database}-wal")) == 0:
            # Before SQLite writes a new schema into it. (An empty file beside a WAL is sound:
            # in WAL mode nothing reaches the main file before the first checkpoint.)
            _refuse_lost_database(data_dir)
        try:
            store = SqliteChunkStore(database)
        except sqlite3.DatabaseError as exc:
            raise _library_error(data_dir, exc) from exc
        try:
            if not store.integrity_ok(full_text=False):
                raise DamagedLibrary(data_dir, "the integrity check failed")
            if store.get_meta("library_id") is None:
                _refuse_lost_database(data_dir)
            stored_model = store.get_meta("embedding_model_id")
            if stored_model != embedding_model_id:
                if stored_model is not None and store.counts()[1]:
                    if not reset_vectors:
                        raise ModelMismatch(data_dir, stored_model, embedding_model_id)
                    store.clear_chunks()
                store.set_meta("embedding_model_id", embedding_model_id)
            index, reason, added, removed = _open_index(store, data_dir, dimension)
        except sqlite3.DatabaseError as exc:
            store.close()
            raise _library_error(data_dir, exc) from exc
        except BaseException:
            store.close()
            raise
        seconds = time.perf_counter() - started
        report = OpenReport(
            bool(reason),
            reason,
            added,
            removed,
            index.ntotal,
            seconds,
            store.keyword_chunks_reindexed,
        )
        library = cls(data_dir, store, index, embedding_model_id, report)
        library.read_only = read_only
        library.saved_state = library.index_file_state()
        if library._unsaved and not read_only:
            library._save_index_if_possible()  # so the next open loads instead of repairing
        return library

    def index_file_state(self) -> tuple[int, int] | None:
        """(mtime_ns, size) of the saved vector index: a reader compares it with what it
        opened to see that another process saved newer vectors."""
        try:
            stat = (self.data_dir / INDEX_NAME).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def changed_on_disk(self) -> bool:
        """Another process saved the vector index since this one opened or saved it."""
        return self.index_file_state() != self.saved_state

    @staticmethod
    def recover(data_dir: Path) -> Path:
        """Move a damaged database aside (kept, never deleted) and start an empty library.

        The list of added folders is copied over when it can still be read. Returns the
        path the damaged file was moved to.
        """
        data_dir = Path(data_dir)
        db = data_dir / DB_NAME
        sources = _salvage_sources(db)
        aside = db.with_name(f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        while aside.exists():
            aside = aside.with_name(aside.name + "-1")
        # The WAL belongs to the damaged file (it may hold its last commits): keep them together.
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                os.replace(f"{db}{suffix}", f"{aside}{suffix}")
        for name in (INDEX_NAME, SIDECAR_NAME):  # its ids name the old database's chunks
            (data_dir / name).unlink(missing_ok=True)
        store = SqliteChunkStore(db)
        for source in sources:
            store.add_source(source)
        store.close()
        return aside

    @_database_errors
    def embedding_way(self) -> str | None:
        """How the stored vectors were computed (`OnnxEmbedder.compute_way`), when recorded."""
        return self._store.get_meta(EMBEDDING_WAY_KEY)

    @_database_errors
    def record_embedding_way(self, way: str) -> None:
        """Remember how this library's vectors are computed (never by a read-only reader)."""
        if not self.read_only and self._store.get_meta(EMBEDDING_WAY_KEY) != way:
            self._store.set_meta(EMBEDDING_WAY_KEY, way)

    @_database_errors
    def reset_for_model(self, embedding_model_id: str) -> None:
        """Drop every vector and chunk so all documents are embedded again by a new model."""
        with self._write_lock:
            self._store.clear_chunks()
            self._store.set_meta("embedding_model_id", embedding_model_id)
            self.embedding_model_id = embedding_model_id
            with self._index_lock:
                self._index = FaissIndex.create(self.dimension)
            self.save_index()

    @_database_errors
    def replace_document(
        self,
        record: DocumentRecord,
        chunks: Sequence[Chunk],
        vectors768: npt.ArrayLike,
        pages: Sequence[PageText] = (),
    ) -> ReplaceResult:
        """Store a document's chunks with their full 768-d vectors in place of its old ones."""
        matrix = np.asarray(vectors768, dtype=np.float32)
        with self._write_lock:
            result = self._store.replace_document(record, chunks, matrix, pages)
            self._update_index(result.removed_ids, result.added_ids, matrix)
        return result

    @_database_errors
    def mark_document(self, record: DocumentRecord) -> list[int]:
        """Record a document that has no chunks (failed, skipped, no text)."""
        with self._write_lock:
            removed = self._store.mark_document(record)
            self._update_index(removed, [], None)
        return removed

    @_database_errors
    def remove(self, paths: str | Iterable[str]) -> int:
        """Forget the documents at or under `paths`; returns how many chunks went."""
        with self._write_lock:
            removed = self._store.remove_documents(paths)
            self._update_index(removed, [], None)
        return len(removed)

    def _update_index(self, removed: list[int], added: list[int], vectors: Any) -> None:
        cut = truncate_and_normalize(vectors, self.dimension) if added else None
        with self._index_lock:
            self._index.remove(removed)
            if cut is not None:
                self._index.add(added, cut)
        self._unsaved = self._unsaved or bool(removed or added)

    @property
    def unsaved_changes(self) -> bool:
        return self._unsaved

    @_database_errors
    def save_index(self) -> None:
        """Save FAISS atomically, then its sidecar, so a kill leaves a loadable pair.

        A failed save (disk full, I/O error) raises LibraryError and leaves the previous
        pair as it was; SQLite still holds every vector, so nothing is lost.
        """
        with self._write_lock:
            path = self.data_dir / INDEX_NAME
            # Searches go on meanwhile: saving only reads the index, and mutations need this lock.
            try:
                self._index.save(
                    path,
                    {
                        "format": 1,
                        "embedding_model_id": self.embedding_model_id,
                        "library_id": self._store.get_meta("library_id"),
                        # SQLite's state at save time: after a crash, tells which side was ahead.
                        "sqlite_chunks": self._store.counts()[1],
                        "sqlite_max_chunk_id": self._store.max_chunk_id(),
                    },
                )
            except OSError as exc:
                raise LibraryError(
                    f"{path}: the vector index could not be saved ({_os_reason(exc)}). "
                    "The documents are safe in the database and the index is rebuilt from it "
                    "at the next start; free some space and sync again."
                ) from exc
            self._unsaved = False
            self.saved_state = self.index_file_state()

    def _save_index_if_possible(self) -> None:
        """Save now if the disk lets us; else the next open repairs from SQLite again."""
        try:
            self.save_index()
        except LibraryError as exc:
            _log.warning("%s", exc)

    @_database_errors
    def search(
        self,
        query_text: str,
        query_vector768: QueryVector,
        k: int,
        mode: str = "hybrid",
        scope: str | None = None,
    ) -> list[SearchHit]:
        """The `k` best passages, optionally only under the folder or file `scope`.
        `query_vector768` may be a function that embeds the query (see `search_chunks`).

        Scores and similarity are described in `search.search_chunks`. FAISS is read under
        the index lock, SQLite on this thread's own connection, so an ingest may run beside.
        """

        def vector_search(query: FloatArray, n: int, allowed: IdArray | None) -> Ranked:
            with self._index_lock:
                return self._index.search(query, n, allowed)

        hits = search_chunks(
            self._store,
            vector_search,
            self.dimension,
            query_text,
            query_vector768,
            k,
            mode,
            scope,
            self._keyword_thread.submit,
        )
        return self._with_page_notes(hits)

    def _with_page_notes(self, hits: list[SearchHit]) -> list[SearchHit]:
        """Mark passages read by OCR and name their sheet or chapter (page_store)."""
        notes = self._store.page_notes(hit.chunk_id for hit in hits)
        return [
            dataclasses.replace(hit, ocr=note.ocr, page_label=note.label)
            if (note := notes.get(hit.chunk_id))
            else hit
            for hit in hits
        ]

    @_database_errors
    def ocr_page_counts(self) -> dict[str, int]:
        """Document path -> pages read by OCR, for the documents that have any."""
        return self._store.ocr_page_counts()

    @_database_errors
    def page_boxes(self, path: str, page: int) -> list[TextBox]:
        """OCR line boxes of one page, for highlighting a passage on the page image."""
        return self._store.page_boxes(path, page)

    @_database_errors
    def consistency_report(self) -> ConsistencyReport:
        """Does FAISS hold exactly SQLite's chunks, and is the database sound? (tests, status)"""
        with self._write_lock:
            sqlite_ids = self._store.chunk_ids()
            with self._index_lock:
                index_ids = self._index.ids()
            return ConsistencyReport(
                sqlite_chunks=len(sqlite_ids),
                index_vectors=len(index_ids),
                missing_from_index=len(np.setdiff1d(sqlite_ids, index_ids)),
                extra_in_index=len(np.setdiff1d(index_ids, sqlite_ids))
                + len(index_ids)
                - len(np.unique(index_ids)),
                bad_vectors=self._store.bad_vector_count(),
                integrity_ok=self._store.integrity_ok(),
            )

    @_database_errors
    def passage_in_context(self, chunk_id: int, neighbours: int) -> list[ChunkRecord]:
        """The chunk and up to `neighbours` chunks before and after it in its document, in
        reading order; empty when the id is unknown (re-indexed or removed since)."""
        return self._store.chunk_with_neighbours(chunk_id, neighbours)

    @_database_errors
    def documents(self, under: str | None = None) -> list[DocumentRecord]:
        return self._store.documents(under)

    @_database_errors
    def get_document(self, path: str) -> DocumentRecord | None:
        return self._store.get_document(path)

    @_database_errors
    def sources(self) -> list[str]:
        return self._store.sources()

    @_database_errors
    def add_source(self, path: str) -> None:
        self._store.add_source(path)

    @_database_errors
    def remove_source(self, path: str) -> None:
        """Forget an added folder or file; its documents go with `remove`."""
        self._store.remove_source(path)

    @_database_errors
    def counts(self) -> tuple[dict[str, int], int]:
        """(documents per status, chunk count)."""
        return self._store.counts()

    def close(self) -> None:
        """Save unsaved index changes (so the next open needs no repair), then close.

        A save that fails here only costs a repair at the next open: it is logged, not
        raised, so closing the app never fails on a full disk.
        """
        with self._write_lock:
            try:
                if self._unsaved and not self.read_only:
                    self._save_index_if_possible()
            finally:
                self._keyword_thread.shutdown(wait=True)
                self._store.close()


def _open_index(
    store: SqliteChunkStore, data_dir: Path, dimension: int
) -> tuple[FaissIndex, str, int, int]:
    """Load the saved index if it is this library's, else rebuild it; then reconcile.

    Returns (index, why it was rebuilt or "", vectors added, vectors removed).
    """
    library_id = store.get_meta("library_id")
    if library_id is None:  # names this database, so a recovered one never trusts old files
        library_id = uuid.uuid4().hex
        store.set_meta("library_id", library_id)
    expected = {
        "library_id": library_id,
        "embedding_model_id": store.get_meta("embedding_model_id"),
        "dimension": dimension,
    }
    index, reason = FaissIndex.load_if_described(data_dir / INDEX_NAME, expected)
    if index is None:
        index = FaissIndex.create(dimension)
        for ids, vectors in store.iter_vectors():  # cut the stored vectors: no re-embedding
            index.add(ids, truncate_and_normalize(vectors, dimension))
    if store.get_meta("dimension") != str(dimension):
        store.set_meta("dimension", str(dimension))
    # Chunk ids are never reused, so equal id sets mean equal contents.
    sqlite_ids, index_ids = store.chunk_ids(), index.ids()
    removed = index.remove(np.setdiff1d(index_ids, sqlite_ids))
    missing = np.setdiff1d(sqlite_ids, index_ids)
    for start in range(0, len(missing), 8192):  # bounded memory, whatever the gap
        ids, vectors = store.vectors_by_ids(missing[start : start + 8192].tolist())
        index.add(ids, truncate_and_normalize(vectors, dimension))
    return index, reason, len(missing), removed


def _refuse_lost_database(data_dir: Path) -> None:
    """A new database beside the saved index of an old one was emptied or replaced (a sync
    tool, a full disk, a bad restore): say so, rather than quietly start an empty library."""
    try:
        sidecar = json.loads((data_dir / SIDECAR_NAME).read_bytes())
    except (OSError, ValueError):
        return
    vectors = sidecar.get("ntotal") if isinstance(sidecar, dict) else None
    if isinstance(vectors, int) and vectors > 0:
        raise DamagedLibrary(
            data_dir,
            f"it is empty, but the vector index beside it holds {vectors} vectors: the "
            "database file was emptied or replaced",
        )


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _salvage_sources(db: Path) -> list[str]:
    """The added folders of a damaged database, when that table can still be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            return [str(row[0]) for row in conn.execute("SELECT path FROM sources")]
    except (sqlite3.Error, ValueError):
        return []
