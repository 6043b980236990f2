"""Synthetic libraries of 10k to 1M chunks, built through the app's own `Library`: Zipf-like
text for the keyword index and clustered unit vectors for the vector index. Cached."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import CACHE, log
from benchmarks.corpus import _RARE, _WORDS

CHUNKS_PER_DOCUMENT = 100
WORDS_PER_CHUNK = 70  # about 450 characters: shorter than real chunks, so 1M stays a few GB
CLUSTERS = 2000
DIMENSION = 768


def vocabulary() -> list[str]:
    """Common English first (the corpus' words), then rarer made-up terms: ranks for a Zipf law."""
    made_up = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "po", "ru", "si", "te") for b in _WORDS]
    return [*_WORDS, *_RARE, *made_up]


def unit_vectors(count: int, seed: int, centers: np.ndarray) -> np.ndarray:
    """Points near random cluster centres: real embeddings cluster by topic, uniform noise does
    not, and approximate indexes are only fairly judged on clustered data."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(centers), count)
    vectors = centers[picks] + rng.standard_normal((count, DIMENSION), dtype=np.float32) * 0.03
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def cluster_centers(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIMENSION), dtype=np.float32)
    return centers / np.linalg.norm(centers, axis=1, keepdims=True)


def texts(count: int, seed: int) -> Iterator[str]:
    words = np.array(vocabulary())
    rng = np.random.default_rng(seed)
    # Zipf-like ranks: a few words in almost every chunk, most words rare.
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    picks = rng.choice(len(words), size=(count, WORDS_PER_CHUNK), p=weights)
    for row in picks:
        yield " ".join(words[row])


def library_dir(chunks: int) -> Path:
    return CACHE / "libraries" / f"chunks-{chunks}"


def vector_source() -> str:
    """What the libraries' vectors are: drawn around real EmbeddingGemma vectors when the real
    model (or its cached vectors) is here, else clustered random vectors."""
    from benchmarks import real_vectors

    return "real-like" if real_vectors.available() else "clustered random"


def build(chunks: int, model_id: str) -> Path:
    """A library of `chunks` chunks (documents of 100 chunks) under the cache, built once,
    with vectors from `vector_source()`."""
    from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus
    from embeddinggemma_rag.core.library.chunk_store import DocumentRecord
    from embeddinggemma_rag.core.library.library import Library

    folder = library_dir(chunks)
    done = folder / "BUILT"
    source = vector_source()
    if done.exists() and done.read_text() == f"{model_id} {source}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"building a library of {chunks:,} chunks (once; cached in {folder})")
    started = time.monotonic()
    library = Library.open(folder, DIMENSION, model_id)
    centers = cluster_centers()
    real_like = None
    if source == "real-like":
        from benchmarks.real_vectors import RealLike

        real_like = RealLike()
    text_source = texts(chunks, seed=chunks)
    try:
        for number in range(0, chunks // CHUNKS_PER_DOCUMENT):
            path = f"/bench/library/doc-{number:07d}.txt"
            pieces = [next(text_source) for _ in range(CHUNKS_PER_DOCUMENT)]
            records = []
            offset = 0
            for text in pieces:
                records.append(Chunk(text, offset, offset + len(text), 1, 1, 120))
                offset += len(text) + 1
            seed = chunks * 7919 + number
            vectors = (
                real_like.draw(len(records), seed)
                if real_like is not None
                else unit_vectors(len(records), seed=seed, centers=centers)
            )
            record = DocumentRecord(
                path,
                offset,
                number,
                f"h{number}",
                f"Document {number}",
                FileStatus.INDEXED,
                None,
                len(records),
            )
            library.replace_document(record, records, vectors)
            if number % 1000 == 999:
                log(f"  {(number + 1) * CHUNKS_PER_DOCUMENT:,} chunks")
        library.save_index()
    finally:
        library.close()
    done.write_text(f"{model_id} {source}")
    (folder / "build-seconds").write_text(f"{time.monotonic() - started:.1f}")
    return folder
