"""FAISS inner-product index over normalised vectors, keyed by chunk id, saved atomically.

It takes vectors of any size from its dimension up (the library's full 768-d vectors) and
cuts them to its dimension and normalises them itself (Matryoshka), in what it is trained
on, holds and is asked: a caller never has to know the library's dimension to feed it.

Shapes: exact (`IndexFlatIP`, 4 bytes per dimension, every vector scanned), partitioned
(int8 codes, 1 byte per dimension, in k-means partitions of which a question scans the
nearest few) and compact (int8 codes, all scanned: libraries saved by earlier versions). The
library picks the shape by its size (core/library/index_shape.py) and re-scores an approximate
index's candidates exactly.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.errors import LibraryError
from embeddinggemma_rag.core.library.atomic_files import Crc32, atomic_write
from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
_faiss: Any = faiss  # faiss's type stubs lack its Python-side IO helpers


class DamagedIndex(LibraryError):
    """The index file cannot be read. It is a cache: the library rebuilds it from SQLite."""


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run FAISS on one OpenMP thread inside the block (measured: threads slow one query).

    OpenMP keeps the thread count per calling thread, so this leaves batch work that other
    threads run (rebuilds, bulk adds) on all cores.
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _as_ids(ids: npt.ArrayLike) -> IdArray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


EXACT, COMPACT = "exact", "int8"
_PARTITIONED = re.compile(r"ivf(\d+)-int8")
# Partitions a question scans, and so the share of a partitioned index it reads: 32 of 1,024
# (3 %) found 99.6 % of the exact top 10 among 1M real-model-like vectors after re-scoring,
# 16 found 98.7 % (README, Scale; `benchmarks/scale.py`).
PROBED_PARTITIONS = 32


def partitioned(partitions: int) -> str:
    """The name of the partitioned shape with `partitions` k-means partitions."""
    return f"ivf{partitions}-int8"


def partitions_of(shape: str) -> int:
    """How many partitions `shape` has (0 for the shapes that scan everything)."""
    match = _PARTITIONED.fullmatch(shape)
    return int(match.group(1)) if match else 0


class FaissIndex:
    """Exact or compact: `IndexIDMap2` over `IndexFlatIP(d)` or an int8
    `IndexScalarQuantizer(d)`, flat scans, so a folder scope (an id selector) costs nothing
    extra. Partitioned: `IndexIVFScalarQuantizer` (int8 codes of each vector's offset from its
    partition's centre), which keeps its own ids. All of them can remove (HNSW cannot).

    Not thread-safe for mutation: the owner (`Library`) serialises adds, removes and searches.
    """

    def __init__(self, index: Any) -> None:
        self._index = index
        self._ivf: Any = index if isinstance(index, faiss.IndexIVF) else None

    @classmethod
    def create(
        cls, dimension: int, shape: str = EXACT, training: npt.ArrayLike | None = None
    ) -> FaissIndex:
        """An empty index; a compact or partitioned one learns each dimension's range (and its
        partitions) from `training`, vectors like the ones it will hold (of `dimension` or
        more components: they are cut and normalised as added ones are)."""
        if dimension < 1:
            raise ValueError("dimension must be positive")
        if shape == EXACT:
            return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))
        partitions = partitions_of(shape)
        if shape != COMPACT and not partitions:
            raise ValueError(f"unknown index shape {shape!r}")
        sample = np.asarray(training, dtype=np.float32)
        if sample.ndim != 2 or sample.shape[1] < dimension or len(sample) < max(partitions, 1):
            raise ValueError(f"a {shape} index needs training vectors of its dimension or more")
        sample = truncate_and_normalize(sample, dimension)
        int8, inner_product = faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        if partitions:
            centres = faiss.IndexFlatIP(dimension)
            index = faiss.IndexIVFScalarQuantizer(
                centres, dimension, partitions, int8, inner_product
            )
            index.train(sample)
            return cls(index)
        quantizer = faiss.IndexScalarQuantizer(dimension, int8, inner_product)
        quantizer.train(sample)
        return cls(faiss.IndexIDMap2(quantizer))

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def shape(self) -> str:
        if self._ivf is not None:
            return partitioned(int(self._ivf.nlist))
        inner = faiss.downcast_index(self._index.index)
        return EXACT if isinstance(inner, faiss.IndexFlat) else COMPACT

    @property
    def exact(self) -> bool:
        """Scores are exact inner products (a compact or partitioned index's are within about
        1 %, and a partitioned one may miss a few of the best)."""
        return self.shape == EXACT

    def memory_bytes(self) -> int:
        """What the vectors, ids and partition centres hold in memory."""
        if self._ivf is not None:
            centres = int(self._ivf.nlist) * self.dimension * 4
            return int(self.ntotal * (self._ivf.code_size + 8)) + centres
        return int(self.ntotal * (self._index.index.sa_code_size() + 8))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> IdArray:
        """Every id in the index (in insertion order, or partition by partition)."""
        if self._ivf is None:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
        lists = self._ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(number), size).copy()
            for number in range(lists.nlist)
            if (size := lists.list_size(number))
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add vectors [n, ≥ d] under `ids` (an id present must be removed first), each cut to
        the index's d dimensions and normalised: full 768-d vectors go in as they are stored."""
        id_array = _as_ids(ids)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(id_array) or matrix.shape[1] < self.dimension:
            raise ValueError(
                f"expected {len(id_array)} vectors of at least {self.dimension} dimensions, "
                f"got shape {matrix.shape}"
            )
        if len(id_array):
            self._index.add_with_ids(truncate_and_normalize(matrix, self.dimension), id_array)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove `ids` (absent ones are ignored); returns how many were removed.

        Costs one pass over the whole flat array, so callers remove in batches, not one by one.
        """
        id_array = _as_ids(ids)
        if not len(id_array) or not self.ntotal:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(id_array)))

    def search(
        self, query: npt.ArrayLike, k: int, allowed_ids: npt.ArrayLike | None = None
    ) -> tuple[IdArray, FloatArray]:
        """The `k` nearest ids to one query [≥ d], cut to the index's d dimensions and
        normalised, with their inner products (cosines), best first.

        `allowed_ids` restricts the search to those ids (a folder scope). Fewer than `k` come
        back when fewer exist. Runs on one thread, for interactive latency.

        A partitioned index scans the `PROBED_PARTITIONS` partitions nearest the query, or
        every partition under a scope: a folder's passages may all lie in partitions far from
        the question, and the selector skips the others' codes unread.
        """
        vector = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] < self.dimension:
            raise ValueError(f"query has {vector.shape[1]} dimensions, index {self.dimension}")
        vector = truncate_and_normalize(vector, self.dimension)
        limit = self.ntotal
        params: Any = None
        if self._ivf is not None:
            params = faiss.SearchParametersIVF()
            params.nprobe = min(PROBED_PARTITIONS, int(self._ivf.nlist))
        if allowed_ids is not None:
            allowed = _as_ids(allowed_ids)
            limit = min(limit, len(allowed))
            # The selector must outlive the search: FAISS holds only a raw pointer to it.
            selector = faiss.IDSelectorBatch(allowed)
            if params is None:
                params = faiss.SearchParameters()
            else:
                params.nprobe = int(self._ivf.nlist)
            params.sel = selector
        k = min(k, limit)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        with single_thread():
            scores, labels = self._index.search(vector, k, params=params)
        keep = labels[0] >= 0
        return labels[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def save(self, path: Path, description: Mapping[str, Any] | None = None) -> None:
        """Write the index atomically, then its sidecar `<path>.json` (dimension, ntotal, size
        and `description`), so a kill leaves a file that either loads whole or is rebuilt.

        Writing through a Python file object, not `faiss.write_index(path)`, gives the fsync
        and copes with non-ASCII paths on Windows.
        """
        path = Path(path)
        checksum = Crc32()
        with atomic_write(path) as out:

            def write(data: bytes) -> None:
                checksum.update(data)
                out.write(data)

            faiss.write_index(self._index, _faiss.PyCallbackIOWriter(write))
            out.flush()
            size = out.tell()
        sidecar = {
            **(description or {}),
            "shape": self.shape,
            "dimension": self.dimension,
            "ntotal": self.ntotal,
            "file_size": size,
            # A flipped bit inside a vector loads without complaint and quietly skews every
            # search: the checksum catches it (about 0.5 s for 3 GB) and the index is rebuilt.
            "crc32": checksum.value,
            "saved_at": time.time(),
        }
        _write_description(path, sidecar)

    def note_changes(self, path: Path, description: Mapping[str, Any]) -> bool:
        """Record `description` (changes left in SQLite, say) in the sidecar of the index file
        saved at `path`, leaving the file as it is. False, writing nothing, when no intact
        saved pair is there to note against: the caller saves the whole index then."""
        path = Path(path)
        sidecar = read_description(path)
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if sidecar is None or sidecar.get("file_size") != size:
            return False
        if sidecar.get("dimension") != self.dimension or sidecar.get("shape", EXACT) != self.shape:
            return False
        _write_description(path, {**sidecar, **description, "noted_at": time.time()})
        return True

    @classmethod
    def load_if_described(
        cls, path: Path, expected: Mapping[str, Any]
    ) -> tuple[FaissIndex | None, str]:
        """The saved index if its sidecar holds `expected` and matches the file, else (None, why).

        The size check turns away a truncated file before FAISS reads a word of it.
        """
        path = Path(path)
        try:
            sidecar = json.loads(path.with_suffix(".json").read_bytes())
            size = path.stat().st_size
        except (OSError, ValueError):
            return None, "no saved vector index" if not path.exists() else "no index description"
        if not isinstance(sidecar, dict):  # valid JSON, but not what `save` writes
            return None, "the index description is damaged"
        for key, value in expected.items():
            if sidecar.get(key) != value:
                return None, f"{key} changed from {sidecar.get(key)} to {value}"
        if sidecar.get("file_size") != size:
            return None, "the saved vector index is incomplete (a save was interrupted)"
        try:
            index = cls.load(path, sidecar.get("crc32"))
        except DamagedIndex as exc:
            return None, exc.message
        if index.dimension != sidecar.get("dimension"):
            return None, "the saved vector index does not match its description"
        return index, ""

    @classmethod
    def load(cls, path: Path, crc32: object = None) -> FaissIndex:
        """Read an index written by `save`; raises `DamagedIndex` on anything else, or when
        `crc32` (the sidecar's, if any) does not match the file's contents."""
        checksum = Crc32()
        try:
            with open(path, "rb") as source:

                def read(size: int) -> bytes:
                    data = source.read(size)
                    checksum.update(data)
                    return data

                index = faiss.read_index(_faiss.PyCallbackIOReader(read))
                checksum.update(source.read())  # whatever follows the index counts too
        except (RuntimeError, MemoryError) as exc:
            raise DamagedIndex(f"{path}: the vector index is damaged ({_first_line(exc)})") from exc
        except OSError as exc:
            raise DamagedIndex(f"{path}: cannot read the vector index ({exc})") from exc
        if crc32 is not None and crc32 != checksum.value:
            raise DamagedIndex(f"{path}: the vector index is damaged (its checksum does not match)")
        if not _is_ours(index):
            raise DamagedIndex(f"{path}: not a vector index of this app")
        return cls(index)


def read_description(path: Path) -> dict[str, Any] | None:
    """The sidecar `save` wrote beside the index file at `path`; None when it is missing or
    not what `save` writes."""
    try:
        sidecar = json.loads(Path(path).with_suffix(".json").read_bytes())
    except (OSError, ValueError):
        return None
    return sidecar if isinstance(sidecar, dict) else None


def _write_description(path: Path, sidecar: Mapping[str, Any]) -> None:
    with atomic_write(Path(path).with_suffix(".json")) as out:
        out.write(json.dumps(sidecar, indent=1).encode())


def _is_ours(index: Any) -> bool:
    inner: Any
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        inner, centres = index, faiss.downcast_index(index.quantizer)
        if not isinstance(centres, faiss.IndexFlatIP) or centres.ntotal != index.nlist:
            return False
    elif isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexFlatIP):
            return True
        if not isinstance(inner, faiss.IndexScalarQuantizer):
            return False
    else:
        return False
    return (
        inner.metric_type == faiss.METRIC_INNER_PRODUCT
        and inner.sq.qtype == faiss.ScalarQuantizer.QT_8bit
        and bool(inner.is_trained)
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # FAISS messages start with the C++ function signature; the reason is at the end.
    return text.splitlines()[-1][-200:] if text else type(exc).__name__
