"""The vector index's shape follows the library's size, and every shape is built from SQLite.

Up to a few hundred thousand passages the exact index is small and fast enough. Past that it
holds 4 bytes per dimension per passage (3 GB at a million 768-d passages) and scans them all
for each question (111 ms on one core), so the library moves to the compact int8 index (a
quarter of the memory, about three times faster) and re-scores its best candidates exactly
from the full vectors SQLite keeps. Both thresholds come from `python -m benchmarks --only
scale` (README, Scale).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from embeddinggemma_rag.core.chunk_store import SqliteChunkStore
from embeddinggemma_rag.core.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.vector_index import COMPACT, EXACT, FaissIndex, FloatArray, IdArray

# Passages x dimensions from which the compact index is used: 195k passages at 768
# dimensions (600 MB exact, ~25 ms a question on one core), 586k at 256.
COMPACT_FROM = 150_000_000
# Back to exact only well below it, so a library near the line does not switch back and forth.
EXACT_BELOW = 100_000_000
# A compact index's scores are within about 1 % of the true ones: it proposes this many times
# the candidates asked for, and their exact cosines (from SQLite) decide.
RESCORE_FACTOR = 4
# Vectors a compact index learns each dimension's range from (spread over the library).
TRAINING_VECTORS = 65_536
# Vectors read from SQLite at a time while building: bounded memory, whatever the size.
BATCH = 8192


def wanted_shape(current: str, vectors: int, dimension: int) -> str:
    """The shape an index of `vectors` vectors should have, given the one it has."""
    size = vectors * dimension
    if size >= COMPACT_FROM:
        return COMPACT
    if size < EXACT_BELOW:
        return EXACT
    return current


def build(
    store: SqliteChunkStore,
    dimension: int,
    shape: str,
    stop: threading.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> FaissIndex | None:
    """An index of `shape` over every stored vector, cut to `dimension` (nothing is embedded
    again). None when `stop` was set meanwhile. `on_batch` gets the vectors added so far."""
    training = None
    if shape == COMPACT:
        training = truncate_and_normalize(store.sample_vectors(TRAINING_VECTORS), dimension)
    index = FaissIndex.create(dimension, shape, training)
    added = 0
    for ids, vectors in store.iter_vectors(BATCH):
        if stop is not None and stop.is_set():
            return None
        index.add(ids, truncate_and_normalize(vectors, dimension))
        added += len(ids)
        if on_batch is not None:
            on_batch(added)
    return index


def catch_up(index: FaissIndex, store: SqliteChunkStore) -> tuple[int, int]:
    """Make `index` hold exactly SQLite's chunks: (vectors added, vectors removed).

    Chunk ids are never reused and chunks never change in place, so equal id sets mean equal
    contents, and every chunk stored after the index was saved has a larger id than any in
    it. So when SQLite's ids up to the index's largest match it in number and sum, only the
    newer ones are read (a clean open of a million passages: 0.1 s instead of 5); otherwise
    the whole sets are compared.
    """
    index_ids = index.ids()
    top = int(index_ids.max()) if len(index_ids) else -1
    count, total = store.id_count_and_sum(up_to=top)
    if count == len(index_ids) and total == int(index_ids.sum()):
        removed, missing = 0, store.chunk_ids_after(top)
    else:
        sqlite_ids = store.chunk_ids()
        removed = index.remove(np.setdiff1d(index_ids, sqlite_ids, assume_unique=True))
        missing = np.setdiff1d(sqlite_ids, index_ids, assume_unique=True)
    for start in range(0, len(missing), BATCH):
        ids, vectors = store.vectors_by_ids(missing[start : start + BATCH].tolist())
        index.add(ids, truncate_and_normalize(vectors, index.dimension))
    return len(missing), removed


def rescore(
    store: SqliteChunkStore, candidates: IdArray, query: FloatArray, limit: int
) -> tuple[IdArray, FloatArray]:
    """The `limit` best of a compact index's `candidates` by their exact cosines with the
    (cut, normalised) `query`, from the full vectors; ties to the smaller id. Candidates
    removed meanwhile drop out."""
    ids, vectors = store.vectors_by_ids(candidates.tolist())
    if not len(ids):
        return ids, np.empty(0, np.float32)
    scores = truncate_and_normalize(vectors, len(query)) @ query
    order = np.lexsort((ids, -scores))[:limit]
    return ids[order], scores[order].astype(np.float32)


__all__ = ["COMPACT", "EXACT", "build", "catch_up", "rescore", "wanted_shape"]
