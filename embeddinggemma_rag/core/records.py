"""What crosses the engine's door: the records it takes and returns, and their vocabulary.

The GUI, the CLI and the MCP server import nothing from `core/` but this module and
`core.engine` (tests/test_layering.py). Importing it loads no numpy, onnxruntime, FAISS or
llama.cpp, so the window can name these types at start-up, before the models' libraries are
imported.
The records are plain frozen dataclasses defined here; the modules that produce them
(`ingestion`, `chunk_store`, `conversations`, `model_store`...) import them from here.

Besides its own records it re-exports the light values a caller passes in or catches, so
that one import serves: the `Settings` record and its allowed values, the `CancelToken` and
`Progress` of long operations, and the errors (`RagError` and its kinds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from embeddinggemma_rag.core.cancel import CancelToken as CancelToken
from embeddinggemma_rag.core.cancel import Progress as Progress
from embeddinggemma_rag.core.errors import AnswerModelCrashed as AnswerModelCrashed
from embeddinggemma_rag.core.errors import Cancelled as Cancelled
from embeddinggemma_rag.core.errors import ConfigError as ConfigError
from embeddinggemma_rag.core.errors import LibraryError as LibraryError
from embeddinggemma_rag.core.errors import ModelError as ModelError
from embeddinggemma_rag.core.errors import RagError as RagError
from embeddinggemma_rag.core.models.model_files import (
    EMBEDDING_MODEL_DIR_NAME,
    GENERATOR_MODEL_FILE_NAME,
)
from embeddinggemma_rag.core.settings import MATRYOSHKA_DIMENSIONS as MATRYOSHKA_DIMENSIONS
from embeddinggemma_rag.core.settings import MAX_MODEL_TOKENS as MAX_MODEL_TOKENS
from embeddinggemma_rag.core.settings import SEARCH_MODES as SEARCH_MODES
from embeddinggemma_rag.core.settings import Settings as Settings

# Documents and passages ------------------------------------------------------------------

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


@dataclass(frozen=True)
class QueryToken:
    """A query token: matched whole, or as a prefix (a piece shorter than its n-gram)."""

    text: str
    prefix: bool = False
    ngram: bool = False  # a piece of a Chinese or Thai run rather than a whole word

    def fts5(self) -> str:
        # Tokens hold only word characters, never '"', so quoting needs no escaping, and a
        # quoted string is never read as FTS5 syntax (NEAR, AND, '*', '-', ':').
        return f'"{self.text}"' + ("*" if self.prefix else "")


@dataclass(frozen=True)
class DocumentRecord:
    """One file's row: what was seen on disk and how ingesting it ended."""

    path: str
    size: int | None
    mtime_ns: int | None
    content_hash: str | None
    title: str | None
    status: FileStatus
    reason: str | None = None
    chunk_count: int = 0
    updated_at: float | None = None  # set by the store on write


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk with its document's path and title."""

    id: int
    path: str
    title: str | None
    ordinal: int
    text: str
    page_start: int | None
    page_end: int | None
    char_start: int
    char_end: int


@dataclass(frozen=True)
class LibraryStatus:
    documents: list[DocumentRecord]
    chunks: int
    sources: list[str]
    embedding_model: str | None
    dimension: int
    data_dir: Path
    # Document path -> pages read by OCR, for the documents that have any.
    ocr_pages: dict[str, int] = field(default_factory=dict)


# Ingesting -------------------------------------------------------------------------------

PHASES = ("walk", "parse", "chunk", "embed", "store")


@dataclass(frozen=True)
class FileOutcome:
    """How one file ended; `embedded` is False when it was unchanged and left alone."""

    path: str
    status: FileStatus
    reason: str | None
    chunks: int
    embedded: bool


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_done: int  # chunks embedded in this run
    current_file: str
    elapsed_seconds: float
    # The slow step under way in the current file, e.g. "reading page 3 of 40 by OCR".
    current_step: str = ""
    # Work in bytes of the files walked (plus a fixed cost per file, so small files count):
    # a file's share is done once it has its outcome, and a batch's files advance with
    # their embedding, which is where the time goes. Files alone stall for a whole batch.
    work_done: float = 0.0
    work_total: float = 0.0
    files: tuple[str, ...] = ()  # every file the walk found, sent once, before the first


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    # Where the time went: "walk" (finding and hashing files), "parse" (the sandboxed
    # parser), "chunk" (tokenizer counts and splitting), "embed", "store" (SQLite and the
    # vector index). The benchmarks report them apart, so a speed-up is seen where it is.
    phase_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    seconds_waiting_for_answers: float = 0.0  # stepped aside while the person's answers ran

    def by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in FileStatus}
        for outcome in self.outcomes:
            counts[outcome.status.value] += 1
        return counts


# Answers and conversations ---------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, kept for follow-up questions."""

    question: str
    answer: str


# "[1,000]" or "[12,500]" is a number the answer quotes with thousands separators, not
# passages 1 and 0 (the model copies such figures from documents).
NOT_A_NUMBER = r"(?!\d{1,3}(?:,\d{3})+\])"
# Passage numbers as an answer cites them: [1], [1, 2], [1; 3], the numbers as group 1
# (answering finds the citations by it, the window links them).
CITATION = re.compile(rf"\[{NOT_A_NUMBER}(\d+(?:\s*[,;]\s*\d+)*)\]")


@dataclass(frozen=True)
class Citation:
    """A passage the answer cites as [number]: the search hit the model was given under that
    number, held as it is (the same object as in `Answer.passages`), not copied."""

    number: int
    hit: SearchHit


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


@dataclass(frozen=True)
class SavedTurn:
    """One question of a conversation and the answer it got."""

    question: str
    answer: Answer
    scope: str | None = None
    asked_at: float = 0.0


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float
    turn_count: int


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    turns: tuple[SavedTurn, ...]

    def history(self) -> list[Turn]:
        """Earlier turns to pass to a follow-up question; stopped, empty answers add nothing."""
        return [Turn(t.question, t.answer.text) for t in self.turns if t.answer.text.strip()]


# Models ----------------------------------------------------------------------------------

MODEL_KINDS = ("embedding", "generator")


@dataclass(frozen=True)
class ManifestFile:
    path: str  # relative to the repository, kept below the model's folder
    approx_bytes: int
    sha256: str | None  # None: pinned at first download from the hub's own LFS checksum


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "embedding" or "generator"
    name: str
    repo_id: str
    revision: str
    licence: str
    gated: bool
    files: tuple[ManifestFile, ...]

    def local_key(self, file: ManifestFile) -> str:
        """Where the file lives below the models folder (and its key in checksums.json)."""
        if self.kind == "embedding":
            return f"{EMBEDDING_MODEL_DIR_NAME}/{file.path}"
        return GENERATOR_MODEL_FILE_NAME


@dataclass(frozen=True)
class Manifest:
    embedding: ModelSpec
    generator: ModelSpec

    def models(self, which: str = "all") -> list[ModelSpec]:
        if which not in ("all", *MODEL_KINDS):
            raise RagError(f"unknown model kind {which!r}: use all, embedding or generator")
        return [m for m in (self.embedding, self.generator) if which in ("all", m.kind)]


@dataclass(frozen=True)
class ModelStatus:
    """One model as the app would use it now."""

    kind: str  # "embedding" or "generator"
    path: Path  # the folder (embedding) or .gguf file (generator) in use
    configured: bool  # True: set by settings, environment or option; False: the default place
    present: bool
    size_bytes: int
    checksum: str  # "ok", "mismatch", "unpinned" (no recorded sum to compare), "missing"
    problem: str = ""  # one line naming the file and what to do; "" when usable

    @property
    def ok(self) -> bool:
        return self.present and not self.problem
