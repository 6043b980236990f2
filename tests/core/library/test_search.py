"""Pure search helpers: FTS5 query building, path prefix bounds and score fusion."""

from __future__ import annotations

import pytest

from embeddinggemma_rag.core.library.search import (
    MAX_QUERY_TERMS,
    fts5_query,
    fuse_ranked,
    fuse_scores,
    hybrid_vector_weight,
    path_prefix_bounds,
    query_terms,
)


def test_fts5_query_quotes_every_word_and_joins_with_or() -> None:
    assert fts5_query("solar panel efficiency") == '"solar" OR "panel" OR "efficiency"'


@pytest.mark.parametrize(
    "text",
    ['"unbalanced', "foo*", "-bar", "title:x", "a NEAR b", "(x OR", "AND", "^start", "x + y"],
)
def test_fts5_query_neutralises_syntax(text: str) -> None:
    query = fts5_query(text)
    assert query
    for term in query.split(" OR "):
        assert term.startswith('"') and term.endswith('"') and '"' not in term[1:-1]


def test_fts5_query_of_punctuation_only_is_empty() -> None:
    assert fts5_query(' "*:-()^ ') == ""
    assert fts5_query("") == ""


def test_query_terms_unicode_dedupe_and_limit() -> None:
    assert query_terms("Café CAFÉ café naïve 東京") == ["Café", "naïve", "東京"]
    # A decomposed é (e + combining accent) reads as one word after NFKC.
    assert query_terms("cafe\u0301") == ["café"]
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == MAX_QUERY_TERMS


def test_path_prefix_bounds_respect_boundaries() -> None:
    exact, lower, upper = path_prefix_bounds("/a/b/", sep="/")
    assert (exact, lower, upper) == ("/a/b", "/a/b/", "/a/b0")

    def under(path: str) -> bool:
        return path == exact or lower <= path < upper

    assert under("/a/b") and under("/a/b/c.txt") and under("/a/b/x/y")
    assert not under("/a/bc") and not under("/a/b.txt") and not under("/a/B/c")
    assert path_prefix_bounds("/", sep="/") == ("/", "/", "0")
    assert path_prefix_bounds("C:\\docs", sep="\\") == ("C:\\docs", "C:\\docs\\", "C:\\docs]")


def test_fused_scores_weigh_the_rescaled_cosine_and_the_best_relative_keyword_score() -> None:
    cosines = {1: 0.9, 2: 0.5, 3: 0.6}  # fewer than the spread rank: the lowest is the floor
    fused = dict(fuse_scores([(3, 8.0), (2, 4.0)], cosines, vector_weight=0.8))
    assert fused[1] == pytest.approx(0.8)  # the best cosine -> 1; no keyword part
    assert fused[2] == pytest.approx(0.8 * 0.0 + 0.2 * 0.5)
    assert fused[3] == pytest.approx(0.8 * 0.25 + 0.2 * 1.0)
    order = [i for i, _ in fuse_scores([(3, 8.0), (2, 4.0)], cosines, vector_weight=0.8)]
    assert order == [1, 3, 2]
    # Keyword found nothing: the vector order, untouched. A tie goes to the smaller id.
    assert [i for i, _ in fuse_scores([], {5: 0.4, 4: 0.4, 6: 0.9})] == [6, 4, 5]
    assert fuse_scores([], {}) == []
    # No spread (one candidate, or equal cosines): no division by 0, the keywords decide.
    weight = hybrid_vector_weight([(7, 2.0)], {7: 0.3})
    assert fuse_scores([(7, 2.0)], {7: 0.3}) == [(7, pytest.approx(1 - weight))]


def test_the_keywords_weigh_the_same_whatever_the_spread_of_the_cosines() -> None:
    """Two queries whose candidates' cosines spread 30 times wider: with raw cosines the
    keyword list lifted its first (the 10th by cosine) to the top for the narrow one only;
    rescaled, both rank alike."""
    orders = []
    for scale in (0.01, 0.3):
        cosines = {i: 0.5 + scale * (25 - i) / 25 for i in range(1, 26)}  # 1 best, 25 worst
        orders.append([i for i, _ in fuse_scores([(10, 9.0), (4, 1.0)], cosines)])
    assert orders[0] == orders[1]
    assert orders[0].index(10) < 9  # the keywords' clear first is lifted, in both


def test_the_keywords_weigh_more_where_the_two_lists_agree() -> None:
    cosines = {i: 1.0 - i / 100 for i in range(1, 31)}  # 1 best, 30 worst
    same = [(i, 30.0 - i) for i in (1, 2, 3, 4, 5)]
    other = [(i, 30.0 - i) for i in (21, 22, 23, 24, 25)]
    half = [(i, 30.0 - i) for i in (1, 2, 23, 24, 25)]
    assert hybrid_vector_weight(same, cosines) == pytest.approx(0.65)
    assert hybrid_vector_weight(other, cosines) == pytest.approx(0.85)
    assert hybrid_vector_weight(half, cosines) == pytest.approx(0.85 - 0.2 * 2 / 5)
    assert hybrid_vector_weight([], cosines) == pytest.approx(0.85)
    # The weight is the one fuse_scores uses: the keywords' first (21st by cosine) scores
    # 0.15 x 1 + 0.85 x its rescaled cosine.
    fused = dict(fuse_scores(other, cosines))
    assert fused[21] == pytest.approx(0.15 + 0.85 * (0.79 - 0.80) / (0.99 - 0.80))


def test_fuse_ranked_per_mode() -> None:
    by_vector = [(1, 0.9), (2, 0.8)]
    by_keyword = [(3, 7.0), (2, 5.0)]
    assert fuse_ranked("vector", by_vector, by_keyword, 1) == [(1, 0.9)]
    assert fuse_ranked("keyword", by_vector, by_keyword, 5) == by_keyword
    cosines = {1: 0.9, 2: 0.89, 3: 0.1}
    hybrid = fuse_ranked("hybrid", by_vector, by_keyword, 3, cosines)
    assert [i for i, _ in hybrid] == [2, 1, 3]  # a near tie, found by both lists: lifted past 1
    weight = hybrid_vector_weight(by_keyword, cosines)  # 0.89: 0.99 of the spread 0.1 to 0.9
    assert hybrid[0][1] == pytest.approx(weight * 0.79 / 0.8 + (1 - weight) * 5 / 7)
    # Without a query vector, hybrid ranks the keywords alone.
    assert fuse_ranked("hybrid", [], by_keyword, 5) == by_keyword


def test_selective_terms_drop_common_words_but_never_all() -> None:
    from embeddinggemma_rag.core.library.search import selective_terms

    terms = ["what", "is", "the", "warranty"]
    assert selective_terms(terms, [30_000, 60_000, 99_000, 40], 100_000) == ["warranty"]
    assert selective_terms(terms, [19_000, 60_000, 99_000, 40], 100_000) == ["what", "warranty"]
    # Every word common: the rarest stays. Small libraries: nothing dropped.
    assert selective_terms(["the", "is"], [99_000, 60_000], 100_000) == ["is"]
    assert selective_terms(terms, [900, 900, 900, 40], 1_000) == terms
    assert selective_terms([], [], 0) == []


def test_selective_terms_fit_a_large_librarys_words_in_the_match_budget() -> None:
    from embeddinggemma_rag.core.library.search import selective_terms

    terms = ["kettle", "descaling", "water", "warranty"]
    million = 1_000_000
    counts = [120_000, 300, 60_000, 4_000]  # all under a fifth of a million chunks
    # Rarest first while the matches fit: 300 + 4,000 + 60,000 is over 40,000.
    assert selective_terms(terms, counts, million, budget=40_000) == ["descaling", "warranty"]
    assert selective_terms(terms, counts, million, budget=70_000) == [
        "descaling",
        "water",
        "warranty",
    ]
    # The rarest word stays even when it alone is over the budget.
    assert selective_terms(["water", "kettle"], [60_000, 120_000], million, budget=40_000) == [
        "water"
    ]
    # The same words at 100k chunks (a tenth the matches) all fit the default budget.
    assert selective_terms(terms, [12_000, 30, 6_000, 400], 100_000) == terms
