"""FAISS index in each shape: ids, removal, scoped search, atomic save and damaged files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from embeddinggemma_rag.core.library import vector_index
from embeddinggemma_rag.core.library.vector_index import (
    COMPACT,
    EXACT,
    DamagedIndex,
    FaissIndex,
    partitioned,
    single_thread,
)


def unit_vectors(n: int, d: int, seed: int = 0) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=[EXACT, COMPACT, partitioned(4)])
def index(request: pytest.FixtureRequest) -> FaissIndex:
    training = unit_vectors(5000, 16, seed=42)  # covers the ranges the vectors take
    built = FaissIndex.create(16, request.param, training)
    built.add(np.arange(100, 150), unit_vectors(50, 16))
    assert built.shape == request.param
    return built


def test_search_recovers_each_vector_by_id(index: FaissIndex) -> None:
    vectors = unit_vectors(50, 16)
    for row in (0, 17, 49):
        ids, scores = index.search(vectors[row], 3)
        assert ids[0] == 100 + row
        assert scores[0] == pytest.approx(1.0, abs=1e-5 if index.exact else 0.02)
        assert list(scores) == sorted(scores, reverse=True)


def clusters(n: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """`n` vectors around 16 far-apart centres, and the centre of each."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((16, 32)).astype(np.float32)
    label = rng.integers(0, 16, n)
    vectors = centres[label] + 0.1 * rng.standard_normal((n, 32)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), label


def test_a_partitioned_index_reads_only_the_partitions_near_the_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors, _ = clusters(2000, seed=1)
    index = FaissIndex.create(32, partitioned(16), vectors)
    index.add(np.arange(2000), vectors)
    exact = FaissIndex.create(32)
    exact.add(np.arange(2000), vectors)
    query = vectors[5]
    found, want = index.search(query, 10)[0], exact.search(query, 10)[0]
    assert found[0] == 5 and len(set(found.tolist()) & set(want.tolist())) >= 8  # int8 scores
    # Probing one partition of sixteen returns only that partition's vectors: the near ones.
    monkeypatch.setattr(vector_index, "PROBED_PARTITIONS", 1)
    near = index.search(query, 500)[0]
    assert 0 < len(near) < 500


def test_a_scoped_search_finds_a_folder_far_from_the_question() -> None:
    """A folder's passages may all lie in partitions the question would not probe: a scope
    reads every partition, and finds them all the same."""
    vectors, label = clusters(2000, seed=2)
    index = FaissIndex.create(32, partitioned(16), vectors)
    index.add(np.arange(2000), vectors)
    exact = FaissIndex.create(32)
    exact.add(np.arange(2000), vectors)
    query = vectors[0]
    folder = np.flatnonzero(label != label[0])[:300]  # none near the question
    want = exact.search(query, 10, allowed_ids=folder)[0]
    got = index.search(query, 10, allowed_ids=folder)[0]
    assert len(got) == 10 and len(set(got.tolist()) & set(want.tolist())) >= 8


def test_fewer_than_k_and_empty(index: FaissIndex) -> None:
    ids, scores = index.search(unit_vectors(1, 16, seed=9)[0], 500)
    assert len(ids) == len(scores) == 50 and -1 not in ids
    assert len(FaissIndex.create(16).search(np.ones(16), 5)[0]) == 0
    assert len(index.search(np.ones(16), 0)[0]) == 0


def test_allowed_ids_restrict_the_search(index: FaissIndex) -> None:
    vectors = unit_vectors(50, 16)
    ids, _ = index.search(vectors[0], 10, allowed_ids=np.array([120, 121, 122, 999]))
    assert sorted(ids.tolist()) == [120, 121, 122]
    assert len(index.search(vectors[0], 10, allowed_ids=np.array([], np.int64))[0]) == 0


def test_remove_and_ids(index: FaissIndex) -> None:
    assert index.remove([100, 101, 5000]) == 2
    assert index.ntotal == 48
    assert 100 not in index.ids() and set(index.ids().tolist()) == set(range(102, 150))
    assert index.search(unit_vectors(50, 16)[0], 1)[0][0] != 100
    assert index.remove([]) == 0


def test_shape_checks(index: FaissIndex) -> None:
    with pytest.raises(ValueError):
        index.add([1, 2], unit_vectors(3, 16))
    with pytest.raises(ValueError):
        index.add([1], unit_vectors(1, 8))
    with pytest.raises(ValueError):
        index.search(np.ones(8), 3)


def cut_by_hand(vectors: npt.NDArray[np.float32], d: int) -> npt.NDArray[np.float32]:
    first = vectors[..., :d]
    return first / np.linalg.norm(first, axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", [EXACT, COMPACT, partitioned(4)])
def test_the_index_cuts_full_size_vectors_to_its_own_dimension(shape: str) -> None:
    """768-d vectors and queries go in as they are: the same ids and scores as cutting them
    to the index's 256 dimensions and normalising them first (Matryoshka)."""
    training, vectors = unit_vectors(2000, 768, seed=3), unit_vectors(300, 768, seed=4)
    queries = unit_vectors(5, 768, seed=5)
    full = FaissIndex.create(256, shape, training)
    full.add(np.arange(300), vectors)
    by_hand = FaissIndex.create(256, shape, cut_by_hand(training, 256))
    by_hand.add(np.arange(300), cut_by_hand(vectors, 256))
    for query in queries:
        ids, scores = full.search(query, 10)
        want_ids, want_scores = by_hand.search(cut_by_hand(query, 256), 10)
        assert ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    if shape == EXACT:  # exact scores are the cosines of the cut vectors
        cosines = cut_by_hand(vectors[ids], 256) @ cut_by_hand(queries[-1], 256)
        np.testing.assert_allclose(scores, cosines, atol=1e-6)
    scoped = full.search(queries[0], 5, allowed_ids=np.arange(0, 300, 2))[0]
    assert scoped.tolist() == by_hand.search(queries[0][:256], 5, np.arange(0, 300, 2))[0].tolist()


def test_the_index_leaves_the_callers_vectors_as_they_were() -> None:
    """Cut to its full width, a vector is normalised in a copy, never in the caller's array."""
    vectors = 3 * unit_vectors(20, 16)
    before = vectors.copy()
    index = FaissIndex.create(16)
    index.add(np.arange(20), vectors)
    index.search(vectors[0], 3)
    np.testing.assert_array_equal(vectors, before)
    assert index.search(vectors[0], 1)[1][0] == pytest.approx(1.0, abs=1e-5)


def test_save_load_round_trip_with_sidecar(index: FaissIndex, tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    index.save(path, {"library_id": "abc"})
    assert not (tmp_path / "vectors.faiss.tmp").exists()
    sidecar = json.loads((tmp_path / "vectors.json").read_text())
    assert sidecar["ntotal"] == 50 and sidecar["dimension"] == 16
    assert sidecar["file_size"] == path.stat().st_size
    loaded = FaissIndex.load(path)
    assert np.array_equal(loaded.ids(), index.ids()) and loaded.shape == index.shape
    again, reason = FaissIndex.load_if_described(path, {"library_id": "abc", "dimension": 16})
    assert again is not None and reason == ""
    loaded.add([7], unit_vectors(1, 16, seed=3))  # a loaded index is writable (not mmapped)


def test_load_if_described_refuses_mismatches(index: FaissIndex, tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    assert FaissIndex.load_if_described(path, {})[1] == "no saved vector index"
    index.save(path, {"library_id": "abc"})
    assert FaissIndex.load_if_described(path, {"library_id": "other"})[0] is None
    assert "dimension" in FaissIndex.load_if_described(path, {"dimension": 8})[1]
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 10)
    assert "incomplete" in FaissIndex.load_if_described(path, {})[1]
    (tmp_path / "vectors.json").write_text("{not json")
    assert FaissIndex.load_if_described(path, {})[0] is None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_raise_a_clear_error(index: FaissIndex, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "vectors.faiss"
    index.save(path)
    data = path.read_bytes()
    replacement = {
        "truncate": data[: len(data) // 2],
        "garbage": np.random.default_rng(1).bytes(len(data)),
        "empty": b"",
    }[damage]
    path.write_bytes(replacement)
    with pytest.raises(DamagedIndex, match="damaged"):
        FaissIndex.load(path)


def test_single_thread_is_per_thread_and_restored() -> None:
    before = faiss.omp_get_max_threads()
    seen: list[int] = []
    with single_thread():
        assert faiss.omp_get_max_threads() == 1
        # Another thread keeps its own OpenMP setting, so batch work elsewhere stays parallel.
        worker = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
        worker.start()
        worker.join()
    assert faiss.omp_get_max_threads() == before
    assert seen == [before]
