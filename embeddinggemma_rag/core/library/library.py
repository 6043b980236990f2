"""The library: SQLite (the truth) and FAISS (a rebuildable cache) kept consistent, and search."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.intake.documents import Chunk, PageText, SearchHit, TextBox
from embeddinggemma_rag.core.library import index_shape
from embeddinggemma_rag.core.library.chunk_store import (
    ChunkRecord,
    DocumentRecord,
    ReplaceResult,
    SqliteChunkStore,
)
from embeddinggemma_rag.core.library.library_files import (
    DB_NAME,
    INDEX_NAME,
    SIDECAR_NAME,
    DamagedLibrary,
    ModelMismatch,
    OpenReport,
    database_errors,
    library_error,
    open_files,
    record_clean_close,
    recover,
)
from embeddinggemma_rag.core.library.library_upkeep import IndexUpkeep
from embeddinggemma_rag.core.library.search import (
    FloatArray,
    IdArray,
    QueryVector,
    Ranked,
    search_chunks,
)
from embeddinggemma_rag.core.library.vector_index import FaissIndex

# Meta key: which way (compute_choice.CANDIDATES) the stored vectors were computed.
EMBEDDING_WAY_KEY = "embedding_compute"
_log = logging.getLogger(__name__)

__all__ = [
    "DB_NAME",
    "INDEX_NAME",
    "SIDECAR_NAME",
    "ConsistencyReport",
    "DamagedLibrary",
    "Library",
    "ModelMismatch",
    "OpenReport",
    "library_error",
]


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


class Library(IndexUpkeep):
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
        # Vectors added or removed since the index file was last written whole, and whether
        # the file must be written whole anyway (rebuilt, or of another shape now).
        self._changes_since_save = report.added + report.removed
        self._whole_save_due = report.rebuilt
        self.read_only = False
        self.saved_state: tuple[int, int, int] | None = None
        # The background move to the index shape the library's size wants (index_shape).
        self._reshaper: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def store(self) -> SqliteChunkStore:
        """The database, for reads and `update_file_stat`; chunk writes go through `Library`."""
        return self._store

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
        data_dir = Path(data_dir)
        store, index, report = open_files(
            data_dir, dimension, embedding_model_id, reset_vectors, read_only
        )
        library = cls(data_dir, store, index, embedding_model_id, report)
        library.read_only = read_only
        library.saved_state = library.index_file_state()
        if library._unsaved and not read_only:
            library._save_index_if_possible()  # so the next open loads instead of repairing
        library._reshape_if_due()
        return library

    @staticmethod
    def recover(data_dir: Path) -> Path:
        """See `library_files.recover`."""
        return recover(data_dir)

    @database_errors
    def embedding_way(self) -> str | None:
        """How the stored vectors were computed (`OnnxEmbedder.compute_way`), when recorded."""
        return self._store.get_meta(EMBEDDING_WAY_KEY)

    @database_errors
    def record_embedding_way(self, way: str) -> None:
        """Remember how this library's vectors are computed (never by a read-only reader)."""
        if not self.read_only and self._store.get_meta(EMBEDDING_WAY_KEY) != way:
            self._store.set_meta(EMBEDDING_WAY_KEY, way)

    @database_errors
    def reset_for_model(self, embedding_model_id: str) -> None:
        """Drop every vector and chunk so all documents are embedded again by a new model."""
        with self._write_lock:
            self._store.clear_chunks()
            self._store.set_meta("embedding_model_id", embedding_model_id)
            self.embedding_model_id = embedding_model_id
            with self._index_lock:
                self._index = FaissIndex.create(self.dimension)
            self.save_index()

    @database_errors
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

    @database_errors
    def mark_document(self, record: DocumentRecord) -> list[int]:
        """Record a document that has no chunks (failed, skipped, no text)."""
        with self._write_lock:
            removed = self._store.mark_document(record)
            self._update_index(removed, [], None)
        return removed

    @database_errors
    def remove(self, paths: str | Iterable[str]) -> int:
        """Forget the documents at or under `paths`; returns how many chunks went."""
        with self._write_lock:
            removed = self._store.remove_documents(paths)
            self._update_index(removed, [], None)
        return len(removed)

    def _update_index(self, removed: list[int], added: list[int], vectors: Any) -> None:
        """The index cuts the full vectors to the library's dimension itself."""
        with self._index_lock:
            self._index.remove(removed)
            if added:
                self._index.add(added, vectors)
        self._unsaved = self._unsaved or bool(removed or added)
        self._changes_since_save += len(removed) + len(added)

    @property
    def unsaved_changes(self) -> bool:
        return self._unsaved

    @database_errors
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
                index = self._index
                if index.exact:
                    return index.search(query, n, allowed)
                candidates, _ = index.search(query, n * index_shape.RESCORE_FACTOR, allowed)
            return index_shape.rescore(self._store, candidates, query, n, index.dimension)

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

    @database_errors
    def ocr_page_counts(self) -> dict[str, int]:
        """Document path -> pages read by OCR, for the documents that have any."""
        return self._store.ocr_page_counts()

    @database_errors
    def page_boxes(self, path: str, page: int) -> list[TextBox]:
        """OCR line boxes of one page, for highlighting a passage on the page image."""
        return self._store.page_boxes(path, page)

    @database_errors
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

    @database_errors
    def passage_in_context(self, chunk_id: int, neighbours: int) -> list[ChunkRecord]:
        """The chunk and up to `neighbours` chunks before and after it in its document, in
        reading order; empty when the id is unknown (re-indexed or removed since)."""
        return self._store.chunk_with_neighbours(chunk_id, neighbours)

    @database_errors
    def documents(self, under: str | None = None) -> list[DocumentRecord]:
        return self._store.documents(under)

    @database_errors
    def get_document(self, path: str) -> DocumentRecord | None:
        return self._store.get_document(path)

    @database_errors
    def sources(self) -> list[str]:
        return self._store.sources()

    @database_errors
    def add_source(self, path: str) -> None:
        self._store.add_source(path)

    @database_errors
    def remove_source(self, path: str) -> None:
        """Forget an added folder or file; its documents go with `remove`."""
        self._store.remove_source(path)

    @database_errors
    def counts(self) -> tuple[dict[str, int], int]:
        """(documents per status, chunk count)."""
        return self._store.counts()

    def close(self) -> None:
        """Save unsaved index changes (so the next open needs no repair), then close.

        A save that fails here only costs a repair at the next open: it is logged, not
        raised, so closing the app never fails on a full disk.
        """
        self._closing.set()  # a background index move stops at its next batch
        if self._reshaper is not None:
            self._reshaper.join()
        with self._write_lock:
            try:
                if self._unsaved and not self.read_only:
                    self._save_index_if_possible()
            finally:
                self._keyword_thread.shutdown(wait=True)
                self._store.close()
                if not self.read_only:
                    record_clean_close(self.data_dir)
