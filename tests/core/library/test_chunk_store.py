"""SQLite chunk store: schema, document round trips, FTS sync, keyword search and scopes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus
from embeddinggemma_rag.core.library import keyword_search
from embeddinggemma_rag.core.library.chunk_store import (
    SCHEMA_VERSION,
    DocumentRecord,
    SqliteChunkStore,
)
from embeddinggemma_rag.core.records import QueryToken


def unit_vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, 768)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def chunks_of(*texts: str) -> list[Chunk]:
    return [
        Chunk(t, 10 * i, 10 * i + len(t), i + 1, i + 1, len(t.split())) for i, t in enumerate(texts)
    ]


def record(path: str, status: FileStatus = FileStatus.INDEXED, **fields: object) -> DocumentRecord:
    values: dict[str, object] = {"size": 10, "mtime_ns": 1, "content_hash": "h", "title": "T"}
    values.update(fields)
    return DocumentRecord(path=path, status=status, **values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> SqliteChunkStore:
    opened = SqliteChunkStore(tmp_path / "library.sqlite3")
    yield opened  # type: ignore[misc]
    opened.close()


def test_schema_and_pragmas(store: SqliteChunkStore, tmp_path: Path) -> None:
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    db = sqlite3.connect(tmp_path / "library.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"meta", "sources", "documents", "chunks", "chunks_keywords"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    conn = store._db()
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    assert store.integrity_ok()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    SqliteChunkStore(path).set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(LibraryError, match="newer version"):
        SqliteChunkStore(path)


def test_meta_and_sources(store: SqliteChunkStore) -> None:
    assert store.get_meta("missing") is None
    store.set_meta("embedding_model_id", "abc")
    store.set_meta("embedding_model_id", "def")
    assert store.get_meta("embedding_model_id") == "def"
    store.add_source("/docs")
    store.add_source("/docs")
    store.add_source("/notes")
    store.remove_source("/notes")
    assert store.sources() == ["/docs"]


def test_replace_round_trip_and_ids(store: SqliteChunkStore) -> None:
    vectors = unit_vectors(2)
    first = store.replace_document(record("/d/a.txt"), chunks_of("alpha one", "beta two"), vectors)
    assert first.removed_ids == [] and len(first.added_ids) == 2
    doc = store.get_document("/d/a.txt")
    assert doc is not None and doc.status is FileStatus.INDEXED and doc.chunk_count == 2
    assert doc.updated_at is not None
    got = store.chunks_by_ids(reversed(first.added_ids))
    assert [c.text for c in got] == ["beta two", "alpha one"]
    assert got[0].path == "/d/a.txt" and got[0].title == "T" and got[0].page_start == 2
    ids, stored = store.vectors_by_ids([*first.added_ids, 12345])
    assert ids.tolist() == first.added_ids
    np.testing.assert_allclose(stored, vectors, atol=1e-6)

    second = store.replace_document(
        record("/d/a.txt", size=11), chunks_of("gamma"), unit_vectors(1, 1)
    )
    assert second.removed_ids == first.added_ids
    assert min(second.added_ids) > max(first.added_ids)  # ids are never reused
    assert store.chunks_by_ids(first.added_ids) == []
    assert store.chunk_ids().tolist() == second.added_ids
    assert store.keyword_search("alpha", 5) == [] and len(store.keyword_search("gamma", 5)) == 1


def test_ids_are_not_reused_after_deleting_the_newest(store: SqliteChunkStore) -> None:
    added = store.replace_document(record("/a"), chunks_of("x"), unit_vectors(1)).added_ids
    store.remove_documents("/a")
    again = store.replace_document(record("/a"), chunks_of("x"), unit_vectors(1)).added_ids
    assert again[0] > added[0]


def test_replace_validates_vectors(store: SqliteChunkStore) -> None:
    with pytest.raises(ValueError):
        store.replace_document(record("/a"), chunks_of("x", "y"), unit_vectors(1))
    bad = unit_vectors(1)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        store.replace_document(record("/a"), chunks_of("x"), bad)
    with pytest.raises(ValueError):  # 3 x 256 holds 768 numbers but is not one vector
        store.replace_document(record("/a"), chunks_of("x"), unit_vectors(3)[:, :256])
    assert store.get_document("/a") is None  # nothing half-written
    assert store.replace_document(record("/a"), [], np.empty(0)).added_ids == []


def test_stored_vectors_are_normalised_full_size(store: SqliteChunkStore) -> None:
    store.replace_document(record("/a"), chunks_of("x"), 3 * unit_vectors(1))
    ((_ids, vectors),) = list(store.iter_vectors())
    assert vectors.shape == (1, 768) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-6)
    assert store.bad_vector_count() == 0


def test_mark_document_removes_old_chunks(store: SqliteChunkStore) -> None:
    added = store.replace_document(record("/a"), chunks_of("old words"), unit_vectors(1)).added_ids
    removed = store.mark_document(record("/a", FileStatus.FAILED, reason="encrypted"))
    assert removed == added
    doc = store.get_document("/a")
    assert doc is not None and doc.status is FileStatus.FAILED and doc.reason == "encrypted"
    assert doc.chunk_count == 0 and store.keyword_search("old", 5) == []
    assert store.counts() == ({"failed": 1}, 0)


def test_remove_documents_by_prefix_and_fts_sync(store: SqliteChunkStore) -> None:
    ids_b = store.replace_document(
        record("/a/b/1.txt"), chunks_of("shared word"), unit_vectors(1)
    ).added_ids
    ids_bc = store.replace_document(
        record("/a/bc/2.txt"), chunks_of("shared word"), unit_vectors(1, 1)
    ).added_ids
    store.mark_document(record("/a/b/3.pdf", FileStatus.NO_TEXT))
    removed = store.remove_documents("/a/b")
    assert removed == ids_b
    assert [d.path for d in store.documents()] == ["/a/bc/2.txt"]
    assert [i for i, _ in store.keyword_search("shared", 5)] == ids_bc
    assert store.integrity_ok()  # the FTS index matches its content table
    assert store.remove_documents(["/nothing", "/a/bc/2.txt"]) == ids_bc
    assert store.counts() == ({}, 0)


def test_scope_matches_on_path_boundaries(store: SqliteChunkStore) -> None:
    for n, path in enumerate(["/a/b/x.txt", "/a/b/sub/y.txt", "/a/bc/z.txt", "/a/B/w.txt"]):
        store.replace_document(record(path), chunks_of(f"needle {n}"), unit_vectors(1, n))
    assert [d.path for d in store.documents("/a/b")] == ["/a/b/sub/y.txt", "/a/b/x.txt"]
    assert [d.path for d in store.documents("/a/b/")] == ["/a/b/sub/y.txt", "/a/b/x.txt"]
    assert [d.path for d in store.documents("/a/b/x.txt")] == ["/a/b/x.txt"]
    assert len(store.chunk_ids_under("/a/b")) == 2 and len(store.chunk_ids_under("/a")) == 4
    under = {
        store.chunks_by_ids([i])[0].path for i, _ in store.keyword_search("needle", 10, "/a/b")
    }
    assert under == {"/a/b/x.txt", "/a/b/sub/y.txt"}
    assert len(store.documents("/")) == 4


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "'",
        "*",
        "-",
        ":",
        "NEAR",
        "NEAR(a b)",
        'a" OR "b',
        "text:needle",
        "-needle*",
        "AND OR NOT",
        "(((",
        "needle^",
        "{needle}",
        "\x00",
        "🙂",
        "col:*",
    ],
)
def test_keyword_search_survives_hostile_punctuation(store: SqliteChunkStore, text: str) -> None:
    store.replace_document(
        record("/a"), chunks_of("a needle in text near haystack"), unit_vectors(1)
    )
    store.keyword_search(text, 5)  # must not raise


def test_keyword_search_ranks_and_folds(store: SqliteChunkStore) -> None:
    store.replace_document(record("/1"), chunks_of("café crème brûlée recipe"), unit_vectors(1))
    store.replace_document(
        record("/2"), chunks_of("a recipe for bread, recipe recipe"), unit_vectors(1, 1)
    )
    store.replace_document(record("/3"), chunks_of("nothing related"), unit_vectors(1, 2))
    hits = store.keyword_search("CAFE creme", 5)  # case and diacritics folded
    assert len(hits) == 1 and store.chunks_by_ids([hits[0][0]])[0].path == "/1"
    ranked = store.keyword_search("recipe bread", 5)
    assert [store.chunks_by_ids([i])[0].path for i, _ in ranked] == ["/2", "/1"]
    assert ranked[0][1] < ranked[1][1] < 0  # FTS5 bm25: lower is better
    assert store.keyword_search("recipe", 0) == [] and store.keyword_search("!!", 5) == []


def test_iter_vectors_in_batches(store: SqliteChunkStore) -> None:
    for n in range(5):
        store.replace_document(record(f"/{n}"), chunks_of("a", "b"), unit_vectors(2, n))
    batches = list(store.iter_vectors(batch=3))
    assert [len(ids) for ids, _ in batches] == [3, 3, 3, 1]
    assert np.concatenate([ids for ids, _ in batches]).tolist() == store.chunk_ids().tolist()
    assert store.max_chunk_id() == store.chunk_ids().max()


def test_clear_chunks_forgets_hashes(store: SqliteChunkStore) -> None:
    store.replace_document(record("/a"), chunks_of("x"), unit_vectors(1))
    store.clear_chunks()
    doc = store.get_document("/a")
    assert doc is not None and doc.content_hash is None and doc.mtime_ns is None
    assert store.counts()[1] == 0 and store.keyword_search("x", 5) == []


def test_update_file_stat(store: SqliteChunkStore) -> None:
    store.replace_document(record("/a"), chunks_of("x"), unit_vectors(1))
    store.update_file_stat("/a", 99, 12345)
    doc = store.get_document("/a")
    assert doc is not None and (doc.size, doc.mtime_ns, doc.chunk_count) == (99, 12345, 1)


def test_reader_thread_is_not_blocked_by_an_open_write(store: SqliteChunkStore) -> None:
    store.replace_document(record("/a"), chunks_of("before"), unit_vectors(1))
    results: list[object] = []
    with store._write() as db:  # a write transaction held open on this thread
        db.execute("DELETE FROM chunks")
        reader = threading.Thread(target=lambda: results.append(store.keyword_search("before", 5)))
        reader.start()
        reader.join(timeout=5)
    assert len(results) == 1 and len(results[0]) == 1  # WAL: the reader saw the last commit


def test_closed_store_raises(tmp_path: Path) -> None:
    store = SqliteChunkStore(tmp_path / "x.sqlite3")
    store.close()
    with pytest.raises(LibraryError, match="closed"):
        store.sources()


def test_connections_of_finished_threads_are_closed(store: SqliteChunkStore) -> None:
    for _ in range(20):
        thread = threading.Thread(target=store.sources)
        thread.start()
        thread.join()
    store.sources()
    assert len(store._connections) <= 2  # this thread's, and at most the last worker's


def test_failed_write_rolls_back(store: SqliteChunkStore) -> None:
    with pytest.raises(RuntimeError), store._write() as db:
        db.execute("INSERT INTO sources VALUES ('/x', 0)")
        raise RuntimeError("boom")
    assert store.sources() == []
    store.add_source("/y")  # no transaction was left open
    assert store.sources() == ["/y"]


def test_keyword_search_leaves_out_words_in_most_chunks(store: SqliteChunkStore) -> None:
    """A word in nearly every chunk of a large library is not scored while rarer words
    remain (keyword_search.selective_terms); alone, it still finds chunks. Scoped search too."""
    texts = [f"the reports number{i} of Café" for i in range(1300)]
    texts[7] += " turbine"
    texts[900] += " turbine turbine"
    store.replace_document(record("/lib/big"), chunks_of(*texts), unit_vectors(len(texts)))
    db = store._db()
    assert keyword_search.TermCounts().holding(db, QueryToken("cafe"), 500) == 500  # the cap
    assert keyword_search.TermCounts().holding(db, QueryToken("cafe"), 5000) == 1300  # folded
    for scope in (None, "/lib"):
        hits = store.keyword_search("what does the reporting say about the turbine", 50, scope)
        # 'the' and 'reporting' (stemmed 'report', as 'reports' in all 1,300 chunks) were
        # left out.
        assert len(hits) == 2
        assert [store.chunks_by_ids([i])[0].ordinal for i, _ in hits] == [900, 7]
    assert len(store.keyword_search("the report", 50)) == 50  # all common: one word kept


def test_a_query_of_common_words_scores_only_the_least_common(store: SqliteChunkStore) -> None:
    """Every word over the common-word line: the least common one alone is scored, found by
    sampling the library (TermCounts.sampled) rather than counting every posting."""
    texts = [f"alpha {'beta' if i % 13 else 'gamma'} item{i}" for i in range(1300)]
    store.replace_document(record("/lib/big"), chunks_of(*texts), unit_vectors(len(texts)))
    # alpha is in all 1,300 chunks, beta in 1,200: both over the line of 1,000.
    for query in ("alpha beta", "beta alpha"):
        hits = store.keyword_search(query, 2000)
        assert len(hits) == 1200
        assert all("beta" in store.chunks_by_ids([i])[0].text for i, _ in hits)


def test_word_counts_are_forgotten_when_any_connection_writes(store: SqliteChunkStore) -> None:
    """The counts behind the common-word cut are remembered between searches, and taken
    again after a write, from this connection or another (another thread's here)."""
    store.replace_document(record("/a"), chunks_of("turbine blade", "pump"), unit_vectors(2))
    counts, db, turbine = keyword_search.TermCounts(), store._db(), QueryToken("turbine")
    assert (counts.total(db), counts.holding(db, turbine, 100)) == (2, 1)
    writer = threading.Thread(
        target=store.replace_document,
        args=(record("/b"), chunks_of("turbine hall", "turbine room"), unit_vectors(2)),
    )
    writer.start()
    writer.join()
    assert (counts.total(db), counts.holding(db, turbine, 100)) == (4, 3)
    store.remove_documents(["/b"])
    assert (counts.total(db), counts.holding(db, turbine, 100)) == (2, 1)


def test_keyword_search_keeps_every_word_in_a_small_library(store: SqliteChunkStore) -> None:
    texts = [f"the report number{i}" for i in range(40)] + ["a turbine"]
    store.replace_document(record("/small"), chunks_of(*texts), unit_vectors(len(texts)))
    assert len(store.keyword_search("the turbine", 100)) == 41
