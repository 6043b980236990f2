"""The vector index follows the library's size (exact, then partitioned int8 with exact
re-scoring), and a large index is not rewritten for a few changes. Thresholds are lowered so
a few hundred vectors stand for a few hundred thousand."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from embeddinggemma_rag.core.library import index_shape
from embeddinggemma_rag.core.library import library_upkeep as library_module
from embeddinggemma_rag.core.library.library import INDEX_NAME, SIDECAR_NAME, Library
from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.library.vector_index import COMPACT, EXACT, FaissIndex, partitioned
from tests.core.library.test_library import MODEL, add

DIMENSION = 256
# The partitioned shape of the 320-vector libraries below: 16 partitions (about sqrt(320)).
PARTITIONED = partitioned(16)


def clustered(n: int, seed: int) -> npt.NDArray[np.float32]:
    """Near-duplicates around a few centres: neighbours only a compact index's rounding can
    tell apart, the hard case for re-scoring."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((8, 768)).astype(np.float32)
    vectors = centres[rng.integers(0, 8, n)] + 0.05 * rng.standard_normal((n, 768))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def fill(library: Library, documents: int, per_document: int = 20, seed: int = 0) -> None:
    for number in range(documents):
        texts = [f"passage {number}-{i}" for i in range(per_document)]
        add(library, f"/docs/{number:03}.txt", texts, seed + number)


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partitioned from 300 vectors of 256 dimensions, exact again below 200."""
    monkeypatch.setattr(index_shape, "PARTITION_FROM", 300 * DIMENSION)
    monkeypatch.setattr(index_shape, "EXACT_BELOW", 200 * DIMENSION)


def test_the_wanted_shape_has_a_gap_so_a_library_near_the_line_stays_put() -> None:
    above, between, below = 200_000, 150_000, 100_000
    assert index_shape.wanted_shape(EXACT, above, 768) == partitioned(512)
    assert index_shape.wanted_shape(EXACT, between, 768) == EXACT
    assert index_shape.wanted_shape(partitioned(512), between, 768) == partitioned(512)
    assert index_shape.wanted_shape(partitioned(512), below, 768) == EXACT
    # The same passages cut to 256 dimensions are a third of the size: still exact.
    assert index_shape.wanted_shape(EXACT, above, 256) == EXACT
    # An index saved by an earlier version (int8, unpartitioned) moves on.
    assert index_shape.wanted_shape(COMPACT, between, 768) == partitioned(512)


def test_partitions_follow_the_size_with_a_gap() -> None:
    assert index_shape.partitions_for(1_000_000) == 1024
    assert index_shape.partitions_for(200_000) == 512
    assert index_shape.partitions_for(4_000_000) == 2048
    # Kept from a quarter to four times the size they suit, then built again.
    kept = partitioned(1024)
    assert index_shape.wanted_shape(kept, 300_000, 768) == kept
    assert index_shape.wanted_shape(kept, 4_000_000, 768) == kept
    assert index_shape.wanted_shape(kept, 250_000, 768) == partitioned(512)
    assert index_shape.wanted_shape(kept, 4_500_000, 768) == partitioned(2048)


@pytest.mark.parametrize("shape", [COMPACT, partitioned(8)])
def test_rescoring_puts_an_int8_indexs_candidates_in_exact_order(
    tmp_path: Path, shape: str
) -> None:
    library = Library.open(tmp_path / "library", DIMENSION, MODEL)
    try:
        fill(library, 10)
        exact_index = library._index
        store = library.store
        compact = index_shape.build(store, DIMENSION, shape)
        assert compact is not None and compact.shape == shape
        queries = clustered(30, seed=99)[:, :DIMENSION]
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        for query in queries:
            want_ids, want_scores = exact_index.search(query, 10)
            candidates, _ = compact.search(query, 10 * index_shape.RESCORE_FACTOR)
            ids, scores = index_shape.rescore(store, candidates, query, 10, DIMENSION)
            assert ids.tolist() == want_ids.tolist()
            np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    finally:
        library.close()


def test_a_growing_library_moves_to_the_partitioned_index_and_back_when_it_shrinks(
    tmp_path: Path, small_thresholds: None
) -> None:
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    try:
        fill(library, 10)  # 200 vectors: exact
        library.save_index()
        assert library.wait_for_index_shape(30) == EXACT
        queries = clustered(12, seed=7)
        before = [library.search("", q, 8, "vector") for q in queries]
        fill(library, 10, seed=100)  # replaces the same ten documents: still 200
        fill(library, 6, seed=200)
        for number in range(10, 16):  # 320 vectors in all: past the line
            add(library, f"/docs/{number:03}.txt", ["x"] * 20, 300 + number)
        library.save_index()
        assert library.wait_for_index_shape(30) == PARTITIONED
        assert library.consistency_report().ok
        # Re-scored from the full vectors: the same passages, the same cosines as exact search.
        exact = FaissIndex.create(DIMENSION)
        for ids, vectors in library.store.iter_vectors():
            exact.add(ids, truncate_and_normalize(vectors, DIMENSION))
        for query in queries:
            want, want_scores = exact.search(truncate_and_normalize(query, DIMENSION), 8)
            hits = library.search("", query, 8, "vector")
            assert [h.chunk_id for h in hits] == want.tolist()
            np.testing.assert_allclose([h.score for h in hits], want_scores, atol=1e-5)
        assert len(before) == len(queries)
    finally:
        library.close()
    sidecar = json.loads((data_dir / SIDECAR_NAME).read_text())
    assert sidecar["shape"] == PARTITIONED and sidecar["ntotal"] == 320

    reopened = Library.open(data_dir, DIMENSION, MODEL)
    try:
        assert not reopened.open_report.rebuilt and reopened.wait_for_index_shape(30) == PARTITIONED
        reopened.remove([f"/docs/{n:03}.txt" for n in range(6, 16)])  # 120 left
        reopened.save_index()
        assert reopened.wait_for_index_shape(30) == EXACT
        assert reopened.consistency_report().ok
    finally:
        reopened.close()
    assert json.loads((data_dir / SIDECAR_NAME).read_text())["shape"] == EXACT


def test_a_damaged_partitioned_index_is_rebuilt_partitioned_from_sqlite(
    tmp_path: Path, small_thresholds: None
) -> None:
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 16)
    library.save_index()
    assert library.wait_for_index_shape(30) == PARTITIONED
    library.close()
    index_file = data_dir / INDEX_NAME
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index_file.write_bytes(bytes(data))

    reopened = Library.open(data_dir, DIMENSION, MODEL)
    try:
        assert reopened.open_report.rebuilt
        assert reopened._index.shape == PARTITIONED  # built in the shape its size wants
        assert reopened.consistency_report().ok
    finally:
        reopened.close()


def test_questions_are_answered_while_the_index_changes_shape(
    tmp_path: Path, small_thresholds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The move runs on its own thread: searches go on against the old index meanwhile."""
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    release = threading.Event()
    real_build = index_shape.build

    def slow_build(*args: object, **kwargs: object) -> FaissIndex | None:
        assert release.wait(30)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index_shape, "build", slow_build)
    try:
        fill(library, 16)
        library.save_index()  # starts the move, which waits for `release`
        assert library._index.shape == EXACT
        hits = library.search("", clustered(1, 3)[0], 5, "vector")
        assert len(hits) == 5
        release.set()
        assert library.wait_for_index_shape(30) == PARTITIONED
    finally:
        release.set()
        library.close()


def test_closing_stops_a_move_and_keeps_the_saved_index(
    tmp_path: Path, small_thresholds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 16)
    with monkeypatch.context() as no_move:
        no_move.setattr(library_module.IndexUpkeep, "_reshape_if_due", lambda self: None)
        library.save_index()  # saved exact, no move yet
    batches, first, release = [], threading.Event(), threading.Event()
    real_iter = library.store.iter_vectors

    def held_after_the_first_batch(batch: int = 8192):  # type: ignore[no-untyped-def]
        for item in real_iter(8):  # 40 batches of 8
            batches.append(len(item[0]))
            first.set()
            assert release.wait(30)
            yield item

    monkeypatch.setattr(library.store, "iter_vectors", held_after_the_first_batch)
    library._reshape_if_due()
    assert first.wait(30)
    closer = threading.Thread(target=library.close)
    closer.start()
    while not library._closing.is_set():
        time.sleep(0.01)
    release.set()
    closer.join(30)
    assert not closer.is_alive()
    assert len(batches) <= 2  # stopped at its next batch, not after all 40
    sidecar = json.loads((data_dir / SIDECAR_NAME).read_text())
    assert sidecar["shape"] == EXACT and sidecar["ntotal"] == 320
    reopened = Library.open(data_dir, DIMENSION, MODEL)
    assert not reopened.open_report.rebuilt and reopened.consistency_report().ok
    reopened.close()


def test_a_few_changes_to_a_large_index_are_noted_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_module, "DEFER_SAVES_FROM_BYTES", 0)  # every index is large
    monkeypatch.setattr(library_module, "DEFERRED_CHANGES_MAX", 50)
    monkeypatch.setattr(library_module, "DEFERRED_FRACTION", 1.0)
    data_dir = tmp_path / "library"
    index_file = data_dir / INDEX_NAME
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 10)
    library.save_index()  # the first save is whole (there is nothing to note against)
    written = index_file.read_bytes(), index_file.stat().st_mtime_ns
    add(library, "/docs/new.txt", ["one", "two", "three"], 77)
    library.remove(["/docs/000.txt"])
    library.save_index()
    assert (index_file.read_bytes(), index_file.stat().st_mtime_ns) == written
    assert json.loads((data_dir / SIDECAR_NAME).read_text())["changes_since_save"] == 23
    expected = [h.chunk_id for h in library.search("", clustered(1, 5)[0], 10, "vector")]
    library.close()

    reopened = Library.open(data_dir, DIMENSION, MODEL)
    try:
        report = reopened.open_report
        assert (report.added, report.removed, report.deferred) == (3, 20, 23)
        assert "later changes" in report.describe() and "Repaired" not in report.describe()
        assert reopened.consistency_report().ok
        assert [h.chunk_id for h in reopened.search("", clustered(1, 5)[0], 10, "vector")] == (
            expected
        )
        # Past the allowance the whole index is written again, and the note goes.
        fill(reopened, 3, seed=500)
        reopened.save_index()
        assert index_file.read_bytes() != written[0]
        assert json.loads((data_dir / SIDECAR_NAME).read_text()).get("changes_since_save") is None
    finally:
        reopened.close()


def test_a_small_index_is_always_saved_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 2)
    library.save_index()
    before = (data_dir / INDEX_NAME).read_bytes()
    add(library, "/docs/new.txt", ["one"], 1)
    library.save_index()
    assert (data_dir / INDEX_NAME).read_bytes() != before
    library.close()


def test_a_clean_open_reads_only_the_ids_newer_than_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After additions only, catching up reads the new ids, never the whole id list; after a
    removal it compares the whole sets. Both end consistent."""
    from embeddinggemma_rag.core.library.vector_rows import VectorRows

    monkeypatch.setattr(library_module, "DEFER_SAVES_FROM_BYTES", 0)
    monkeypatch.setattr(library_module, "DEFERRED_CHANGES_MAX", 30)
    monkeypatch.setattr(library_module, "DEFERRED_FRACTION", 1.0)
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 5)
    library.save_index()  # whole: 100 changes are past the allowance
    add(library, "/docs/new.txt", ["one", "two"], 9)
    library.close()  # noted, not rewritten
    whole_lists: list[int] = []
    real_chunk_ids = VectorRows.chunk_ids

    def counted(self: VectorRows) -> object:
        whole_lists.append(1)
        return real_chunk_ids(self)

    monkeypatch.setattr(VectorRows, "chunk_ids", counted)
    reopened = Library.open(data_dir, DIMENSION, MODEL)
    assert (reopened.open_report.added, reopened.open_report.removed) == (2, 0)
    assert not whole_lists
    reopened.remove(["/docs/001.txt"])
    reopened.close()
    again = Library.open(data_dir, DIMENSION, MODEL)
    assert (again.open_report.added, again.open_report.removed) == (2, 20)
    assert whole_lists
    monkeypatch.undo()
    assert again.consistency_report().ok
    again.close()


def test_the_database_is_checked_at_open_unless_it_is_as_a_clean_close_left_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddinggemma_rag.core.library.chunk_store import SqliteChunkStore

    checks: list[bool] = []
    real_check = SqliteChunkStore.integrity_ok

    def counted(self: SqliteChunkStore, full_text: bool = True) -> bool:
        checks.append(full_text)
        return real_check(self, full_text)

    monkeypatch.setattr(SqliteChunkStore, "integrity_ok", counted)
    data_dir = tmp_path / "library"
    library = Library.open(data_dir, DIMENSION, MODEL)
    fill(library, 2)
    library.close()
    checks.clear()
    Library.open(data_dir, DIMENSION, MODEL).close()  # as the clean close left it
    assert checks == []
    # Not closed (a kill): the record was used up at open, so the next open checks.
    abandoned = Library.open(data_dir, DIMENSION, MODEL)
    assert checks == []
    abandoned._store.close()  # the process "dies" without Library.close
    Library.open(data_dir, DIMENSION, MODEL).close()
    assert checks == [False]
    # Written by something else after a clean close: checked.
    checks.clear()
    database = data_dir / "library.sqlite3"
    os.utime(database, ns=(database.stat().st_atime_ns, database.stat().st_mtime_ns + 1000))
    Library.open(data_dir, DIMENSION, MODEL).close()
    assert checks == [False]
