"""Plain data of a question answered from the library: turns, citations, answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from embeddinggemma_rag.core.documents import SearchHit


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, kept for follow-up questions."""

    question: str
    answer: str


@dataclass(frozen=True)
class Citation:
    """A passage the answer cites as [number]."""

    number: int
    chunk_id: int
    path: str
    title: str
    page: int | None
    text: str
    char_start: int
    char_end: int
    score: float
    ocr: bool = False  # the passage was read by OCR from a page image
    page_label: str | None = None  # the page's sheet or chapter name, where it has one


@dataclass(frozen=True)
class Answer:
    """An answer with the passages it cites.

    `grounded` is False when retrieval found nothing relevant enough: then `text` says the
    documents do not seem to cover the question and `passages` holds the closest ones.
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[SearchHit] = field(default_factory=list)
    grounded: bool = True
    cancelled: bool = False
    prompt_tokens: int = 0
    seconds_to_first_token: float | None = None
    seconds: float = 0.0
