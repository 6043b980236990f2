"""The relevance gate by measurement: how many questions the app would send to the answer
model, at several cosine thresholds, when the library holds the answer and when it holds
nothing on the subject.

Answerable: each query of a BEIR set against its own library (the set's relevant documents
are in it). Off-subject: the queries of one set against the library of a set from another
corpus (SciFact's claims against Wikipedia paragraphs, and the reverse), where nothing
answers them. Each question is searched as `Engine.ask` searches (hybrid, the app's top_k),
and the app's own `answering.ask.is_relevant` decides, keyword vouching included. `--only
relevance` after (or instead of) `--only retrieval`: the sets' libraries are shared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import Context, Section, log
from benchmarks.retrieval import PreparedSet, default_eval_dirs, find_sets, prepare_set

THRESHOLDS = (0.20, 0.25, 0.30, 0.33, 0.35, 0.40)
MAX_QUERIES_PER_PAIR = 300  # off-subject pairs: enough for a rate, cheap to search


def run(ctx: Context) -> Section:
    from embeddinggemma_rag.core.answering.ask import RELEVANCE_THRESHOLD
    from embeddinggemma_rag.core.settings import Settings

    if ctx.embedding_model is None:
        raise RuntimeError(
            "relevance needs a real embedding model: pass --embedding-model or export the "
            "real weights (README, Models)"
        )
    sets = find_sets(list(ctx.eval_sets) or default_eval_dirs())
    prepared = {}
    for folder in sets:
        log(f"relevance: {folder.name}")
        prepared[folder.name] = prepare_set(folder, Path(ctx.embedding_model), ctx)
    top_k = Settings().top_k
    section = Section(
        "relevance",
        f"Relevance gate: share of questions sent to the answer model (now {RELEVANCE_THRESHOLD})",
    )
    rates: dict[str, dict[str, float]] = {}
    for name, own in prepared.items():
        rates[f"{name} (answerable)"] = gate_rates(own, own, top_k, ctx.max_queries or 0)
    for name, asker in prepared.items():
        for other_name, library in prepared.items():
            if corpus_of(name) == corpus_of(other_name):
                continue  # XQuAD's languages are translations of the same paragraphs
            label = f"{name} questions in {other_name} (off-subject)"
            rates[label] = gate_rates(asker, library, top_k, MAX_QUERIES_PER_PAIR)
    section.details["rates"] = rates
    section.details["thresholds"] = list(THRESHOLDS)
    for label, by_threshold in rates.items():
        section.add(
            label,
            " · ".join(f"{t}: {by_threshold[str(t)]:.1%}" for t in THRESHOLDS),
        )
    for item in prepared.values():
        item.engine.close()
    return section


def corpus_of(set_name: str) -> str:
    return set_name.split("-")[0]


def gate_rates(
    asker: PreparedSet, library: PreparedSet, top_k: int, limit: int
) -> dict[str, float]:
    """Share of `asker`'s questions that `is_relevant` passes at each threshold, searched
    in `library` exactly as `Engine.ask` searches (its retrieval query is the question)."""
    from embeddinggemma_rag.core.answering.ask import is_relevant

    count = len(asker.texts) if not limit else min(limit, len(asker.texts))
    picks = np.random.default_rng(7).permutation(len(asker.texts))[:count]
    passed = dict.fromkeys(THRESHOLDS, 0)
    store = library.engine.library
    for index in picks:
        text, vector = asker.texts[index], asker.vectors[index]
        hits = store.search(text, vector, top_k, "hybrid")
        for threshold in THRESHOLDS:
            passed[threshold] += is_relevant(text, hits, threshold)
    return {str(t): passed[t] / count for t in THRESHOLDS} | {"questions": float(count)}
