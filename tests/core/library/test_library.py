"""Library: SQLite and FAISS kept consistent through edits, reopenings, damage and kills."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import embeddinggemma_rag
from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus
from embeddinggemma_rag.core.library.chunk_store import DocumentRecord
from embeddinggemma_rag.core.library.library import (
    DB_NAME,
    INDEX_NAME,
    SIDECAR_NAME,
    DamagedLibrary,
    Library,
    ModelMismatch,
)
from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize

MODEL = "sha256-model-a"


def unit_vectors(n: int, seed: int) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, 768)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(path: str, status: FileStatus = FileStatus.INDEXED) -> DocumentRecord:
    return DocumentRecord(path, 10, 1, "hash", Path(path).stem, status)


def add(library: Library, path: str, texts: list[str], seed: int) -> npt.NDArray[np.float32]:
    chunks = [Chunk(t, 0, len(t), 1, 1, len(t.split())) for t in texts]
    vectors = unit_vectors(len(texts), seed)
    library.replace_document(record(path), chunks, vectors)
    return vectors


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def library(data_dir: Path) -> Iterator[Library]:
    opened = Library.open(data_dir, 768, MODEL)
    yield opened
    opened.close()


def fill(library: Library) -> dict[str, npt.NDArray[np.float32]]:
    return {
        "/docs/a.txt": add(library, "/docs/a.txt", ["solar panels on roofs", "wind turbines"], 1),
        "/docs/sub/b.txt": add(library, "/docs/sub/b.txt", ["tax forms for 2024"], 2),
        "/docsx/c.txt": add(library, "/docsx/c.txt", ["solar eclipse photos"], 3),
    }


def test_open_creates_the_library(data_dir: Path) -> None:
    library = Library.open(data_dir, 768, MODEL)
    assert (data_dir / DB_NAME).exists() and (data_dir / INDEX_NAME).exists()
    assert library.open_report.rebuilt and library.open_report.reason == "no saved vector index"
    assert library.open_report.describe() == "The vector index is empty."
    assert library.consistency_report().ok and library.dimension == 768
    library.close()
    again = Library.open(data_dir, 768, MODEL)
    assert not again.open_report.rebuilt and "loaded" in again.open_report.describe()
    again.close()


def test_round_trips_keep_faiss_and_sqlite_equal(library: Library) -> None:
    fill(library)
    assert library.consistency_report().ok
    assert library.counts() == ({"indexed": 3}, 4)
    add(library, "/docs/a.txt", ["only one chunk now"], 4)
    library.mark_document(record("/docs/sub/b.txt", FileStatus.FAILED))
    report = library.consistency_report()
    assert report.ok and report.sqlite_chunks == report.index_vectors == 2
    assert library.remove(["/docs"]) == 1
    assert [d.path for d in library.documents()] == ["/docsx/c.txt"]
    assert library.consistency_report().ok and library.counts()[1] == 1
    library.add_source("/docs")
    assert library.sources() == ["/docs"]
    library.remove_source("/docs")
    assert library.sources() == [] and library.get_document("/docsx/c.txt") is not None


def test_vector_search_finds_the_exact_vector(library: Library) -> None:
    vectors = fill(library)
    hits = library.search("", vectors["/docs/sub/b.txt"][0], 3, mode="vector")
    assert hits[0].path == "/docs/sub/b.txt" and hits[0].text == "tax forms for 2024"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) == hits[0].similarity
    assert hits[0].title == "b" and hits[0].page == 1
    assert len(library.search("", vectors["/docs/a.txt"][0], 50, mode="vector")) == 4
    with pytest.raises(ValueError):
        library.search("x", None, 3, mode="vector")
    with pytest.raises(ValueError):
        library.search("x", None, 3, mode="nonsense")


def test_keyword_search_scores_and_similarity(library: Library) -> None:
    vectors = fill(library)
    query = vectors["/docs/a.txt"][1]
    hits = library.search("solar", query, 5, mode="keyword")
    assert {h.path for h in hits} == {"/docs/a.txt", "/docsx/c.txt"}
    assert all(h.score > 0 for h in hits)  # -bm25
    for hit in hits:  # cosine from the stored vector, even for keyword hits
        stored = library.store.vectors_by_ids([hit.chunk_id])[1][0]
        assert hit.similarity == pytest.approx(float(stored @ query), abs=1e-5)
    assert library.search("solar", None, 5, mode="keyword")[0].similarity is None
    assert library.search('"*:-', None, 5, mode="keyword") == []


def test_hybrid_mixes_both_lists(library: Library) -> None:
    vectors = fill(library)
    # The vector points at "wind turbines"; the words at the eclipse and solar chunks.
    hits = library.search("eclipse", vectors["/docs/a.txt"][1], 3, mode="hybrid")
    texts = [h.text for h in hits]
    assert "wind turbines" in texts and "solar eclipse photos" in texts
    assert all(h.similarity is not None for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # Found by both lists: ranks first, cosine 1 and the best keyword score make 1.
    both = library.search("wind", vectors["/docs/a.txt"][1], 3, mode="hybrid")
    assert both[0].text == "wind turbines" and both[0].score == pytest.approx(1.0, abs=1e-5)
    keyword_only = library.search("eclipse", None, 3, mode="hybrid")
    assert [h.text for h in keyword_only] == ["solar eclipse photos"]


def test_a_deferred_query_vector_overlaps_the_keyword_search(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a function that embeds the query, hybrid search scores keywords on the library's
    own thread meanwhile, and finds exactly what it finds from a ready vector."""
    vectors = fill(library)
    query = vectors["/docs/a.txt"][1]
    keyword_threads: list[str] = []
    keyword_search = library.store.keyword_search

    def spying(*args: object) -> list[tuple[int, float]]:
        keyword_threads.append(threading.current_thread().name)
        return keyword_search(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(library.store, "keyword_search", spying)
    for scope in (None, "/docs"):
        ready = library.search("solar eclipse", query, 4, "hybrid", scope)
        deferred = library.search("solar eclipse", lambda: query, 4, "hybrid", scope)
        assert [(h.chunk_id, h.score, h.similarity) for h in deferred] == [
            (h.chunk_id, h.score, h.similarity) for h in ready
        ]
    assert keyword_threads[0] == threading.current_thread().name
    assert keyword_threads[1].startswith("keyword-search")

    def failing() -> npt.NDArray[np.float32]:
        raise RuntimeError("embedding failed")

    with pytest.raises(RuntimeError, match="embedding failed"):
        library.search("solar", failing, 4, "hybrid")
    assert library.search("solar", lambda: query, 4, "hybrid")  # the thread is still usable


def test_scope_limits_every_mode(library: Library) -> None:
    vectors = fill(library)
    query = vectors["/docsx/c.txt"][0]
    for mode in ("vector", "keyword", "hybrid"):
        hits = library.search("solar tax wind", query, 10, mode=mode, scope="/docs")
        assert hits and all(h.path.startswith("/docs/") for h in hits), mode
    file_scope = library.search("solar", query, 10, mode="hybrid", scope="/docsx/c.txt")
    assert {h.path for h in file_scope} == {"/docsx/c.txt"}
    assert library.search("solar", query, 10, scope="/nowhere") == []


def test_dimension_change_recuts_stored_vectors(data_dir: Path) -> None:
    library = Library.open(data_dir, 768, MODEL)
    vectors = fill(library)
    ids_before = library.store.chunk_ids().tolist()
    library.close()
    small = Library.open(data_dir, 256, MODEL)
    assert small.open_report.rebuilt and "dimension" in small.open_report.reason
    assert "Rebuilt" in small.open_report.describe() and small.open_report.vectors == 4
    assert small.dimension == 256 and small.store.get_meta("dimension") == "256"
    assert small.store.chunk_ids().tolist() == ids_before  # nothing was re-embedded
    assert small.consistency_report().ok
    query = vectors["/docs/sub/b.txt"][0]
    hit = small.search("", query, 1, mode="vector")[0]
    assert hit.path == "/docs/sub/b.txt" and hit.similarity == pytest.approx(1.0, abs=1e-5)
    # Every score is the cosine of the cut, re-normalised vectors.
    stored = small.store.vectors_by_ids([h.chunk_id for h in small.search("", query, 4, "vector")])
    cut = truncate_and_normalize(stored[1], 256) @ truncate_and_normalize(query, 256)
    assert [h.score for h in small.search("", query, 4, "vector")] == pytest.approx(
        cut.tolist(), abs=1e-5
    )
    add(small, "/new.txt", ["fresh"], 9)
    small.close()
    reopened = Library.open(data_dir, 256, MODEL)
    assert not reopened.open_report.rebuilt and reopened.consistency_report().ok
    reopened.close()


def test_model_mismatch_is_refused(data_dir: Path) -> None:
    library = Library.open(data_dir, 768, MODEL)
    fill(library)
    library.close()
    with pytest.raises(ModelMismatch, match="re-index") as caught:
        Library.open(data_dir, 768, "sha256-model-b")
    assert isinstance(caught.value, LibraryError)
    reset = Library.open(data_dir, 768, "sha256-model-b", reset_vectors=True)
    assert reset.counts()[1] == 0 and reset.consistency_report().ok
    doc = reset.get_document("/docs/a.txt")
    assert doc is not None and doc.content_hash is None  # re-embedded on the next sync
    reset.close()
    again = Library.open(data_dir, 768, "sha256-model-b")
    assert again.embedding_model_id == "sha256-model-b" and not again.open_report.rebuilt
    again.close()


def test_reset_for_model_and_empty_library_switches(library: Library, data_dir: Path) -> None:
    fill(library)
    library.reset_for_model("sha256-model-c")
    assert library.counts()[1] == 0 and library.consistency_report().ok
    assert library.store.get_meta("embedding_model_id") == "sha256-model-c"
    library.close()
    # Empty of chunks: another model may simply take over.
    other = Library.open(data_dir, 768, "sha256-model-d")
    assert other.store.get_meta("embedding_model_id") == "sha256-model-d"
    other.close()


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "no_sidecar"])
def test_damaged_index_is_rebuilt(data_dir: Path, damage: str) -> None:
    library = Library.open(data_dir, 768, MODEL)
    vectors = fill(library)
    library.close()
    index = data_dir / INDEX_NAME
    if damage == "missing":
        index.unlink()
    elif damage == "truncated":
        index.write_bytes(index.read_bytes()[:100])
    elif damage == "garbage":
        index.write_bytes(random.Random(1).randbytes(index.stat().st_size))
    else:
        (data_dir / SIDECAR_NAME).unlink()
    reopened = Library.open(data_dir, 768, MODEL)
    assert reopened.open_report.rebuilt and reopened.consistency_report().ok
    assert reopened.search("", vectors["/docs/a.txt"][0], 1, "vector")[0].path == "/docs/a.txt"
    reopened.close()
    healed = Library.open(data_dir, 768, MODEL)
    assert not healed.open_report.rebuilt  # the rebuilt index was saved
    healed.close()


def test_stale_index_is_reconciled(data_dir: Path, tmp_path: Path) -> None:
    library = Library.open(data_dir, 768, MODEL)
    add(library, "/a.txt", ["first"], 1)
    library.save_index()
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in (INDEX_NAME, SIDECAR_NAME):
        shutil.copy(data_dir / name, saved / name)
    add(library, "/b.txt", ["second", "third"], 2)  # committed to SQLite after the save
    library.close()
    for name in (INDEX_NAME, SIDECAR_NAME):  # as if killed before the next save
        shutil.copy(saved / name, data_dir / name)
    more = Library.open(data_dir, 768, MODEL)
    assert (more.open_report.added, more.open_report.removed) == (2, 0)
    assert more.consistency_report().ok and "Repaired" in more.open_report.describe()
    assert {h.path for h in more.search("third", None, 5, "keyword")} == {"/b.txt"}

    more.save_index()
    for name in (INDEX_NAME, SIDECAR_NAME):
        shutil.copy(data_dir / name, saved / name)
    more.remove(["/b.txt"])
    more.close()
    for name in (INDEX_NAME, SIDECAR_NAME):  # the index still holds /b.txt's vectors
        shutil.copy(saved / name, data_dir / name)
    fewer = Library.open(data_dir, 768, MODEL)
    assert (fewer.open_report.added, fewer.open_report.removed) == (0, 2)
    assert fewer.consistency_report().ok
    query = unit_vectors(2, 2)[0]
    assert all(h.path == "/a.txt" for h in fewer.search("", query, 5, "vector"))
    fewer.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_database_raises_and_recovers(data_dir: Path, damage: str) -> None:
    library = Library.open(data_dir, 768, MODEL)
    library.add_source("/docs")
    fill(library)
    library.close()
    db = data_dir / DB_NAME
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 500)
    else:
        with open(db, "r+b") as file:
            file.seek(4096 + 100)
            file.write(random.Random(2).randbytes(4096 * 3))
    with pytest.raises(DamagedLibrary, match="damaged") as caught:
        Library.open(data_dir, 768, MODEL)
    assert "Recover" in str(caught.value) and isinstance(caught.value, LibraryError)
    aside = Library.recover(data_dir)
    assert aside.exists() and aside.name.startswith(f"{DB_NAME}.damaged-")
    recovered = Library.open(data_dir, 768, MODEL)
    assert recovered.counts() == ({}, 0) and recovered.consistency_report().ok
    recovered.close()


def test_recover_keeps_readable_sources(data_dir: Path) -> None:
    library = Library.open(data_dir, 768, MODEL)
    library.add_source("/docs")
    fill(library)
    library.close()
    Library.recover(data_dir)
    recovered = Library.open(data_dir, 768, MODEL)
    assert recovered.sources() == ["/docs"] and recovered.counts()[1] == 0
    assert recovered.consistency_report().ok
    recovered.close()


def test_search_while_another_thread_writes(library: Library) -> None:
    paths = [f"/docs/{n}.txt" for n in range(5)]
    for n, path in enumerate(paths):
        add(library, path, [f"marker{n} start"], n)
    stop = threading.Event()
    errors: list[BaseException] = []
    searches = 0

    def writer() -> None:
        try:
            for step in range(150):
                n = step % 5
                texts = [f"marker{n} part {j} step {step}" for j in range(1 + step % 3)]
                add(library, paths[n], texts, 100 + step)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        nonlocal searches
        rng = np.random.default_rng(7)
        try:
            while not stop.is_set():
                query = rng.standard_normal(768).astype(np.float32)
                for hit in library.search("marker1 marker3 part", query, 6, "hybrid", "/docs"):
                    n = int(Path(hit.path).stem)
                    assert hit.text.startswith(f"marker{n} ")  # text belongs to its path
                searches += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert searches > 10
    assert library.consistency_report().ok


KILLED_WRITER = """
import sys
from pathlib import Path
import numpy as np
from embeddinggemma_rag.core.library.chunk_store import DocumentRecord
from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus
from embeddinggemma_rag.core.library.library import Library

library = Library.open(Path(sys.argv[1]), 256, "sha256-model-a")
rng = np.random.default_rng(int(sys.argv[2]))
print("ready", flush=True)
step = 0
while True:
    step += 1
    path = f"/docs/{rng.integers(0, 40)}.txt"
    roll = rng.random()
    if roll < 0.1:
        library.remove([path])
    elif roll < 0.2:
        library.mark_document(DocumentRecord(path, 1, step, None, None, FileStatus.FAILED, "x"))
    else:
        n = int(rng.integers(1, 8))
        chunks = [Chunk(f"{path} part {j} step {step}", 0, 9, None, None, 6) for j in range(n)]
        record = DocumentRecord(path, 1, step, "h", "t", FileStatus.INDEXED)
        library.replace_document(record, chunks, rng.standard_normal((n, 768)))
    if step % 5 == 0:
        library.save_index()
"""


@pytest.mark.slow
def test_kill_at_any_moment_heals_on_open(data_dir: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(embeddinggemma_rag.__file__).parents[1]))
    rng = random.Random(42)
    for round_ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(data_dir), str(round_)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        child.kill()  # SIGKILL on POSIX: no cleanup, no atexit, mid-write at any point
        child.wait()
        child.stdout.close()
        library = Library.open(data_dir, 256, "sha256-model-a")
        report = library.consistency_report()
        assert report.ok, (round_, report, library.open_report)
        assert library.store.integrity_ok()
        library.close()
    library = Library.open(data_dir, 256, "sha256-model-a")
    assert library.counts()[1] > 0
    library.close()
