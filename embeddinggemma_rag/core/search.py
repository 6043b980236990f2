"""How a query becomes ranked passages: safe FTS5 queries, scopes, fusion and hit assembly."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core.documents import SearchHit
from embeddinggemma_rag.core.keyword_text import MAX_QUERY_TOKENS, QueryToken, query_tokens
from embeddinggemma_rag.core.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.settings import SEARCH_MODES

if TYPE_CHECKING:  # chunk_store imports this module for its query helpers
    from embeddinggemma_rag.core.chunk_store import SqliteChunkStore

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Ranked = tuple[IdArray, FloatArray]
# (query cut to the library's dimension, how many, allowed ids or None) -> (ids, cosines)
VectorSearch = Callable[[FloatArray, int, "IdArray | None"], Ranked]
KeywordRanked = list[tuple[int, float]]
# Runs a keyword search on another thread (Library keeps one for it).
SubmitKeyword = Callable[[Callable[[], KeywordRanked]], "Future[KeywordRanked]"]
# The query's 768-d vector, or a function that embeds the query (see `search_chunks`).
QueryVector = npt.ArrayLike | Callable[[], npt.ArrayLike] | None

# Hybrid search ranks by 0.75 x the cosine rescaled to the query's own spread + 0.25 x BM25 /
# the query's best BM25. The spread is from the 20th best cosine (0) to the best (1): raw
# cosines of one query's candidates differ by a few hundredths on one library and by tenths
# on another, so a fixed weight on raw cosines gave the keywords a different say on each
# (0.95 x raw cosine lost 0.009 to vector search alone on the whole of SciFact, where the
# vectors lead by 0.20, and won 0.013 on XQuAD Arabic). Rescaled, one weight holds on every
# set in ../shared/eval with the real model: never more than 0.003 below vector search, and
# XQuAD at least 0.96 in every language (README, Performance, Retrieval quality). Reciprocal
# rank fusion (k = 60, equal weights) gave a weak keyword list the vector list's weight and
# lost to vector search alone; scores carry how sure each side is, ranks do not.
HYBRID_VECTOR_WEIGHT = 0.75
# The cosine that counts as 0 is the one at this rank: the vector list always holds this
# many candidates (the pool is at least 20), so the app and the benchmark's deeper pools
# rescale alike.
HYBRID_SPREAD_RANK = 20
# A pasted paragraph must not become a query of hundreds of OR terms: BM25 over that many
# terms is slow and the tail words add nothing but noise.
MAX_QUERY_TERMS = MAX_QUERY_TOKENS
_T = TypeVar("_T")

# Keyword search drops a query word found in more than this share of the chunks (and in more
# than COMMON_TERM_MIN_CHUNKS) while rarer words remain. FTS5 scores every chunk that holds a
# word, so "the" or "what" made keyword search over 100k chunks take 75-120 ms, yet BM25 gives
# such a word almost no weight: idf = ln((N - n + 0.5) / (n + 0.5)) is at most ln 4 here
# against ln 1000 for a word in 0.1 % of the chunks, and FTS5 clamps it to 0 above half.
# Measured on the 100k-chunk benchmark library (`python -m benchmarks --only query`):
# 74 / 121 ms p50 / p95 with every word, 25 / 40 ms without those in over 20 %.
COMMON_TERM_FRACTION = 0.2
# Below this many chunks a word is cheap to score however common it is: small libraries keep
# every word, and the cut never changes what a few hundred chunks return.
COMMON_TERM_MIN_CHUNKS = 1000
# And however large the library, one query scores at most about this many (chunk, word)
# matches: the rarest words first, the more common ones while they fit. FTS5's cost grows
# with the matches it scores (about 1 µs each), so without a bound keyword search over 1M
# chunks took 203 ms at the median; the words left out are the query's most common, which
# BM25 weighs least. Libraries under about 200k chunks never reach it (README, Query latency).
KEYWORD_MATCH_BUDGET = 40_000

# Unicode word characters: words as a person reads them in spaced scripts.
_WORD = re.compile(r"\w+")


def query_terms(text: str) -> list[str]:
    """The distinct words of free user text, in order, at most `MAX_QUERY_TERMS`: for the
    answerer's word-overlap check. Keyword search itself uses `keyword_text.query_tokens`,
    which also splits Chinese and Thai, and the highlighting `keyword_text.token_spans`."""
    # NFKC first, so a decomposed 'é' or a full-width digit reads as the indexed text does.
    words = _WORD.findall(unicodedata.normalize("NFKC", text))
    # Keyed by lower(), not casefold(): unicode61 folds case but keeps 'ß', which casefold()
    # would turn into an 'ss' that the index never holds.
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(word.lower(), word)
        if len(seen) == MAX_QUERY_TERMS:
            break
    return list(seen.values())


def fts5_query(text: str) -> str:
    """An FTS5 MATCH expression for free text: its keyword tokens, each quoted, joined with OR.
    See `fts5_match`."""
    return fts5_match(query_tokens(text))


def fts5_match(tokens: Sequence[QueryToken]) -> str:
    """An FTS5 MATCH expression for tokens (from `keyword_text.query_tokens`), joined with OR.

    Quoting makes every token a plain string, so user punctuation (quotes, `*`, `-`, `:`,
    parentheses) and words like NEAR, AND, NOT can never be read as FTS5 syntax. OR keeps
    passages that hold only some of the tokens; BM25 ranks those with more of them first.
    Returns "" when the text holds no word at all: the caller must then not search.
    """
    return " OR ".join(token.fts5() for token in tokens)


def selective_terms(
    terms: Sequence[_T],
    chunk_counts: Sequence[int],
    total: int,
    budget: int = KEYWORD_MATCH_BUDGET,
) -> list[_T]:
    """The words worth scoring, in query order: those not in most chunks (see
    COMMON_TERM_FRACTION), rarest first while their matches fit in `budget` (see
    KEYWORD_MATCH_BUDGET).

    `chunk_counts[i]` is how many of the `total` chunks hold `terms[i]`. The least common
    word always stays, so a query never loses all its words.
    """
    if not terms:
        return []
    limit = max(COMMON_TERM_MIN_CHUNKS, total * COMMON_TERM_FRACTION)
    rarest_first = sorted(range(len(terms)), key=lambda i: chunk_counts[i])
    chosen = {rarest_first[0]}
    spent = chunk_counts[rarest_first[0]]
    for i in rarest_first[1:]:
        if chunk_counts[i] > limit or spent + chunk_counts[i] > budget:
            break
        chosen.add(i)
        spent += chunk_counts[i]
    return [terms[i] for i in sorted(chosen)]


def path_prefix_bounds(prefix: str, sep: str = os.sep) -> tuple[str, str, str]:
    """(exact, lower, upper): a path is at or under `prefix` iff it equals `exact` or lies
    in [lower, upper). Matches on path boundaries ('/a/b' holds '/a/b/c', not '/a/bc'),
    compares case-sensitively like the file system (SQL LIKE would not) and uses the index.
    """
    exact = prefix.rstrip(sep) or prefix
    lower = exact if exact.endswith(sep) else exact + sep
    # Every string that starts with `lower` sorts below `lower` with its separator bumped.
    return exact, lower, lower[:-1] + chr(ord(sep) + 1)


def fuse_scores(
    by_keyword: Sequence[tuple[int, float]],
    cosines: Mapping[int, float],
    vector_weight: float = HYBRID_VECTOR_WEIGHT,
) -> list[tuple[int, float]]:
    """Hybrid ranking: `vector_weight` x the cosine rescaled to the query's spread (the
    `HYBRID_SPREAD_RANK`-th best cosine -> 0, the best -> 1) + the rest x keyword score / the
    query's best keyword score.

    `cosines` holds every candidate (the vector list's and the keyword list's); a candidate
    the keyword list lacks gets 0 for its keyword part. Returns (id, score) best first, ties
    to the smaller id. Candidates without a cosine (a chunk removed meanwhile) are dropped.
    """
    if not cosines:
        return []
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
        query = truncate_and_normalize(np.asarray(query_vector768).ravel(), dimension)
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
            similarities = truncate_and_normalize(vectors, dimension) @ query
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
