"""Token-aware chunking: passages that break at headings, paragraphs and sentences.

Every chunk, with its document prompt and <bos>/<eos>, fits the embedding model's 2048 tokens,
and keeps its character offsets and pages so a citation can point at the passage.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from embeddinggemma_rag.core.intake.documents import PAGE_SEPARATOR, Chunk, ParsedDocument
from embeddinggemma_rag.core.models.prompts import document_prompt
from embeddinggemma_rag.core.settings import MAX_MODEL_TOKENS

# Counts the tokens of a full model input, <bos>/<eos> included.
TokenCounter = Callable[[str], int]
# The same for many inputs in one call (OnnxEmbedder.count_tokens_many): a page's sentences
# and a page's chunks are each counted at once, which is what makes chunking fast.
ManyTokenCounter = Callable[[Sequence[str]], list[int]]

_BLOCK_BREAK = re.compile(r"\n[ \t]*\n|" + PAGE_SEPARATOR)
_HEADING = re.compile(r"^(#{1,6}\s|[A-Z0-9][^\n]{0,80}\n[=-]{3,}\s*$)")
# A sentence ends at . ! ? … (or CJK stops) followed by white space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+|\n")
_SPECIAL_TOKENS = 2  # <bos> and <eos>
# Characters per token to size the first window of an over-long line: twice what prose
# averages, so one window usually holds a whole piece; the window doubles when it does not.
_CHARS_PER_TOKEN_GUESS = 8


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    starts_block: bool
    is_heading: bool


def chunk_document(
    document: ParsedDocument,
    title: str | None,
    count_tokens: TokenCounter,
    chunk_tokens: int = 256,
    overlap_tokens: int = 32,
    count_many: ManyTokenCounter | None = None,
) -> list[Chunk]:
    """Split a document into chunks of at most `chunk_tokens` model tokens, prompt included.

    `count_many`, when given, must count as `count_tokens` does, only for many texts at once.
    """
    many: ManyTokenCounter = count_many or (lambda texts: [count_tokens(t) for t in texts])
    text = document.text
    prompt = document_prompt(title)
    budget = chunk_tokens - count_tokens(prompt)  # room for the passage itself
    if chunk_tokens > MAX_MODEL_TOKENS:
        raise ValueError(f"chunk size {chunk_tokens} is over the model's {MAX_MODEL_TOKENS} tokens")
    if budget < 16:
        raise ValueError(f"chunk size {chunk_tokens} leaves no room after the prompt {prompt!r}")
    page_starts, page_numbers = _page_table(document)
    chunks: list[Chunk] = []
    for packed in _pack_pages(text, page_starts, budget, overlap_tokens, count_tokens, many):
        counts = many([prompt + text[start:end] for start, end in packed])
        for (start, end), tokens in zip(packed, counts, strict=True):
            if tokens <= chunk_tokens:
                pieces = [(start, end, tokens)]
            else:  # tokens merge differently across the joins of units than alone
                pieces = [
                    (a, b, count_tokens(prompt + text[a:b]))
                    for a, b in _fit(text, prompt, start, end, count_tokens, chunk_tokens)
                ]
            for piece_start, piece_end, piece_tokens in pieces:
                first = _page_at(page_starts, page_numbers, piece_start)
                last = _page_at(page_starts, page_numbers, piece_end - 1)
                passage = text[piece_start:piece_end]
                chunks.append(Chunk(passage, piece_start, piece_end, first, last, piece_tokens))
    return chunks


def fit_title(title: str | None, count_tokens: TokenCounter, chunk_tokens: int) -> str | None:
    """The title cut so its prompt takes at most a quarter of a chunk.

    Anyone can write a PDF's title: 200 rare ideographs are 800 tokens, more than a chunk.
    """
    if title is None:
        return None
    limit = max(16, chunk_tokens // 4)
    while title and count_tokens(document_prompt(title)) > limit:
        title = title[: len(title) * 3 // 4].rstrip()
    return title or None


def _pack_pages(
    text: str,
    page_starts: list[int],
    budget: int,
    overlap_tokens: int,
    count_tokens: TokenCounter,
    count_many: ManyTokenCounter,
) -> Iterator[list[tuple[int, int]]]:
    """Each page's chunk spans: a chunk never spans a page break, so its citation is exact."""
    bounds = [*page_starts[1:], len(text) + 1]
    for start, next_start in zip(page_starts, bounds, strict=True):
        units = list(_units(text, start, next_start - 1, budget, count_tokens, count_many))
        yield list(_pack(units, budget, overlap_tokens))


def _units(
    text: str,
    start: int,
    end: int,
    budget: int,
    count_tokens: TokenCounter,
    count_many: ManyTokenCounter,
) -> Iterator[_Unit]:
    """Sentences (or lines) with their token counts, marked where paragraphs and headings begin."""
    spans: list[tuple[int, int, bool, bool]] = []  # start, end, starts a block, is a heading
    for block_start, block_end in _spans(text, _BLOCK_BREAK, start, end):
        is_heading = bool(_HEADING.match(text[block_start:block_end]))
        first = True
        for unit_start, unit_end in _spans(text, _SENTENCE_END, block_start, block_end):
            spans.append((unit_start, unit_end, first, is_heading and first))
            first = False
    counts = count_many([text[s:e] for s, e, _, _ in spans])
    for (unit_start, unit_end, first, heading), count in zip(spans, counts, strict=True):
        tokens = count - _SPECIAL_TOKENS
        if tokens <= budget:
            yield _Unit(unit_start, unit_end, tokens, first, heading)
            continue
        # A sentence longer than a chunk: cut it at white space.
        pieces = _split_long(text, unit_start, unit_end, budget, count_tokens)
        for number, (piece_start, piece_end) in enumerate(pieces):
            piece_tokens = count_tokens(text[piece_start:piece_end]) - _SPECIAL_TOKENS
            yield _Unit(piece_start, piece_end, piece_tokens, first and number == 0, False)


def _spans(
    text: str, separator: re.Pattern[str], start: int, end: int
) -> Iterator[tuple[int, int]]:
    """Non-blank spans of text[start:end] between separator matches, trimmed of white space."""
    position = start
    for match in separator.finditer(text, start, end):
        yield from _trimmed(text, position, match.start())
        position = match.end()
    yield from _trimmed(text, position, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _split_long(
    text: str, start: int, end: int, budget: int, count_tokens: TokenCounter
) -> Iterator[tuple[int, int]]:
    """Cut an over-long span into pieces under `budget` tokens, at white space where possible.

    Only a window a few pieces long is ever tokenised, so a one-line file of megabytes (a
    minified JSON) costs time linear in its length, not quadratic.
    """
    while start < end:
        window_chars = budget * _CHARS_PER_TOKEN_GUESS
        while True:  # widen the window until it holds more than one piece, or the rest
            window_end = min(end, start + window_chars)
            tokens = count_tokens(text[start:window_end]) - _SPECIAL_TOKENS
            if tokens > budget or window_end == end:
                break
            window_chars *= 2
        if tokens <= budget:
            yield from _trimmed(text, start, end)
            return
        # Guess the cut from this window's characters per token, then shrink until it fits.
        cut = start + max(1, int((window_end - start) * min(1.0, budget / max(tokens, 1) * 0.9)))
        while True:
            space = text.rfind(" ", start + 1, cut)
            piece_end = space if space > start + (cut - start) // 2 else cut
            if count_tokens(text[start:piece_end]) - _SPECIAL_TOKENS <= budget:
                break
            cut = start + max(1, (cut - start) * 3 // 4)
        yield from _trimmed(text, start, piece_end)
        start = piece_end


def _pack(units: list[_Unit], budget: int, overlap_tokens: int) -> Iterator[tuple[int, int]]:
    """Greedily fill chunks with whole units; prefer to break at headings and paragraphs."""
    current: list[_Unit] = []
    used = 0
    for unit in units:
        cost = unit.tokens + 1  # about one token for the white space that joins two units
        full = used + cost > budget
        heading_break = unit.is_heading and used >= budget // 3
        paragraph_break = unit.starts_block and used >= budget * 3 // 4
        if current and (full or heading_break or paragraph_break):
            yield current[0].start, current[-1].end
            current = _overlap(current, overlap_tokens) if full else []
            used = sum(u.tokens + 1 for u in current)
            if used + cost > budget:
                current, used = [], 0
        current.append(unit)
        used += cost
    if current:
        yield current[0].start, current[-1].end


def _overlap(previous: list[_Unit], overlap_tokens: int) -> list[_Unit]:
    """The trailing units of the previous chunk, up to `overlap_tokens`, to start the next one."""
    kept: list[_Unit] = []
    total = 0
    for unit in reversed(previous[1:]):  # never the whole previous chunk again
        if total + unit.tokens > overlap_tokens:
            break
        kept.insert(0, unit)
        total += unit.tokens
    return kept


def _fit(
    text: str, prompt: str, start: int, end: int, count_tokens: TokenCounter, limit: int
) -> Iterator[tuple[int, int]]:
    """Guarantee the limit exactly: tokens merge differently across unit joins than alone."""
    if count_tokens(prompt + text[start:end]) <= limit or end - start <= 1:
        yield start, end
        return
    middle = text.rfind(" ", start, (start + end) // 2) + 1 or (start + end) // 2
    if middle <= start:
        middle = (start + end) // 2
    yield from _fit(text, prompt, start, middle, count_tokens, limit)
    yield from _fit(text, prompt, middle, end, count_tokens, limit)


def _page_table(document: ParsedDocument) -> tuple[list[int], list[int | None]]:
    starts: list[int] = []
    numbers: list[int | None] = []
    offset = 0
    for page in document.pages:
        starts.append(offset)
        numbers.append(page.page)
        offset += len(page.text) + len(PAGE_SEPARATOR)
    return starts, numbers


def _page_at(starts: list[int], numbers: list[int | None], offset: int) -> int | None:
    if not starts:  # pragma: no cover - a parsed document always has a page
        return None
    return numbers[max(0, bisect.bisect_right(starts, offset) - 1)]
