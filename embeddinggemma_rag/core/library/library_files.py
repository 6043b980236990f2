"""Opening a library and repairing it: the files, what can go wrong with them, and the
way back (a rebuilt vector index, a recovered database). Using an open library is
core/library/library.py."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.library import index_shape
from embeddinggemma_rag.core.library.chunk_store import FULL_DIMENSION, SqliteChunkStore
from embeddinggemma_rag.core.library.vector_index import EXACT, FaissIndex, read_description

DB_NAME = "library.sqlite3"
INDEX_NAME = "vectors.faiss"
SIDECAR_NAME = "vectors.json"
# The database's size and modification time at the last clean close (`record_clean_close`).
CLEAN_CLOSE_NAME = "library.closed"
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
    # Changes the last save left in SQLite on purpose (a large library is not rewritten for
    # a few files): taking them up is the normal way to open, not a repair.
    deferred: int = 0

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
        if (self.added or self.removed) and self.added + self.removed > self.deferred:
            return f"Repaired the vector index: {self.added} added, {self.removed} removed."
        if self.added or self.removed:
            return (
                f"The vector index was loaded as saved, with {self.added + self.removed} "
                "later changes from the database."
            )
        return "The vector index was loaded as saved."


def database_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn SQLite failures into `LibraryError`s a user can read, damage into `DamagedLibrary`."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            data_dir: Path = args[0].data_dir  # type: ignore[attr-defined]
            raise library_error(data_dir, exc) from exc

    return wrapper


def library_error(data_dir: Path, exc: sqlite3.DatabaseError) -> LibraryError:
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


def recover(data_dir: Path) -> Path:
    """Move a damaged database aside (kept, never deleted) and start an empty library.

    The list of added folders is copied over when it can still be read. Returns the
    path the damaged file was moved to.
    """
    data_dir = Path(data_dir)
    db = data_dir / DB_NAME
    sources = salvage_sources(db)
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


def open_files(
    data_dir: Path,
    dimension: int,
    embedding_model_id: str,
    reset_vectors: bool,
    read_only: bool = False,
) -> tuple[SqliteChunkStore, FaissIndex, OpenReport]:
    """Open the database (checked), the vector index (loaded, or rebuilt from the database,
    then brought up to date) and say what it took. See `Library.open`."""
    if not 1 <= dimension <= FULL_DIMENSION:
        raise ValueError(f"dimension must be between 1 and {FULL_DIMENSION}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    database = data_dir / DB_NAME
    if file_size(database) == 0 and file_size(Path(f"{database}-wal")) == 0:
        # Before SQLite writes a new schema into it. (An empty file beside a WAL is sound:
        # in WAL mode nothing reaches the main file before the first checkpoint.)
        refuse_lost_database(data_dir)
    # Read before SQLite opens the file: its state as the last clean close left it, or not.
    closed_cleanly = closed_cleanly_as_it_is(data_dir, keep_record=read_only)
    try:
        store = SqliteChunkStore(database)
    except sqlite3.DatabaseError as exc:
        raise library_error(data_dir, exc) from exc
    try:
        if not closed_cleanly and not store.integrity_ok(full_text=False):
            raise DamagedLibrary(data_dir, "the integrity check failed")
        if store.get_meta("library_id") is None:
            refuse_lost_database(data_dir)
        stored_model = store.get_meta("embedding_model_id")
        if stored_model != embedding_model_id:
            if stored_model is not None and store.counts()[1]:
                if not reset_vectors:
                    raise ModelMismatch(data_dir, stored_model, embedding_model_id)
                store.clear_chunks()
            store.set_meta("embedding_model_id", embedding_model_id)
        index, reason, added, removed = open_index(store, data_dir, dimension)
    except sqlite3.DatabaseError as exc:
        store.close()
        raise library_error(data_dir, exc) from exc
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
        deferred=noted_changes(data_dir) if not reason else 0,
    )
    return store, index, report


def closed_cleanly_as_it_is(data_dir: Path, keep_record: bool = False) -> bool:
    """The database is exactly as the app's last clean close left it (same size and
    modification time, no write-ahead log), so its structure need not be checked again.

    SQLite's quick_check reads the whole file: 4 s for a million passages (4.8 GB), at every
    start. It runs whenever the file changed since a clean close: after a kill or a crash,
    and after anything else wrote to it (damage, a sync tool, a restore). The record is
    dropped here, so a library that is not closed cleanly is checked next time; a reader
    that never writes (`keep_record`, the MCP server) leaves it for the app."""
    marker = data_dir / CLEAN_CLOSE_NAME
    try:
        recorded = json.loads(marker.read_bytes())
        if not keep_record:
            marker.unlink()
        stat = (data_dir / DB_NAME).stat()
    except (OSError, ValueError):
        return False
    if file_size(Path(f"{data_dir / DB_NAME}-wal")) > 0:
        return False
    return bool(recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def record_clean_close(data_dir: Path) -> None:
    """After the database's last connection closed (its log checkpointed): remember the
    file's state for `closed_cleanly_as_it_is`. Nothing is lost if this fails."""
    try:
        if file_size(Path(f"{data_dir / DB_NAME}-wal")) > 0:
            return  # another process still has it open
        stat = (data_dir / DB_NAME).stat()
        (data_dir / CLEAN_CLOSE_NAME).write_text(
            json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        )
    except OSError:
        pass


def noted_changes(data_dir: Path) -> int:
    """Changes the last save left to SQLite rather than rewrite the index (`Library.save_index`)."""
    sidecar = read_description(data_dir / INDEX_NAME) or {}
    noted = sidecar.get("changes_since_save")
    return noted if isinstance(noted, int) and noted > 0 else 0


def open_index(
    store: SqliteChunkStore, data_dir: Path, dimension: int
) -> tuple[FaissIndex, str, int, int]:
    """Load the saved index if it is this library's, else rebuild it in the shape its size
    wants; then bring it up to date with SQLite.

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
        shape = index_shape.wanted_shape(EXACT, store.counts()[1], dimension)
        index = index_shape.build(store, dimension, shape)  # no re-embedding: SQLite has all
        assert index is not None  # nothing can stop it
    if store.get_meta("dimension") != str(dimension):
        store.set_meta("dimension", str(dimension))
    added, removed = index_shape.catch_up(index, store)
    return index, reason, added, removed


def refuse_lost_database(data_dir: Path) -> None:
    """A new database beside the saved index of an old one was emptied or replaced (a sync
    tool, a full disk, a bad restore): say so, rather than quietly start an empty library."""
    sidecar = read_description(data_dir / INDEX_NAME) or {}
    vectors = sidecar.get("ntotal")
    if isinstance(vectors, int) and vectors > 0:
        raise DamagedLibrary(
            data_dir,
            f"it is empty, but the vector index beside it holds {vectors} vectors: the "
            "database file was emptied or replaced",
        )


def os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def salvage_sources(db: Path) -> list[str]:
    """The added folders of a damaged database, when that table can still be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            return [str(row[0]) for row in conn.execute("SELECT path FROM sources")]
    except (sqlite3.Error, ValueError):
        return []
