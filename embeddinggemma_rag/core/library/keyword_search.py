"""Keyword search, in one place: which words of a question are worth scoring, the FTS5 query
that cannot be misread, and the BM25 search over the library's keyword index (its text is
made by core/library/keyword_text.py, its table by core/library/chunk_store.py)."""

from __future__ import annotations

import os
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from typing import TypeVar

from embeddinggemma_rag.core.library.keyword_text import (
    MAX_QUERY_TOKENS,
    QueryToken,
    index_text,
    query_tokens,
)

# Bumped whenever keyword_text changes what it indexes: the index is then rebuilt on open.
KEYWORD_INDEX_VERSION = "2"
# The keyword index holds a derived form of each chunk and its document's title
# (`keyword_text_of`: folded words, CJK bigrams, Thai trigrams), so it keeps its own content;
# the chunk text itself stays untouched. Porter stemming, as in the BM25 baselines (Anserini):
# on SciFact it took keyword nDCG@10 from 0.661 to 0.691 (README, Performance). keyword_text()
# is a Python function every connection registers (`SqliteChunkStore._db`). Created, and
# re-created when KEYWORD_INDEX_VERSION changes, by `SqliteChunkStore._migrate_keyword_index`.
KEYWORD_TOKENIZER = "porter ascii"
KEYWORD_INDEX = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_keywords USING fts5(text, "
    f"tokenize='{KEYWORD_TOKENIZER}')",
    """CREATE TRIGGER IF NOT EXISTS chunks_keywords_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_keywords(rowid, text) VALUES (new.id, keyword_text(new.text, (
        SELECT title FROM documents WHERE id = new.document_id))); END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_keywords_ad AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_keywords WHERE rowid = old.id; END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_keywords_au AFTER UPDATE OF text ON chunks BEGIN
    DELETE FROM chunks_keywords WHERE rowid = old.id;
    INSERT INTO chunks_keywords(rowid, text) VALUES (new.id, keyword_text(new.text, (
        SELECT title FROM documents WHERE id = new.document_id))); END""",
)
# Earlier keyword indexes: schema 1's unicode61 table over the chunk text, and this one.
OLD_KEYWORD_INDEX = (
    "DROP TRIGGER IF EXISTS chunks_ai",
    "DROP TRIGGER IF EXISTS chunks_ad",
    "DROP TRIGGER IF EXISTS chunks_au",
    "DROP TABLE IF EXISTS chunks_fts",
    "DROP TRIGGER IF EXISTS chunks_keywords_ai",
    "DROP TRIGGER IF EXISTS chunks_keywords_ad",
    "DROP TRIGGER IF EXISTS chunks_keywords_au",
    "DROP TABLE IF EXISTS chunks_keywords",
)

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
# BM25 weighs least. Libraries under 150k chunks never reach it (the common-word cut comes
# first). 30,000 rather than 40,000: 28 / 47 ms p50 / p95 at 1M chunks against 31 / 50 ms
# (README, Scale).
KEYWORD_MATCH_BUDGET = 30_000
# When every word of a query is common, the least common is found in this many runs of
# chunk ids spread over the library (`TermCounts.sampled`).
SAMPLE_WINDOWS = 8

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


def common_word_line(total: int) -> int:
    """Chunks a word may be in before it counts as common in a library of `total` chunks
    (see COMMON_TERM_FRACTION and COMMON_TERM_MIN_CHUNKS)."""
    return max(COMMON_TERM_MIN_CHUNKS, int(total * COMMON_TERM_FRACTION))


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
    limit = common_word_line(total)
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


def under_clause(column: str, under: str | None) -> tuple[str, tuple[str, ...]]:
    """An SQL condition (and its parameters) for `column` at or under the path `under`."""
    if under is None:
        return "1", ()
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", path_prefix_bounds(under)


def search(
    db: sqlite3.Connection,
    query_text: str,
    k: int,
    under: str | None = None,
    counts: TermCounts | None = None,
) -> list[tuple[int, float]]:
    """BM25 matches of free text, best first, as (chunk id, bm25): FTS5's bm25 is negative,
    lower is better. Any user text is safe (see `fts5_match`); tokens in most
    chunks are left out while rarer ones remain (see `selective_terms`). Text with
    no word characters, or only a script no chunk holds, finds nothing. `counts` is the
    connection's `TermCounts`, kept between searches."""
    tokens = query_tokens(query_text)
    if not tokens or k <= 0:
        return []
    counts = counts if counts is not None else TermCounts()
    total = counts.total(db)
    # Past the common-word line or the whole budget a word is never scored beside a rarer
    # one, so its count matters only up to there.
    cap = min(common_word_line(total), KEYWORD_MATCH_BUDGET)
    # A prefix token (a Chinese character alone) stands for many index terms: never cut.
    held = [0 if t.prefix else counts.holding(db, t, cap + 1) for t in tokens]
    if min(held) > cap:
        # Every word is common: only the least common is scored, or a word in 300,000
        # chunks could be scored where one in 50,000 would do. Which one it is, a sample of
        # the library tells (see `TermCounts.sampled`): counting them all to the end cost
        # more than scoring the word.
        sampled = [counts.sampled(db, t) for t in tokens]
        chosen = [tokens[sampled.index(min(sampled))]]
    else:
        chosen = selective_terms(tokens, held, total)
    query = fts5_match(chosen)
    if under is None:
        # FTS5 rows and chunks change in the same transaction (triggers), so without a
        # scope the joins add nothing but time.
        sql = (
            "SELECT rowid, bm25(chunks_keywords) AS score FROM chunks_keywords "
            "WHERE chunks_keywords MATCH ? ORDER BY score LIMIT ?"
        )
        rows = db.execute(sql, (query, k))
    else:
        where, params = under_clause("d.path", under)
        sql = (
            "SELECT f.rowid, bm25(chunks_keywords) AS score FROM chunks_keywords f "
            "JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
            f"WHERE chunks_keywords MATCH ? AND {where} ORDER BY score LIMIT ?"
        )
        rows = db.execute(sql, (query, *params, k))
    return [(int(r[0]), float(r[1])) for r in rows]


class TermCounts:
    """How many chunks there are and how many hold a query's words, for one connection,
    remembered while the database is unchanged (SQLite's data_version for other
    connections' commits, total_changes for this one's).

    At a million chunks, counting them took 15 ms a question and reading each word's count
    from FTS5's vocabulary 43 ms at the median (it walks the word's whole posting list:
    300,000 entries for "the"); questions repeat the common words, and a count is needed
    only up to where the word would be left out anyway (see `search`)."""

    def __init__(self) -> None:
        self._version: tuple[int, int] | None = None
        self._total: int | None = None
        self._holding: dict[str, tuple[int, int]] = {}  # fts5 token: (count, counted to)
        self._sampled: dict[str, int] = {}
        self._ids: tuple[int, int] | None = None

    def total(self, db: sqlite3.Connection) -> int:
        self._check(db)
        if self._total is None:
            self._total = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
        return self._total

    def holding(self, db: sqlite3.Connection, token: QueryToken, cap: int) -> int:
        """Chunks holding `token`, counted up to `cap`: a word in `cap` or more counts as
        `cap`."""
        self._check(db)
        key = token.fts5()
        count, counted_to = self._holding.get(key, (0, 0))
        if count == counted_to and cap > counted_to:  # not counted yet, or not far enough
            sql = (
                "SELECT count(*) FROM (SELECT 1 FROM chunks_keywords "
                "WHERE chunks_keywords MATCH ? LIMIT ?)"
            )
            count, counted_to = int(db.execute(sql, (key, cap)).fetchone()[0]), cap
            self._holding[key] = (count, counted_to)
        return min(count, cap)

    def sampled(self, db: sqlite3.Connection, token: QueryToken) -> int:
        """Chunks holding `token` among `SAMPLE_WINDOWS` runs of chunk ids spread over the
        library (a sixteenth of it in all): for telling common words apart, cheaply.
        Several runs, because a library added folder by folder holds its topics in runs."""
        self._check(db)
        key = token.fts5()
        if key not in self._sampled:
            low, high = self._id_range(db)
            step = max(1, (high - low + 1) // SAMPLE_WINDOWS)
            width = max(1, step // 16)
            sql = (
                "SELECT count(*) FROM chunks_keywords WHERE chunks_keywords MATCH ? "
                "AND rowid BETWEEN ? AND ?"
            )
            self._sampled[key] = sum(
                int(db.execute(sql, (key, start, start + width - 1)).fetchone()[0])
                for start in range(low, high + 1, step)
            )
        return self._sampled[key]

    def _id_range(self, db: sqlite3.Connection) -> tuple[int, int]:
        if self._ids is None:
            low, high = db.execute("SELECT min(id), max(id) FROM chunks").fetchone()
            self._ids = (int(low or 0), int(high or 0))
        return self._ids

    def _check(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA data_version").fetchone()[0]), db.total_changes
        if version != self._version:
            self._version, self._total, self._ids = version, None, None
            self._holding.clear()
            self._sampled.clear()


def keyword_text_of(text: str, title: str | None) -> str:
    # The title goes with every chunk, not only the first: a query naming the document
    # (or its file name) finds all of it. Snippets and offsets use the chunk text alone.
    return index_text(f"{title}\n{text}" if title else text)
