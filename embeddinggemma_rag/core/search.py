"""Pure search helpers: a safe FTS5 query from free text, and reciprocal rank fusion."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence

# Reciprocal rank fusion's constant from Cormack et al. (2009); GPT4All LocalDocs uses it too.
RRF_K = 60
# A pasted paragraph must not become a query of hundreds of OR terms: BM25 over that many
# terms is slow and the tail words add nothing but noise.
MAX_QUERY_TERMS = 32

# Unicode word characters, the same notion of a word as FTS5's unicode61 tokenizer, which
# also splits on '_' (a quoted "a_b" is then the phrase a b, which is what the user meant).
_WORD = re.compile(r"\w+")


def query_terms(text: str) -> list[str]:
    """The distinct words of free user text, in order, at most `MAX_QUERY_TERMS`."""
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
    """An FTS5 MATCH expression for free text: each word quoted, joined with OR.

    Quoting makes every word a plain string, so user punctuation (quotes, `*`, `-`, `:`,
    parentheses) and words like NEAR, AND, NOT can never be read as FTS5 syntax. OR keeps
    passages that hold only some of the words; BM25 ranks those with more of them first.
    Returns "" when the text holds no word at all: the caller must then not search.
    """
    # Words hold no '"' (not a word character), so quoting needs no escaping.
    return " OR ".join(f'"{term}"' for term in query_terms(text))


def path_prefix_bounds(prefix: str, sep: str = os.sep) -> tuple[str, str, str]:
    """(exact, lower, upper): a path is at or under `prefix` iff it equals `exact` or lies
    in [lower, upper). Matches on path boundaries ('/a/b' holds '/a/b/c', not '/a/bc'),
    compares case-sensitively like the file system (SQL LIKE would not) and uses the index.
    """
    exact = prefix.rstrip(sep) or prefix
    lower = exact if exact.endswith(sep) else exact + sep
    # Every string that starts with `lower` sorts below `lower` with its separator bumped.
    return exact, lower, lower[:-1] + chr(ord(sep) + 1)


def reciprocal_rank_fusion(
    ranked_lists: Iterable[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists (rank 1-based).

    RRF needs no score calibration between cosine and BM25, only ranks. Returns (id, score)
    best first; ties go to the id with the better best rank, then the smaller id, so results
    are deterministic.
    """
    if k < 0:
        raise ValueError("k must not be negative")
    scores: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    for ranked in ranked_lists:
        counted: set[int] = set()
        for rank, raw in enumerate(ranked, start=1):
            item = int(raw)
            if item in counted:  # a repeat in one list adds no evidence
                continue
            counted.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best_rank[pair[0]], pair[0]))


def fuse_ranked(
    mode: str,
    by_vector: Sequence[tuple[int, float]],
    by_keyword: Sequence[tuple[int, float]],
    k: int,
) -> list[tuple[int, float]]:
    """The `k` best (id, score) of a search mode from its vector and keyword lists, best first.

    Vector and keyword modes keep their own scores; hybrid scores by RRF over the two ranks.
    """
    if mode == "vector":
        return list(by_vector[:k])
    if mode == "keyword":
        return list(by_keyword[:k])
    lists = [[i for i, _ in by_vector], [i for i, _ in by_keyword]]
    return reciprocal_rank_fusion(lists)[:k]
