"""Plain data passed between parsing, chunking, storage and search."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Pages of a parsed document are joined with this character in the document's extracted
# text, so chunk offsets index one string while a form feed still marks the page break.
PAGE_SEPARATOR = "\f"


class FileStatus(StrEnum):
    """How ingesting one file ended."""

    INDEXED = "indexed"
    SKIPPED = "skipped"  # not a file type the app reads
    NO_TEXT = "no_text"  # opened, but holds no text (e.g. a scanned PDF)
    FAILED = "failed"  # could not be read; `reason` says why


@dataclass(frozen=True)
class TextBox:
    """Where a line read by OCR sits: its characters in the page's text, and its box on the
    page image as fractions of the page's width and height (0 at the top left, 1 at the
    bottom right), so a viewer can draw it at any zoom."""

    char_start: int
    char_end: int
    left: float
    top: float
    right: float
    bottom: float


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


@dataclass(frozen=True)
class SearchHit:
    """One retrieved passage with where it comes from."""

    chunk_id: int
    path: str
    title: str
    page: int | None
    page_end: int | None
    score: float  # the mode's score: fused (hybrid, search.fuse_scores), cosine or BM25
    text: str
    char_start: int
    char_end: int
    # Cosine similarity of the query and the passage at the library's dimension; None when
    # the passage was found by keywords only. Answering uses it to judge relevance.
    similarity: float | None = None
    # True when the passage was read by OCR from a page image (a scan, a photo).
    ocr: bool = False
    # The cited page's name where the format has one (a spreadsheet's sheet, a chapter).
    page_label: str | None = None
