"""Keyword tokens for every script: folded words, and character n-grams where words run on.

The keyword index holds a derived form of each chunk (`index_text`), never the chunk itself,
so stored text, page numbers and character offsets stay exact. The same folding and splitting
turns a query into tokens (`query_tokens`) and finds them in a passage for highlighting
(`token_spans`), so the three can never disagree.

- Folding, per character: case folded, NFKD, combining marks (Mn) dropped, recomposed (NFC,
  so Hangul syllables come back whole). `é`→`e`, Greek `ά`→`α`, Arabic vowel marks and
  hamza seats dropped, `ß`→`ss`, full-width forms to plain ones. Spacing marks (Mc: most
  Devanagari vowel signs) stay inside the word: SQLite's unicode61 split Hindi at each one.
- Chinese, Japanese and Korean have no spaces (or particles glued to nouns): a run of them is
  indexed as overlapping character bigrams, so any word inside a sentence is found.
- Thai, Lao, Khmer and Burmese write syllables of several letters without spaces: overlapping
  trigrams, more selective than bigrams of letters.
- Every n-gram position is indexed, the last ones cut short at the run's end (`abcd` gives
  `abc bcd cd d` for trigrams), so a query shorter than n is a prefix query (`"d"*`) that
  finds every occurrence, run-final ones included.
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from embeddinggemma_rag.core.records import QueryToken as QueryToken

# Most words a query contributes: a pasted paragraph must not become hundreds of OR terms.
MAX_QUERY_TOKENS = 32

_OTHER, _BIGRAM, _TRIGRAM = 0, 2, 3
# (first, last, n) code point ranges, sorted; anything else is a word script.
_NGRAM_RANGES = (
    (0x0E00, 0x0E7F, _TRIGRAM),  # Thai
    (0x0E80, 0x0EFF, _TRIGRAM),  # Lao
    (0x1000, 0x109F, _TRIGRAM),  # Myanmar
    (0x1100, 0x11FF, _BIGRAM),  # Hangul Jamo
    (0x1780, 0x17FF, _TRIGRAM),  # Khmer
    (0x19E0, 0x19FF, _TRIGRAM),  # Khmer symbols
    (0x2E80, 0x2FDF, _BIGRAM),  # CJK radicals
    (0x3005, 0x3007, _BIGRAM),  # 々 〆 〇
    (0x3021, 0x3029, _BIGRAM),  # Hangzhou numerals
    (0x3031, 0x3035, _BIGRAM),  # kana repeat marks
    (0x3040, 0x30FF, _BIGRAM),  # Hiragana, Katakana
    (0x3100, 0x31FF, _BIGRAM),  # Bopomofo, Hangul compatibility Jamo, Katakana extension
    (0x3400, 0x4DBF, _BIGRAM),  # CJK extension A
    (0x4E00, 0x9FFF, _BIGRAM),  # CJK unified ideographs
    (0xA960, 0xA97F, _BIGRAM),  # Hangul Jamo extended A
    (0xA9E0, 0xA9FF, _TRIGRAM),  # Myanmar extended B
    (0xAA60, 0xAA7F, _TRIGRAM),  # Myanmar extended A
    (0xAC00, 0xD7FF, _BIGRAM),  # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF, _BIGRAM),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF, _BIGRAM),  # CJK extensions B onwards
)
_RANGE_STARTS = [r[0] for r in _NGRAM_RANGES]
# Letters that only stretch a word for layout: Arabic tatweel.
_DROPPED = frozenset("\u0640")


@functools.cache
def fold_char(char: str) -> str:
    """One character as the keyword index stores it: "" for a combining mark."""
    if char in _DROPPED:
        return ""
    decomposed = unicodedata.normalize("NFKD", char.casefold())
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", kept)


@functools.cache
def _is_word_char(char: str) -> bool:
    # Letters, digits, spacing marks (Mc) and private-use characters; '_' splits, as in
    # FTS5's unicode61.
    return unicodedata.category(char)[0] in "LNM" or unicodedata.category(char) == "Co"


def _ngram_size(char: str) -> int:
    code = ord(char)
    i = bisect.bisect_right(_RANGE_STARTS, code) - 1
    if i >= 0 and code <= _NGRAM_RANGES[i][1]:
        return _NGRAM_RANGES[i][2]
    return _OTHER


@dataclass(frozen=True)
class Token:
    """One indexed token and where it lies: [start, end) in the original text."""

    text: str
    start: int
    end: int
    ngram: int  # 0 for a whole word, else the n-gram size of its script


def _runs(text: str) -> Iterator[tuple[str, list[int], list[int], int]]:
    """Per word piece: (folded run, where each of its characters starts in `text`, where it
    ends there, n-gram size). A character's end covers the combining marks folded away
    after it, so a highlight takes the accent of a decomposed `é` along."""
    run: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    size = _OTHER
    for index, char in enumerate(text):
        folded_char = fold_char(char)
        if not folded_char and run and ends[-1] == index:
            ends[-1] = index + 1
        for folded in folded_char:
            kind = _ngram_size(folded) if _is_word_char(folded) else None
            if run and kind != size:
                yield "".join(run), starts, ends, size
                run, starts, ends = [], [], []
            if kind is not None:
                run.append(folded)
                starts.append(index)
                ends.append(index + 1)
                size = kind
    if run:
        yield "".join(run), starts, ends, size


def _tokens(text: str) -> Iterator[tuple[Token, list[int]]]:
    """Tokens, each with the end in `text` of each of its characters."""
    for run, starts, ends, size in _runs(text):
        if size == _OTHER:
            yield Token(run, starts[0], ends[-1], _OTHER), ends
            continue
        for i in range(len(run)):
            end = min(i + size, len(run))
            yield Token(run[i:end], starts[i], ends[end - 1], size), ends[i:end]


def tokens(text: str) -> Iterator[Token]:
    """Every index token of `text`, in order, with its span in `text`."""
    for token, _ in _tokens(text):
        yield token


def index_text(text: str) -> str:
    """The keyword index's form of a chunk: its tokens, space-separated."""
    return " ".join(t.text for t in tokens(text))


def query_tokens(text: str, limit: int = MAX_QUERY_TOKENS) -> list[QueryToken]:
    """The distinct tokens of free user text, in order, at most `limit`.

    A word is one token; a Chinese or Thai run gives its full n-grams, or one prefix token
    when it is shorter than an n-gram.
    """
    seen: dict[QueryToken, None] = {}
    for run, _, _, size in _runs(text):
        if size == _OTHER:
            pieces = [QueryToken(run)]
        elif len(run) < size:
            pieces = [QueryToken(run, prefix=True, ngram=True)]
        else:
            pieces = [QueryToken(run[i : i + size], ngram=True) for i in range(len(run) - size + 1)]
        for piece in pieces:
            seen.setdefault(piece, None)
            if len(seen) == limit:
                return list(seen)
    return list(seen)


def token_spans(text: str, query: list[QueryToken]) -> list[tuple[int, int]]:
    """Where `text` holds the query's tokens: merged [start, end) spans, in order.

    A prefix token marks only the characters it covers, not the rest of the n-gram.
    """
    exact = {q.text for q in query if not q.prefix}
    prefixes = [q.text for q in query if q.prefix]
    spans: list[tuple[int, int]] = []
    for token, ends in _tokens(text):
        if token.text in exact:
            spans.append((token.start, token.end))
            continue
        for prefix in prefixes:
            # Every n-gram position is a token (run-final ones cut short), so each place
            # the prefix occurs is marked once.
            if token.ngram and token.text.startswith(prefix):
                spans.append((token.start, ends[len(prefix) - 1]))
                break
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
