"""Keeping the vector index on disk and in the shape the library's size wants: when a save
writes the whole index and when it only notes the changes SQLite holds, and the background
move between the exact and the partitioned index (core/library/index_shape.py). Part of
`Library`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.library import index_shape
from embeddinggemma_rag.core.library.chunk_store import SqliteChunkStore
from embeddinggemma_rag.core.library.library_files import (
    INDEX_NAME,
    SIDECAR_NAME,
    database_errors,
    os_reason,
)
from embeddinggemma_rag.core.library.vector_index import FaissIndex

# Saving rewrites the whole vector index. From this size on (about 20k passages at 768
# dimensions), a save that follows a few changes only notes them beside the index: SQLite
# holds them, and the next open takes them up (index_shape.catch_up), in time proportional
# to the changes. The whole index is rewritten once they pass `DEFERRED_CHANGES_MAX`.
DEFER_SAVES_FROM_BYTES = 64_000_000
# At most this many changes, or this fraction of the index, wait for a whole save: reading
# 20k vectors back at open takes about 0.2 s.
DEFERRED_CHANGES_MAX = 20_000
DEFERRED_FRACTION = 0.02
_log = logging.getLogger(__name__)


class IndexUpkeep:
    """The vector index's saving and shape, mixed into `Library`, which sets these fields."""

    data_dir: Path
    embedding_model_id: str
    read_only: bool
    saved_state: tuple[int, int, int] | None
    _store: SqliteChunkStore
    _index: FaissIndex
    _write_lock: threading.RLock
    _index_lock: threading.Lock
    _unsaved: bool
    _changes_since_save: int
    _whole_save_due: bool
    _reshaper: threading.Thread | None
    _closing: threading.Event

    @property
    def dimension(self) -> int:
        return self._index.dimension

    def index_file_state(self) -> tuple[int, int, int] | None:
        """(mtime_ns, size, the description's mtime_ns) of the saved vector index: a reader
        compares it with what it opened to see that another process saved newer vectors or
        noted changes it left in SQLite."""
        try:
            stat = (self.data_dir / INDEX_NAME).stat()
            noted = (self.data_dir / SIDECAR_NAME).stat().st_mtime_ns
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, noted

    def changed_on_disk(self) -> bool:
        """Another process saved the vector index since this one opened or saved it."""
        return self.index_file_state() != self.saved_state

    @database_errors
    def save_index(self) -> None:
        """Make the index's changes durable: the whole index written atomically, then its
        sidecar, so a kill leaves a loadable pair; or, for a large index and few changes, only
        a note of them in the sidecar (`DEFER_SAVES_FROM_BYTES`), since SQLite has them.

        A failed save (disk full, I/O error) raises LibraryError and leaves the previous
        pair as it was; SQLite still holds every vector, so nothing is lost.
        """
        with self._write_lock:
            path = self.data_dir / INDEX_NAME
            description = {
                "format": 1,
                "embedding_model_id": self.embedding_model_id,
                "library_id": self._store.get_meta("library_id"),
                # SQLite's state at save time: after a crash, tells which side was ahead.
                "sqlite_chunks": self._store.counts()[1],
                "sqlite_max_chunk_id": self._store.max_chunk_id(),
            }
            # Searches go on meanwhile: saving only reads the index, and mutations need this lock.
            try:
                if not self._whole_save_due_now() and self._index.note_changes(
                    path, {**description, "changes_since_save": self._changes_since_save}
                ):
                    self._unsaved = False
                else:
                    self._index.save(path, description)
                    self._unsaved = self._whole_save_due = False
                    self._changes_since_save = 0
            except OSError as exc:
                raise LibraryError(
                    f"{path}: the vector index could not be saved ({os_reason(exc)}). "
                    "The documents are safe in the database and the index is rebuilt from it "
                    "at the next start; free some space and sync again."
                ) from exc
            self.saved_state = self.index_file_state()
        self._reshape_if_due()

    def _whole_save_due_now(self) -> bool:
        if self._whole_save_due or self._index.memory_bytes() < DEFER_SAVES_FROM_BYTES:
            return True
        allowed = min(DEFERRED_CHANGES_MAX, DEFERRED_FRACTION * self._index.ntotal)
        return self._changes_since_save > allowed

    def _reshape_if_due(self) -> None:
        """Move to the index shape the library's size wants, on a background thread: the
        current index answers questions meanwhile. The app's own library only: a reader
        (read-only) takes whatever the app saved."""
        if self.read_only or self._closing.is_set():
            return
        with self._index_lock:
            shape = self._index.shape
            wanted = index_shape.wanted_shape(shape, self._index.ntotal, self.dimension)
        if wanted == shape or (self._reshaper is not None and self._reshaper.is_alive()):
            return
        self._reshaper = threading.Thread(
            target=self._reshape, args=(wanted,), name="index-reshape", daemon=True
        )
        self._reshaper.start()

    def _reshape(self, shape: str) -> None:
        """Build the `shape` index from SQLite, take up what changed meanwhile, swap, save.

        A kill at any point leaves the saved index of the old shape, which loads as before;
        a failed save (a full disk) keeps the old file, and the next open tries again."""
        try:
            index = index_shape.build(self._store, self.dimension, shape, self._closing)
            if index is None:
                return  # closing
            with self._write_lock:
                if self._closing.is_set():
                    return
                index_shape.catch_up(index, self._store)  # ingests that ran meanwhile
                with self._index_lock:
                    self._index = index
                self._unsaved = self._whole_save_due = True
                _log.info("vector index now %s: %d vectors", shape, index.ntotal)
                self._save_index_if_possible()
        except Exception:  # a background thread: say why, keep the old index
            _log.exception("%s: moving the vector index to %s failed", self.data_dir, shape)

    def wait_for_index_shape(self, timeout: float | None = None) -> str:
        """The index's shape once no background move is running (tests, benchmarks)."""
        reshaper = self._reshaper
        if reshaper is not None:
            reshaper.join(timeout)
        return self._index.shape

    def _save_index_if_possible(self) -> None:
        """Save now if the disk lets us; else the next open repairs from SQLite again."""
        try:
            self.save_index()
        except LibraryError as exc:
            _log.warning("%s", exc)
