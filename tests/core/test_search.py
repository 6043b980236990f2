"""Pure search helpers: FTS5 query building, path prefix bounds and reciprocal rank fusion."""

from __future__ import annotations

import pytest

from embeddinggemma_rag.core.search import (
    MAX_QUERY_TERMS,
    fts5_query,
    fuse_ranked,
    path_prefix_bounds,
    query_terms,
    reciprocal_rank_fusion,
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


def test_rrf_math_on_hand_built_lists() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    order = [item for item, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]])]
    assert order == [1, 3, 2]


def test_rrf_ties_and_repeats_are_deterministic() -> None:
    # 7 and 8 both score 1/61: the better best rank ties, so the smaller id goes first.
    assert [i for i, _ in reciprocal_rank_fusion([[8], [7]])] == [7, 8]
    # A repeat inside one list counts once.
    assert dict(reciprocal_rank_fusion([[5, 5]], k=0)) == {5: 1.0}
    assert reciprocal_rank_fusion([]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], k=-1)


def test_fuse_ranked_per_mode() -> None:
    by_vector = [(1, 0.9), (2, 0.8)]
    by_keyword = [(3, 7.0), (2, 5.0)]
    assert fuse_ranked("vector", by_vector, by_keyword, 1) == [(1, 0.9)]
    assert fuse_ranked("keyword", by_vector, by_keyword, 5) == by_keyword
    hybrid = fuse_ranked("hybrid", by_vector, by_keyword, 3)
    assert [i for i, _ in hybrid] == [2, 1, 3]
    assert hybrid[0][1] == pytest.approx(1 / 62 + 1 / 62)


def test_selective_terms_drop_common_words_but_never_all() -> None:
    from embeddinggemma_rag.core.search import selective_terms

    terms = ["what", "is", "the", "warranty"]
    assert selective_terms(terms, [30_000, 60_000, 99_000, 40], 100_000) == ["warranty"]
    assert selective_terms(terms, [19_000, 60_000, 99_000, 40], 100_000) == ["what", "warranty"]
    # Every word common: the rarest stays. Small libraries: nothing dropped.
    assert selective_terms(["the", "is"], [99_000, 60_000], 100_000) == ["is"]
    assert selective_terms(terms, [900, 900, 900, 40], 1_000) == terms
    assert selective_terms([], [], 0) == []
