"""Plain data passed between parsing, chunking, storage and search."""

from __future__ import annotations

from dataclasses import dataclass

# The records that also cross the engine's door live in records.py; named here too, where
# parsing, chunking and storage have always found them.
from embeddinggemma_rag.core.records import PAGE_SEPARATOR as PAGE_SEPARATOR
from embeddinggemma_rag.core.records import FileStatus as FileStatus
from embeddinggemma_rag.core.records import SearchHit as SearchHit
from embeddinggemma_rag.core.records import TextBox as TextBox


@dataclass(frozen=True)
class PageText:
    """The text of one page; `page` is 1-based, or None for formats without pages."""

    page: int | None
    text: str
    # True when the text was read from the page's image by OCR, not from a text layer.
    ocr: bool = False
    # OCR only: one box per line read, for highlighting a passage on the page image.
    boxes: tuple[TextBox, ...] = ()
    # What a citation names besides the number: a sheet's name, a chapter's title.
    label: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """What a parser extracts from one file."""

    title: str | None
    pages: tuple[PageText, ...]
    # Something the reader should know about an indexed file (e.g. pages left out as garbled).
    warning: str | None = None

    @property
    def text(self) -> str:
        return PAGE_SEPARATOR.join(page.text for page in self.pages)

    @property
    def has_text(self) -> bool:
        return any(page.text.strip() for page in self.pages)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, small enough to embed with its prompt in one model input.

    `char_start`/`char_end` index `ParsedDocument.text`; pages are 1-based or None.
    """

    text: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    token_count: int
