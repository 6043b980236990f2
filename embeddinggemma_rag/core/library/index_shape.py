"""The vector index's shape follows the library's size, and every shape is built from SQLite.

Up to a couple of hundred thousand passages the exact index is small and fast enough. Past
that it holds 4 bytes per dimension per passage (3 GB at a million 768-d passages) and scans
them all for each question (111 ms on one core; int8 codes of them all still 150 ms, memory
bound), so the library moves to the partitioned index: int8 codes (a quarter of the memory)
in about sqrt(n) k-means partitions, of which a question scans the 32 nearest (about 5 ms
at a million), and its best candidates are re-scored exactly from the full vectors SQLite
keeps. The thresholds and the probe count come from `python -m benchmarks --only scale`
(README, Scale).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from embeddinggemma_rag.core.library.chunk_store import SqliteChunkStore
from embeddinggemma_rag.core.library.matryoshka import cosines_at
from embeddinggemma_rag.core.library.vector_index import (
    COMPACT,
    EXACT,
    FaissIndex,
    FloatArray,
    IdArray,
    partitioned,
    partitions_of,
)

# Passages x dimensions from which the partitioned index is used: 195k passages at 768
# dimensions (600 MB exact, ~25 ms a question on one core), 586k at 256.
PARTITION_FROM = 150_000_000
# Back to exact only well below it, so a library near the line does not switch back and forth.
EXACT_BELOW = 100_000_000
# An int8 index's scores are within about 1 % of the true ones: it proposes this many times
# the candidates asked for, and their exact cosines (from SQLite) decide.
RESCORE_FACTOR = 4
# Vectors an int8 index learns each dimension's range from (spread over the library), and
# per partition at least (k-means wants some 40 points for each centre).
TRAINING_VECTORS = 65_536
TRAINING_PER_PARTITION = 64
# Vectors read from SQLite at a time while building: bounded memory, whatever the size.
BATCH = 8192


def partitions_for(vectors: int) -> int:
    """About sqrt(n) partitions, a power of two: 1,024 for a million vectors, so a question's
    32 partitions hold about 3 % of them."""
    return 1 << max(0, round(math.log2(max(vectors, 1)) / 2))


def wanted_shape(current: str, vectors: int, dimension: int) -> str:
    """The shape an index of `vectors` vectors should have, given the one it has.

    A partitioned index keeps its partitions while sqrt(n) stays within half to twice their
    number (a quarter to four times the size it was built for): beyond that the partitions
    grow long (slower questions) or few vectors train each (worse recall), and it is built
    again."""
    size = vectors * dimension
    if size < EXACT_BELOW or (size < PARTITION_FROM and current == EXACT):
        return EXACT
    partitions = partitions_of(current)
    if partitions and partitions / 2 <= math.sqrt(vectors) <= partitions * 2:
        return current
    return partitioned(partitions_for(vectors))


def build(
    store: SqliteChunkStore,
    dimension: int,
    shape: str,
    stop: threading.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> FaissIndex | None:
    """An index of `shape` over every stored vector, cut to `dimension` by the index (nothing
    is embedded again). None when `stop` was set meanwhile. `on_batch` gets the vectors added
    so far."""
    training = None
    if shape != EXACT:
        wanted = max(TRAINING_VECTORS, TRAINING_PER_PARTITION * partitions_of(shape))
        training = store.sample_vectors(wanted)
    index = FaissIndex.create(dimension, shape, training)
    added = 0
    for ids, vectors in store.iter_vectors(BATCH):
        if stop is not None and stop.is_set():
            return None
        index.add(ids, vectors)
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
        index.add(ids, vectors)
    return len(missing), removed


def rescore(
    store: SqliteChunkStore,
    candidates: IdArray,
    query: FloatArray,
    limit: int,
    dimension: int,
) -> tuple[IdArray, FloatArray]:
    """The `limit` best of an int8 index's `candidates` by their exact cosines with `query`
    at `dimension` (the index's), from the full vectors; ties to the smaller id. Candidates
    removed meanwhile drop out."""
    ids, vectors = store.vectors_by_ids(candidates.tolist())
    if not len(ids):
        return ids, np.empty(0, np.float32)
    scores = cosines_at(vectors, query, dimension)
    order = np.lexsort((ids, -scores))[:limit]
    return ids[order], scores[order].astype(np.float32)


__all__ = ["COMPACT", "EXACT", "build", "catch_up", "partitions_for", "rescore", "wanted_shape"]
