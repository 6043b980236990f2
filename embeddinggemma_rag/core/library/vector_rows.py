"""Reading the stored full vectors back: by id, all in order, a sample. Part of
`SqliteChunkStore` (core/library/chunk_store.py): the library rebuilds and re-scores its vector
index from these, and never embeds again to do so."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.library.keyword_search import under_clause

FULL_DIMENSION = 768  # stored vectors are always full size, so a Matryoshka change never re-embeds
IN_BATCH = 500  # ids per `IN (...)`: far under SQLite's 32,766 bound variables
IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


class VectorRows:
    """The vector reads of `SqliteChunkStore`, which provides `_db()`."""

    def _db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def vectors_by_ids(self, ids: Iterable[int]) -> tuple[IdArray, FloatArray]:
        """(ids found, their full vectors [n, 768]) in the order asked; unknown ids dropped."""
        wanted = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        for batch in batches(wanted):
            sql = f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(batch))})"
            found.update(self._db().execute(sql, batch).fetchall())
        kept = [i for i in wanted if i in found]
        return np.array(kept, np.int64), _matrix([found[i] for i in kept])

    def sample_vectors(self, count: int) -> FloatArray:
        """About `count` full vectors spread over the whole library (every n-th id), for
        learning a compact index's value ranges; all of them in a smaller library."""
        total = self._db().execute("SELECT count(*) FROM chunks").fetchone()[0]
        step = max(1, total // max(count, 1))
        sql = "SELECT vector FROM chunks WHERE id % ? = 0 LIMIT ?"
        rows = self._db().execute(sql, (step, count)).fetchall()
        if len(rows) < min(count, total) // 2:  # ids bunched on few residues: take the first
            rows = self._db().execute("SELECT vector FROM chunks LIMIT ?", (count,)).fetchall()
        return _matrix([r[0] for r in rows])

    def iter_vectors(self, batch: int = 8192) -> Iterator[tuple[IdArray, FloatArray]]:
        """Every chunk's (ids, full vectors) in id order, `batch` rows at a time."""
        last = -1
        while True:
            sql = "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?"
            rows = self._db().execute(sql, (last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield np.array([r[0] for r in rows], np.int64), _matrix([r[1] for r in rows])

    def chunk_ids(self) -> IdArray:
        rows = self._db().execute("SELECT id FROM chunks ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def id_count_and_sum(self, up_to: int) -> tuple[int, int]:
        """How many chunk ids are <= `up_to`, and their sum. Read from the small document
        index, which holds every chunk's id: the table itself holds the chunks' text, and
        scanning it took 1.7 s at a million passages."""
        sql = (
            "SELECT count(*), coalesce(sum(id), 0) FROM chunks INDEXED BY chunks_document "
            "WHERE id <= ?"
        )
        count, total = self._db().execute(sql, (up_to,)).fetchone()
        return int(count), int(total)

    def chunk_ids_after(self, after: int) -> IdArray:
        rows = self._db().execute("SELECT id FROM chunks WHERE id > ? ORDER BY id", (after,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def chunk_ids_under(self, prefix: str) -> IdArray:
        where, params = under_clause("d.path", prefix)
        sql = f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {where}"
        return np.fromiter((r[0] for r in self._db().execute(sql, params)), dtype=np.int64)

    def max_chunk_id(self) -> int:
        return int(self._db().execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0])


def _matrix(blobs: list[bytes]) -> FloatArray:
    flat = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32)
    return flat.reshape(len(blobs), FULL_DIMENSION)


def batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), IN_BATCH):
        yield ids[start : start + IN_BATCH]
