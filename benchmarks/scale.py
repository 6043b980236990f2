"""Scale: libraries of 10k, 100k and 1M passages, each measured in a fresh process as the app
meets it: time to open, resident memory, file sizes, the index shape the library chose, query
p50/p95 by stage, recall@10 of its vector search against exact search, and what an ingest that
changes nothing, or one file, costs and writes.

Vectors: drawn around real EmbeddingGemma vectors when the real model is here
(benchmarks/real_vectors.py), else clustered random ones; the report says which.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    REPO,
    Context,
    Section,
    ensure_embedding_model,
    load_average,
    log,
    median,
    percentile,
    proc_status_mb,
)

K = 6  # the app's default top_k
GOALS_AT_1M = {"query_p95_ms": 150.0, "rss_mb": 2048.0, "noop_ingest_s": 2.0, "open_s": 2.0}
RECALL_GOAL = 0.97
NOTES = 20  # files of the real folder ingested into each library for the ingest rows


def run(ctx: Context) -> Section:
    section = Section("scale", "Scale: 10k, 100k and 1M passages")
    sizes = [10_000, 100_000] if ctx.quick else [10_000, 100_000, 1_000_000]
    queries = 60 if ctx.quick else 120
    for size in sizes:
        result = _child(size, queries, ctx.threads)
        section.details[str(size)] = result
        at_1m = size == 1_000_000
        e2e, stages = result["end_to_end_ms"], ("embed", "vector", "keyword")
        parts = ", ".join(f"{s} {result[f'{s}_ms']['p95']:.0f}" for s in stages)
        section.add(
            f"{size:,}: query p50 / p95 ({result['index_shape']} index)",
            f"{e2e['p50']:.0f} / {e2e['p95']:.0f} ms (p95: {parts} ms)",
            goal="p95 < 150 ms" if at_1m else "",
            met=e2e["p95"] < GOALS_AT_1M["query_p95_ms"] if at_1m else None,
        )
        section.add(
            f"{size:,}: vector recall@10 against exact search",
            f"{result['recall_at_10']:.3f}",
            goal=f">= {RECALL_GOAL}",
            met=result["recall_at_10"] >= RECALL_GOAL,
        )
        section.add(
            f"{size:,}: open, resident memory of the open app",
            f"{result['open_seconds']:.2f} s, {result['rss_mb']:,.0f} MB "
            f"(index {result['index_mb']:,.0f} MB; files: database "
            f"{result['database_mb']:,} MB, index {result['index_file_mb']:,} MB)",
            goal="< 2 s, < 2 GB" if at_1m else "",
            met=(
                result["open_seconds"] < GOALS_AT_1M["open_s"]
                and result["rss_mb"] < GOALS_AT_1M["rss_mb"]
            )
            if at_1m
            else None,
        )
        noop, one = result["noop_ingest"], result["one_file_ingest"]
        section.add(
            f"{size:,}: ingest that changes nothing / one file",
            f"{noop['seconds']:.2f} s writing {noop['written'] or 'nothing'} / "
            f"{one['seconds']:.2f} s writing {one['written'] or 'nothing'}",
            goal="no-op < 2 s, writes nothing" if at_1m else "",
            met=(noop["seconds"] < GOALS_AT_1M["noop_ingest_s"] and not noop["written"])
            if at_1m
            else None,
        )
        scoped = result["scoped_vector"]
        section.add(
            f"{size:,}: vector search scoped to one file ({scoped['chunks']:,} passages) p50 / p95",
            f"{scoped['p50']:.0f} / {scoped['p95']:.0f} ms",
        )
        every = result["keyword_every_word"]
        section.add(
            f"{size:,}: keyword p95, words within the match budget vs every word",
            f"{result['keyword_ms']['p95']:.0f} ms vs {every['every_word_ms']['p95']:.0f} ms "
            f"(top {K} shared: {every['top_k_overlap']:.0%})",
            goal="< 60 ms" if at_1m else "",
            met=result["keyword_ms"]["p95"] < 60 if at_1m else None,
        )
    return section


def _child(size: int, queries: int, threads: int) -> dict[str, Any]:
    log(f"scale: {size:,} passages")
    command = [sys.executable, "-m", "benchmarks.scale", str(size), str(queries), str(threads)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    sys.stderr.write(result.stderr[-2000:])
    if result.returncode:
        raise RuntimeError(f"scale benchmark at {size} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"p50": round(median(ms), 1), "p95": round(percentile(ms, 95), 1)}


def measure(size: int, count: int, threads: int) -> dict[str, Any]:
    from benchmarks import library_builder
    from benchmarks.corpus import queries as query_texts
    from benchmarks.query_latency import measure_every_word
    from embeddinggemma_rag.core.library.library import Library
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    load_before = load_average()
    embedder = OnnxEmbedder(ensure_embedding_model(), threads=threads)
    folder = library_builder.build(size, embedder.model_id)
    # The first open after a build may move the index to the shape its size wants: done
    # once, in the background, timed here; the open measured below is a later one.
    started = time.perf_counter()
    library = Library.open(folder, 768, embedder.model_id)
    shape = library.wait_for_index_shape()
    first_open = time.perf_counter() - started
    library.close()

    rss_before = proc_status_mb()["VmRSS"]
    started = time.perf_counter()
    library = Library.open(folder, 768, embedder.model_id)
    open_seconds = time.perf_counter() - started
    index_mb = library._index.memory_bytes() / 1e6
    texts = query_texts(count + 5, seed=size)
    vectors = _query_vectors(count + 5, size)
    timings: dict[str, list[float]] = {k: [] for k in ("embed", "vector", "keyword", "end_to_end")}
    found: list[list[int]] = []
    for number, (text, vector) in enumerate(zip(texts, vectors, strict=True)):

        def embed_query(text: str = text) -> Any:
            return embedder.embed([embedder.query_input(text)])[0]

        t0 = time.perf_counter()
        embed_query()
        t1 = time.perf_counter()
        hits = library.search(text, vector, 10, "vector")
        t2 = time.perf_counter()
        library.search(text, None, K, "keyword")
        t3 = time.perf_counter()
        library.search(text, embed_query, K, "hybrid")  # as Engine.search runs it
        t4 = time.perf_counter()
        if number >= 5:  # warm-up: the first searches fault in pages of the database
            for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[name].append(seconds)
            found.append([h.chunk_id for h in hits])
    rss = proc_status_mb()["VmRSS"]
    scoped = _scoped_vector_search(library, vectors[5:])
    every_word = measure_every_word(library, folder / "library.sqlite3", texts[5:])
    exact = _exact_top10(library, vectors[5:])
    library.close()
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)])
    noop, one_file = _ingest_costs(folder, size, threads)
    return {
        "chunks": size,
        "vectors": library_builder.vector_source(),
        "queries": count,
        "index_shape": shape,
        "first_open_seconds": round(first_open, 2),
        "open_seconds": round(open_seconds, 2),
        "rss_mb": round(rss),
        "rss_before_open_mb": round(rss_before),
        "index_mb": round(index_mb),
        "database_mb": round((folder / "library.sqlite3").stat().st_size / 1e6),
        "index_file_mb": round((folder / "vectors.faiss").stat().st_size / 1e6),
        "recall_at_10": round(float(recall), 3),
        **{f"{name}_ms": _stats(values) for name, values in timings.items()},
        "scoped_vector": scoped,
        "keyword_every_word": every_word,
        "noop_ingest": noop,
        "one_file_ingest": one_file,
        "load_before": load_before,
        "load_after": load_average(),
    }


def _scoped_vector_search(library: Any, queries: np.ndarray) -> dict[str, Any]:
    """Vector search scoped to one document of 100 passages: a partitioned index reads every
    partition for a scope (core/library/vector_index.py), since the 32 nearest may miss a
    small folder's passages. (A scope is a folder or a file: the benchmark's libraries keep
    every document in one folder, so a file stands for a small folder.)"""
    scope = "/bench/library/doc-0000007.txt"
    seconds = []
    for vector in queries[:40]:
        started = time.perf_counter()
        hits = library.search("", vector, 10, "vector", scope)
        seconds.append(time.perf_counter() - started)
        if len(hits) != 10 or any(h.path != scope for h in hits):
            raise RuntimeError(f"a search scoped to {scope} returned {len(hits)} passages")
    return {"scope": scope, "chunks": len(library.store.chunk_ids_under(scope)), **_stats(seconds)}


def _query_vectors(count: int, seed: int) -> np.ndarray:
    """The real model's question vectors when the library is drawn around real passages."""
    from benchmarks import library_builder as lb

    if lb.vector_source() == "real-like":
        from benchmarks.real_vectors import load

        questions = load()[1]
        return questions[np.random.default_rng(seed).integers(0, len(questions), count)]
    return lb.unit_vectors(count, seed=10**6 + seed, centers=lb.cluster_centers())


def _exact_top10(library: Any, queries: np.ndarray) -> list[list[int]]:
    """Each query's 10 best passages by exact cosine over every stored vector, batch by batch
    (memory stays a batch, whatever the size)."""
    from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize

    best_ids = np.full((len(queries), 10), -1, np.int64)
    best = np.full((len(queries), 10), -np.inf, np.float32)
    cut = truncate_and_normalize(queries, library.dimension)
    for ids, vectors in library.store.iter_vectors(65536):
        scores = cut @ truncate_and_normalize(vectors, library.dimension).T
        all_scores = np.concatenate([best, scores], axis=1)
        all_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argsort(-all_scores, axis=1)[:, :10]
        best = np.take_along_axis(all_scores, top, 1)
        best_ids = np.take_along_axis(all_ids, top, 1)
    return best_ids.tolist()


def _ingest_costs(folder: Path, size: int, threads: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Through the engine, as the app runs it: the notes folder added once, then ingested
    again unchanged, then with one file edited. What each wrote is read off the files."""
    from embeddinggemma_rag.core.engine import build_engine
    from embeddinggemma_rag.core.settings import Settings

    notes = folder.parent / f"notes-{size}"
    notes.mkdir(exist_ok=True)
    for n in range(NOTES):
        (notes / f"note{n:02}.md").write_text(
            f"# Note {n}\n\nThe boiler in flat {n} was serviced in March; the heron nests "
            f"by pond {n}. " * 6,
            encoding="utf-8",
        )
    settings = Settings(data_dir=folder, embedding_model=ensure_embedding_model(), threads=threads)
    engine = build_engine(settings)
    try:
        engine.ingest([notes])  # added once (cached libraries keep them)

        def timed_ingest() -> dict[str, Any]:
            before = _file_states(folder)
            started = time.perf_counter()
            engine.ingest([notes])
            seconds = time.perf_counter() - started
            after = _file_states(folder)
            written = [name for name in before if before[name] != after[name]]
            return {"seconds": round(seconds, 3), "written": ", ".join(written)}

        noop = timed_ingest()
        edited = notes / "note07.md"
        edited.write_text(edited.read_text() + f"\nEdited at {time.time()}.\n", encoding="utf-8")
        one_file = timed_ingest()
    finally:
        engine.close()
    return noop, one_file


def _file_states(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of the library's files; the database's WAL counts as the database."""
    states = {}
    for name in ("vectors.faiss", "vectors.json", "library.sqlite3", "library.sqlite3-wal"):
        path = folder / name
        stat = path.stat() if path.exists() else None
        states[name] = (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)
    return states


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
