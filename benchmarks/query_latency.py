"""3. Query latency at 10k, 100k and 1M chunks: embed the query, vector search, keyword search
and fusion through the app's `Library` as `Engine.search` runs them (the keyword search beside
the embedding), p50/p95, with the index's memory; and the 1M plan."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO,
    Context,
    Section,
    ensure_embedding_model,
    log,
    median,
    percentile,
)

GOAL_P95_MS = 100.0
K = 6  # the app's default top_k


def run(ctx: Context) -> Section:
    section = Section("query", "Query latency: embed + vector + keyword + fusion")
    sizes = [10_000, 100_000] if ctx.quick else [10_000, 100_000, 1_000_000]
    queries = 40 if ctx.quick else 120
    for size in sizes:
        result = _child(["size", str(size), str(queries), str(ctx.threads)])
        section.details[str(size)] = result
        total = result["end_to_end_ms"]
        goal = size == 100_000
        stages = ("embed", "vector", "keyword")
        parts = ", ".join(f"{stage} {result[f'{stage}_ms']['p50']:.0f}" for stage in stages)
        section.add(
            f"query p50 / p95 at {size:,} chunks (index {result['index_mb']:,.0f} MB)",
            f"{total['p50']:.0f} / {total['p95']:.0f} ms ({parts} ms p50)",
            goal="p95 < 100 ms" if goal else "",
            met=total["p95"] < GOAL_P95_MS if goal else None,
        )
        every = result["keyword_every_word"]
        shared = f"top {K} shared: {every['top_k_overlap']:.0%}"
        section.add(
            f"keyword search p95 at {size:,} chunks: common words left out vs every word scored",
            f"{result['keyword_ms']['p95']:.0f} ms",
            f"{every['every_word_ms']['p95']:.0f} ms ({shared})",
            every["every_word_ms"]["p95"] / max(result["keyword_ms"]["p95"], 1e-9),
        )
    if not ctx.quick:
        plan = _child(["plan", "1000000", "100"])
        section.details["plan_1m"] = plan
        for name, row in plan["indexes"].items():
            section.add(
                f"1M plan: {name}",
                f"{row['p50_ms']:.0f} / {row['p95_ms']:.0f} ms, {row['memory_mb']:,.0f} MB, "
                f"recall@10 {row['recall_at_10']}",
            )
    return section


def _child(args: list[str]) -> dict[str, Any]:
    log(f"query: {' '.join(args)}")
    command = [sys.executable, "-m", "benchmarks.query_latency", *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"query benchmark {args} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"p50": round(median(ms), 2), "p95": round(percentile(ms, 95), 2)}


def measure_size(size: int, count: int, threads: int) -> dict[str, Any]:
    """In a fresh process: open the library, then time each stage of `count` queries."""
    from benchmarks import library_builder
    from benchmarks.common import proc_status_mb
    from benchmarks.corpus import queries
    from embeddinggemma_rag.core.library.library import Library
    from embeddinggemma_rag.core.models.embedding import OnnxEmbedder

    embedder = OnnxEmbedder(ensure_embedding_model(), threads=threads)
    folder = library_builder.build(size, embedder.model_id)
    before = proc_status_mb()["VmRSS"]
    started = time.perf_counter()
    library = Library.open(folder, 768, embedder.model_id)
    open_seconds = time.perf_counter() - started
    index_mb = proc_status_mb()["VmRSS"] - before
    timings: dict[str, list[float]] = {
        k: [] for k in ("embed", "vector", "keyword", "hybrid", "sequential", "end_to_end")
    }
    texts = queries(count + 5, seed=size)
    for number, text in enumerate(texts):

        def embed_query(text: str = text) -> Any:
            return embedder.embed([embedder.query_input(text)])[0]

        t0 = time.perf_counter()
        vector = embed_query()
        t1 = time.perf_counter()
        library.search(text, vector, K, "hybrid")
        t2 = time.perf_counter()
        library.search(text, vector, K, "vector")
        t3 = time.perf_counter()
        library.search(text, None, K, "keyword")
        t4 = time.perf_counter()
        # What Engine.search runs: the keyword search overlaps the query's embedding.
        library.search(text, embed_query, K, "hybrid")
        t5 = time.perf_counter()
        if number >= 5:  # warm-up: first searches fault in pages of the database
            timings["embed"].append(t1 - t0)
            timings["hybrid"].append(t2 - t1)
            timings["sequential"].append(t2 - t0)
            timings["vector"].append(t3 - t2)
            timings["keyword"].append(t4 - t3)
            timings["end_to_end"].append(t5 - t4)
    db = folder / "library.sqlite3"
    every_word = measure_every_word(library, db, texts[5:])
    library.close()
    return {
        "chunks": size,
        "queries": count,
        "open_seconds": round(open_seconds, 2),
        "index_mb": round(index_mb),
        "database_mb": round(db.stat().st_size / 1e6),
        "faiss_file_mb": round((folder / "vectors.faiss").stat().st_size / 1e6),
        "build_seconds": float((folder / "build-seconds").read_text()),
        **{f"{name}_ms": _stats(values) for name, values in timings.items()},
        "keyword_every_word": every_word,
    }


def measure_every_word(library: Any, db: Path, texts: list[str]) -> dict[str, Any]:
    """The keyword search as it was before common words were left out (every word scored,
    joined to the documents), and how many of its top k the app's search still returns."""
    import sqlite3

    from embeddinggemma_rag.core.library.search import fts5_query

    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    pool = max(K * 4, 20)
    every_word_sql = (
        "SELECT f.rowid, bm25(chunks_keywords) AS score FROM chunks_keywords f "
        "JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
        "WHERE chunks_keywords MATCH ? ORDER BY score LIMIT ?"
    )
    times, overlap = [], []
    for text in texts:
        query = fts5_query(text)
        if not query:
            continue
        t0 = time.perf_counter()
        every = [r[0] for r in conn.execute(every_word_sql, (query, pool))]
        times.append(time.perf_counter() - t0)
        app = [i for i, _ in library.store.keyword_search(text, pool)]
        overlap.append(len(set(app[:K]) & set(every[:K])) / max(1, min(K, len(every))))
    conn.close()
    return {
        "every_word_ms": _stats(times),
        "top_k_overlap": round(sum(overlap) / max(1, len(overlap)), 3),
    }


def measure_plan(size: int, count: int) -> dict[str, Any]:
    """Candidate vector indexes for 1M chunks on the same clustered vectors: latency of one
    query on one thread, memory, and recall@10 against the exact search the app runs now."""
    import faiss
    import numpy as np

    from benchmarks import library_builder as lb

    centers = lb.cluster_centers()
    vectors = np.concatenate(
        [lb.unit_vectors(10_000, seed=part, centers=centers) for part in range(size // 10_000)]
    )
    queries = lb.unit_vectors(count, seed=10**6, centers=centers)
    faiss.omp_set_num_threads(1)  # the app searches on one thread (vector_index.single_thread)

    def cut(matrix: np.ndarray, dim: int) -> np.ndarray:
        part = np.ascontiguousarray(matrix[:, :dim])
        return part / np.linalg.norm(part, axis=1, keepdims=True)

    def ivf(dim: int, spec: str) -> Any:
        index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(size, 100_000, replace=False)
        faiss.omp_set_num_threads(2)  # training is batch work, as a rebuild would be
        index.train(cut(vectors, dim)[sample] if dim < 768 else vectors[sample])
        faiss.omp_set_num_threads(1)
        index.nprobe = 16
        return index

    candidates = {
        "flat 768-d (now)": (768, lambda: faiss.IndexFlatIP(768)),
        "flat 256-d Matryoshka": (256, lambda: faiss.IndexFlatIP(256)),
        "int8 SQ 768-d": (768, lambda: faiss.index_factory(768, "SQ8", faiss.METRIC_INNER_PRODUCT)),
        "IVF4096 flat 768-d, nprobe 16": (768, lambda: ivf(768, "IVF4096,Flat")),
        "IVF4096 int8 SQ 256-d, nprobe 16": (256, lambda: ivf(256, "IVF4096,SQ8")),
    }
    exact = None
    out: dict[str, Any] = {}
    for name, (dim, make) in candidates.items():
        log(f"plan: {name}")
        started = time.perf_counter()
        index = make()
        if not index.is_trained:
            index.train(cut(vectors, dim))
        data = vectors if dim == 768 else cut(vectors, dim)
        index.add(data)
        build = time.perf_counter() - started
        query = queries if dim == 768 else cut(queries, dim)
        times, found = [], []
        for row in query:
            t0 = time.perf_counter()
            _, labels = index.search(row[None, :], 10)
            times.append(time.perf_counter() - t0)
            found.append(labels[0])
        if exact is None:
            exact = found
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)])
        out[name] = {
            "p50_ms": round(median(times) * 1000, 1),
            "p95_ms": round(percentile(times, 95) * 1000, 1),
            "memory_mb": round(_index_bytes(faiss, index, dim) / 1e6),
            "recall_at_10": round(float(recall), 3),
            "build_seconds": round(build, 1),
        }
        del index
    return {"vectors": size, "queries": count, "indexes": out}


def _index_bytes(faiss: Any, index: Any, dim: int) -> int:
    """Codes, ids and centroids: what the index holds in memory (serialising it to measure
    would copy gigabytes)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return int(index.ntotal * index.sa_code_size())
    return int(index.ntotal * (ivf.code_size + 8) + ivf.nlist * dim * 4)


if __name__ == "__main__":
    if sys.argv[1] == "size":
        result = measure_size(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        result = measure_plan(int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(result))
