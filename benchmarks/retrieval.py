"""Retrieval quality: nDCG@10, Recall@10 and Recall@100 by search mode on BEIR-layout sets,
through the app's own ingest (one file per document) and its own search.

Each set is ingested once into a scratch library, cached per (set, documents, embedding model
hash, chunk settings), with its query vectors beside it: re-running to tune fusion only searches.
Corpora over `--max-docs` documents are cut to a fixed subset: every document some query
judges relevant, then a seeded sample of the others (the report says so). `--max-queries`
first keeps a seeded sample of the queries, so the subset needs fewer relevant documents.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, REPO, Context, Section, load_average, log

EVAL_DIR_ENV = "EMBEDDINGGEMMA_RAG_EVAL_DIR"
MODES = ("keyword", "vector", "hybrid")
DEPTH = 100  # results taken per query: enough for Recall@100
SUBSET_SEED = 13


@dataclass
class BeirSet:
    name: str
    documents: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]  # only queries with at least one relevant document here
    qrels: dict[str, dict[str, int]]
    corpus_size: int  # documents in the full corpus (more than `documents` for a subset)


def default_eval_dirs() -> list[Path]:
    """$EMBEDDINGGEMMA_RAG_EVAL_DIR, else ../shared/eval beside the repository (or its
    worktree's parent)."""
    if os.environ.get(EVAL_DIR_ENV):
        return [Path(os.environ[EVAL_DIR_ENV])]
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "eval").is_dir():
            return [base / "shared" / "eval"]
    return []


def find_sets(folders: list[Path]) -> list[Path]:
    """Each folder holding corpus.jsonl is a set; a folder of such folders gives each."""
    found: list[Path] = []
    for folder in folders:
        if (folder / "corpus.jsonl").is_file():
            found.append(folder)
        elif folder.is_dir():
            found += sorted(p.parent for p in folder.glob("*/corpus.jsonl"))
        else:
            raise FileNotFoundError(f"{folder}: no such BEIR folder")
    return found


def load_set(folder: Path, max_docs: int, max_queries: int = 0) -> BeirSet:
    documents: dict[str, tuple[str, str]] = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            documents[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels.tsv", encoding="utf-8") as lines:
        next(lines)  # header
        for line in lines:
            query_id, doc_id, score = line.rstrip("\n").split("\t")[:3]
            if int(score) > 0 and doc_id in documents:
                qrels.setdefault(query_id, {})[doc_id] = int(score)
    queries: dict[str, str] = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                queries[str(row["_id"])] = row["text"]
    corpus_size = len(documents)
    if 0 < max_queries < len(queries):
        kept_queries = sorted(queries)
        random.Random(SUBSET_SEED).shuffle(kept_queries)
        queries = {q: queries[q] for q in sorted(kept_queries[:max_queries])}
        qrels = {q: qrels[q] for q in queries}
    if len(documents) > max_docs:
        relevant = {d for judged in qrels.values() for d in judged}
        others = sorted(set(documents) - relevant)
        random.Random(SUBSET_SEED).shuffle(others)
        kept = relevant | set(others[: max(0, max_docs - len(relevant))])
        documents = {d: documents[d] for d in documents if d in kept}
    return BeirSet(folder.name, documents, queries, qrels, corpus_size)


def file_name(doc_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", doc_id)


def write_documents(beir: BeirSet, folder: Path) -> dict[str, str]:
    """One file per document, the title as its heading; returns file stem -> document id."""
    folder.mkdir(parents=True, exist_ok=True)
    stems: dict[str, str] = {}
    for doc_id, (title, text) in beir.documents.items():
        stem = file_name(doc_id)
        stems[stem] = doc_id
        body = f"# {title}\n\n{text}\n" if title else f"{text}\n"
        path = folder / (stem + (".md" if title else ".txt"))
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            path.write_text(body, encoding="utf-8")
    return stems


def ndcg_at(ranked: list[str], judged: dict[str, int], k: int = 10) -> float:
    gain = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return gain / best if best else 0.0


def recall_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & judged.keys()) / len(judged)


def documents_ranked(paths: list[str], stems: dict[str, str]) -> list[str]:
    """Chunk hits to documents, each at its best chunk's rank."""
    ranked: dict[str, None] = {}
    for path in paths:
        doc_id = stems.get(Path(path).stem)
        if doc_id is not None:
            ranked.setdefault(doc_id, None)
    return list(ranked)


def scratch_library(beir: BeirSet, settings: Any, model_id: str) -> Path:
    key = json.dumps(
        [
            beir.name,
            sorted(beir.documents),
            model_id,
            settings.chunk_tokens,
            settings.chunk_overlap_tokens,
            settings.dimension,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return CACHE / "retrieval" / f"{beir.name}-{digest}"


@dataclass
class PreparedSet:
    """A set ingested into its scratch library, with its queries embedded."""

    beir: BeirSet
    engine: Any  # the app's Engine on the scratch library
    stems: dict[str, str]
    query_ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    embed_seconds: float
    ingest_seconds: float
    chunks_embedded_now: int
    ingest: dict[str, Any]


def prepare_set(folder: Path, model: Path, ctx: Context) -> PreparedSet:
    """Ingest the set (or reuse its cached library) and embed its queries (or load them)."""
    from embeddinggemma_rag.core.engine import build_engine
    from embeddinggemma_rag.core.settings import Settings

    beir = load_set(folder, ctx.max_docs, ctx.max_queries)
    settings = Settings(
        data_dir=CACHE / "unused", embedding_model=model, threads=ctx.threads
    ).replace(**chunk_overrides(ctx))
    engine = build_engine(settings)
    model_id = engine.embedder.model_id
    scratch = scratch_library(beir, settings, model_id)
    engine.settings = settings = settings.replace(data_dir=scratch / "library")
    stems = write_documents(beir, scratch / "documents")
    started = time.monotonic()
    report = engine.ingest([scratch / "documents"])
    ingest_seconds = time.monotonic() - started
    failed = [o for o in report.outcomes if o.status.value == "failed"]
    if failed:
        raise RuntimeError(f"{beir.name}: {len(failed)} documents failed to ingest")
    ingest = ingest_figures(scratch, report, ingest_seconds)
    query_ids = list(beir.queries)
    texts = [beir.queries[q] for q in query_ids]
    vectors_file = scratch / "query-vectors.npy"
    started = time.monotonic()
    if vectors_file.exists():
        vectors = np.load(vectors_file)
        embed_seconds = float((scratch / "query-embed-seconds").read_text())
    else:
        vectors = engine.embedder.embed_queries(texts)
        embed_seconds = time.monotonic() - started
        np.save(vectors_file, vectors)
        (scratch / "query-embed-seconds").write_text(f"{embed_seconds:.3f}")
    return PreparedSet(
        beir,
        engine,
        stems,
        query_ids,
        texts,
        vectors,
        embed_seconds,
        ingest_seconds,
        report.chunks_embedded,
        ingest,
    )


def evaluate_set(folder: Path, model: Path, ctx: Context) -> dict[str, Any]:
    prepared = prepare_set(folder, model, ctx)
    beir, engine, stems = prepared.beir, prepared.engine, prepared.stems
    query_ids, texts, vectors = prepared.query_ids, prepared.texts, prepared.vectors
    embed_seconds, settings = prepared.embed_seconds, engine.settings
    library = engine.library
    result: dict[str, Any] = {
        "documents": len(beir.documents),
        "corpus_documents": beir.corpus_size,
        "queries": len(query_ids),
        "chunks": library.store.counts()[1],
        "ingest_seconds": round(prepared.ingest_seconds, 1),
        "chunks_embedded_now": prepared.chunks_embedded_now,
        "ingest": prepared.ingest,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "modes": {},
    }
    for mode in MODES:
        scores: dict[str, list[float]] = {"ndcg@10": [], "recall@10": [], "recall@100": []}
        started = time.monotonic()
        for query_id, text, vector in zip(query_ids, texts, vectors, strict=True):
            hits = library.search(text, None if mode == "keyword" else vector, DEPTH, mode)
            ranked = documents_ranked([h.path for h in hits], stems)
            judged = beir.qrels[query_id]
            scores["ndcg@10"].append(ndcg_at(ranked, judged))
            scores["recall@10"].append(recall_at(ranked, judged, 10))
            scores["recall@100"].append(recall_at(ranked, judged, 100))
        seconds = time.monotonic() - started
        if mode != "keyword":
            seconds += embed_seconds  # what a user waits for: the query embeds first
        figures = {name: round(float(np.mean(v)), 4) for name, v in scores.items()}
        figures["queries_per_s"] = round(len(query_ids) / seconds, 1)
        result["modes"][mode] = figures
    engine.close()
    return result


def chunk_overrides(ctx: Context) -> dict[str, int]:
    """The chunk settings asked for on the command line; the app's defaults otherwise."""
    asked = {"chunk_tokens": ctx.chunk_tokens, "chunk_overlap_tokens": ctx.chunk_overlap_tokens}
    return {name: value for name, value in asked.items() if value is not None}


def ingest_figures(scratch: Path, report: Any, seconds: float) -> dict[str, Any]:
    """The first ingest's speed, with its phases apart, kept beside the cached library so
    a re-run that only searches still reports it (with the load it was taken at)."""
    saved = scratch / "ingest.json"
    if report.chunks_embedded == 0 and saved.exists():
        return dict(json.loads(saved.read_text()))
    figures = {
        "chunks": report.chunks_embedded,
        "documents": len(report.outcomes),
        "seconds": round(seconds, 1),
        "chunks_per_s": round(report.chunks_embedded / seconds, 2) if seconds else 0.0,
        "phase_seconds": {k: round(v, 1) for k, v in report.phase_seconds.items()},
        "load_after": load_average(),
        "taken": time.strftime("%Y-%m-%d %H:%M"),
    }
    saved.write_text(json.dumps(figures, indent=1))
    return figures


def run(ctx: Context) -> Section:
    from embeddinggemma_rag.core.settings import Settings

    model = ctx.embedding_model
    if model is None:
        raise RuntimeError(
            "retrieval needs a real embedding model: pass --embedding-model FOLDER "
            "(the published q4 layout), set EMBEDDINGGEMMA_RAG_EMBEDDING_MODEL, or export "
            "the real weights (README, Models)"
        )
    sets = find_sets(list(ctx.eval_sets) or default_eval_dirs())
    if not sets:
        raise RuntimeError(f"no BEIR sets: pass --sets FOLDER or set {EVAL_DIR_ENV}")
    defaults = Settings().replace(**chunk_overrides(ctx))
    section = Section(
        "retrieval",
        f"Retrieval quality ({Path(model).name}, {defaults.dimension}-d, chunks of "
        f"{defaults.chunk_tokens} tokens with {defaults.chunk_overlap_tokens} overlap)",
    )
    section.details.update(
        model=str(model),
        dimension=defaults.dimension,
        chunk_tokens=defaults.chunk_tokens,
        chunk_overlap_tokens=defaults.chunk_overlap_tokens,
        max_docs=ctx.max_docs,
        max_queries=ctx.max_queries,
        sets={},
    )
    for folder in sets:
        log(f"retrieval: {folder.name}")
        load_before = load_average()
        figures = evaluate_set(folder, Path(model), ctx)
        figures["load"] = [load_before, load_average()]
        section.details["sets"][folder.name] = figures
        subset = (
            f", subset of {figures['documents']:,} of {figures['corpus_documents']:,} docs"
            if figures["documents"] < figures["corpus_documents"]
            else f", {figures['documents']:,} docs"
        )
        ingest = figures["ingest"]
        phases = " · ".join(f"{k} {v:.0f} s" for k, v in ingest["phase_seconds"].items())
        section.add(
            f"{folder.name} ingest ({ingest['documents']:,} documents, "
            f"{ingest['chunks']:,} chunks, load after {ingest['load_after'][0]})",
            f"{ingest['chunks_per_s']:.2f} chunks/s in {ingest['seconds']:.0f} s: {phases}",
        )
        for mode in MODES:
            m = figures["modes"][mode]
            section.add(
                f"{folder.name} {mode} ({figures['queries']} queries{subset})",
                f"nDCG@10 {m['ndcg@10']:.3f} · R@10 {m['recall@10']:.3f} · "
                f"R@100 {m['recall@100']:.3f} · {m['queries_per_s']:.0f} q/s",
            )
        shutil.rmtree(CACHE / "unused", ignore_errors=True)
    return section
