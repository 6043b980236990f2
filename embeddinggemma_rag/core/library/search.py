"""How a query becomes ranked passages: the vector and keyword lists, their fusion, and the
hits. The keyword side is core/library/keyword_search.py (its names are re-exported here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.intake.documents import SearchHit
from embeddinggemma_rag.core.library.keyword_search import (
    COMMON_TERM_FRACTION,
    COMMON_TERM_MIN_CHUNKS,
    KEYWORD_MATCH_BUDGET,
    MAX_QUERY_TERMS,
    fts5_match,
    fts5_query,
    path_prefix_bounds,
    query_terms,
    selective_terms,
)
from embeddinggemma_rag.core.library.matryoshka import cosines_at
from embeddinggemma_rag.core.settings import SEARCH_MODES

if TYPE_CHECKING:  # chunk_store imports this module for its query helpers
    from embeddinggemma_rag.core.library.chunk_store import SqliteChunkStore

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Ranked = tuple[IdArray, FloatArray]
# (the query's 768-d vector, how many, allowed ids or None) -> (ids, cosines at the library's
# dimension: the vector index cuts the query itself)
VectorSearch = Callable[[FloatArray, int, "IdArray | None"], Ranked]
KeywordRanked = list[tuple[int, float]]
# Runs a keyword search on another thread (Library keeps one for it).
SubmitKeyword = Callable[[Callable[[], KeywordRanked]], "Future[KeywordRanked]"]
# The query's 768-d vector, or a function that embeds the query (see `search_chunks`).
QueryVector = npt.ArrayLike | Callable[[], npt.ArrayLike] | None

# Hybrid search ranks by w x the cosine rescaled to the query's own spread + (1 - w) x BM25 /
# the query's best BM25. The spread is from the 20th best cosine (0) to the best (1): raw
# cosines of one query's candidates differ by a few hundredths on one library and by tenths
# on another, so a fixed weight on raw cosines gave the keywords a different say on each
# (0.95 x raw cosine lost 0.009 to vector search alone on the whole of SciFact, where the
# vectors lead by 0.20, and won 0.013 on XQuAD Arabic). Reciprocal rank fusion (k = 60,
# equal weights) gave a weak keyword list the vector list's weight and lost to vector search
# alone; scores carry how sure each side is, ranks do not.
#
# The vectors' weight w goes from 0.85 down to 0.65 as the two lists agree on their first 5:
# where keyword search finds what the vectors find, its ranking of them is worth more, and
# where it finds something else (SciFact's claims, whose words the abstracts rephrase) it is
# mostly noise. A fixed 0.75 tied vector search on SciFact (+0.0002) with XQuAD at 0.962 and
# up; 0.80 gained 0.0024 on SciFact with XQuAD Arabic at 0.9601; agreement-weighted, SciFact
# gains 0.0029 and every XQuAD set is at 0.9615 or more (README, Retrieval quality; tuned on
# ../shared/eval with the real model, with neighbouring settings within 0.002).
HYBRID_WEIGHT_DISAGREEING = 0.85
HYBRID_WEIGHT_AGREEING = 0.65
HYBRID_AGREEMENT_TOP = 5
# The cosine that counts as 0 is the one at this rank: the vector list always holds this
# many candidates (the pool is at least 20), so the app and the benchmark's deeper pools
# rescale alike.
HYBRID_SPREAD_RANK = 20


def hybrid_vector_weight(
    by_keyword: Sequence[tuple[int, float]], cosines: Mapping[int, float]
) -> float:
    """The vectors' share of a hybrid score: `HYBRID_WEIGHT_DISAGREEING` when the keyword
    list's first `HYBRID_AGREEMENT_TOP` and the best cosines' share none, down to
    `HYBRID_WEIGHT_AGREEING` when they are the same."""
    top = HYBRID_AGREEMENT_TOP
    by_cosine = sorted(cosines, key=lambda i: (-cosines[i], i))[:top]
    shared = len({i for i, _ in by_keyword[:top]} & set(by_cosine)) / top
    return HYBRID_WEIGHT_DISAGREEING - (HYBRID_WEIGHT_DISAGREEING - HYBRID_WEIGHT_AGREEING) * shared


def fuse_scores(
    by_keyword: Sequence[tuple[int, float]],
    cosines: Mapping[int, float],
    vector_weight: float | None = None,
) -> list[tuple[int, float]]:
    """Hybrid ranking: `vector_weight` (by default `hybrid_vector_weight`) x the cosine
    rescaled to the query's spread (the `HYBRID_SPREAD_RANK`-th best cosine -> 0, the best
    -> 1) + the rest x keyword score / the query's best keyword score.

    `cosines` holds every candidate (the vector list's and the keyword list's); a candidate
    the keyword list lacks gets 0 for its keyword part. Returns (id, score) best first, ties
    to the smaller id. Candidates without a cosine (a chunk removed meanwhile) are dropped.
    """
    if not cosines:
        return []
    if vector_weight is None:
        vector_weight = hybrid_vector_weight(by_keyword, cosines)
    best = max((score for _, score in by_keyword), default=0.0)
    keyword = {i: score / best for i, score in by_keyword} if best > 0 else {}
    top = sorted(cosines.values(), reverse=True)[:HYBRID_SPREAD_RANK]
    floor, spread = top[-1], (top[0] - top[-1]) or 1.0
    fused = {
        i: vector_weight * (cosine - floor) / spread + (1.0 - vector_weight) * keyword.get(i, 0.0)
        for i, cosine in cosines.items()
    }
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def fuse_ranked(
    mode: str,
    by_vector: Sequence[tuple[int, float]],
    by_keyword: Sequence[tuple[int, float]],
    k: int,
    cosines: Mapping[int, float] | None = None,
) -> list[tuple[int, float]]:
    """The `k` best (id, score) of a search mode from its vector and keyword lists, best first.

    Vector and keyword modes keep their own scores; hybrid fuses the scores (`fuse_scores`)
    given every candidate's cosine, and ranks keywords alone without a query vector.
    """
    if mode == "vector":
        return list(by_vector[:k])
    if mode == "keyword" or not cosines:
        return list(by_keyword[:k])
    return fuse_scores(by_keyword, cosines)[:k]


def search_chunks(
    store: SqliteChunkStore,
    vector_search: VectorSearch,
    dimension: int,
    query_text: str,
    query_vector768: QueryVector,
    k: int,
    mode: str = "hybrid",
    scope: str | None = None,
    submit_keyword: SubmitKeyword | None = None,
) -> list[SearchHit]:
    """The `k` best passages for a query in `mode`, only under `scope` when given.

    `score` is the mode's own: the fused score (hybrid), the cosine (vector) or -bm25
    (keyword: positive, higher is better, unbounded). `similarity` is the cosine at the
    library's dimension for every hit, keyword-only ones included (from the stored vector),
    so the answerer can judge relevance; None only without a query vector. Hybrid takes
    max(4k, 20) candidates from each list; without a query vector it ranks keywords alone.

    `query_vector768` may be a function that embeds the query: with `submit_keyword` the
    keyword search then runs on another thread while it does. Embedding a question and
    scoring its words in FTS5 take 20-40 ms each at 100k chunks, and neither needs the other.
    """
    if mode not in SEARCH_MODES:
        raise ValueError(f"unknown search mode {mode!r}")
    pool = max(k * 4, 20) if mode == "hybrid" else k

    def keyword_ranked() -> KeywordRanked:
        return [(i, -bm25) for i, bm25 in store.keyword_search(query_text, pool, scope)]

    pending: Future[KeywordRanked] | None = None
    if mode != "vector" and callable(query_vector768) and submit_keyword is not None:
        pending = submit_keyword(keyword_ranked)
    if callable(query_vector768):
        query_vector768 = query_vector768()
    query = None
    if query_vector768 is not None:
        query = np.asarray(query_vector768, dtype=np.float32).ravel()
    elif mode == "vector":
        raise ValueError("vector search needs a query vector")
    by_vector: list[tuple[int, float]] = []
    if query is not None and mode != "keyword":
        allowed = None if scope is None else store.chunk_ids_under(scope)
        ids, scores = vector_search(query, pool, allowed)
        by_vector = list(zip(ids.tolist(), scores.tolist(), strict=True))
    by_keyword: KeywordRanked = []
    if pending is not None:
        by_keyword = pending.result()
    elif mode != "vector":
        by_keyword = keyword_ranked()
    cosines = dict(by_vector)
    if query is not None:
        # Every keyword candidate's cosine, from its stored vector: hybrid fuses it, and the
        # answerer judges relevance by it. At most `pool` rows, read by primary key.
        ids, vectors = store.vectors_by_ids(i for i, _ in by_keyword if i not in cosines)
        if len(ids):
            similarities = cosines_at(vectors, query, dimension)
            cosines.update(zip(ids.tolist(), similarities.tolist(), strict=True))
    ranked = fuse_ranked(mode, by_vector, by_keyword, k, cosines)
    records = {r.id: r for r in store.chunks_by_ids(i for i, _ in ranked)}
    # A chunk replaced between the two reads is gone from `records`: it is skipped.
    return [
        SearchHit(
            chunk_id=r.id,
            path=r.path,
            title=r.title or Path(r.path).name,
            page=r.page_start,
            page_end=r.page_end,
            score=float(score),
            text=r.text,
            char_start=r.char_start,
            char_end=r.char_end,
            similarity=cosines.get(r.id),
        )
        for r, score in ((records[i], s) for i, s in ranked if i in records)
    ]


__all__ = [
    "COMMON_TERM_FRACTION",
    "COMMON_TERM_MIN_CHUNKS",
    "KEYWORD_MATCH_BUDGET",
    "MAX_QUERY_TERMS",
    "fts5_match",
    "fts5_query",
    "fuse_ranked",
    "fuse_scores",
    "path_prefix_bounds",
    "query_terms",
    "search_chunks",
    "selective_terms",
]
