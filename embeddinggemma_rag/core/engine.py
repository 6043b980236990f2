"""The one facade the GUI and the CLI drive: library, embedder, parser and generator together.

Models load lazily on first use, so opening the app or asking for `status` costs nothing.
Methods are synchronous and thread-safe; callers run them off the GUI thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from embeddinggemma_rag.core import paths
from embeddinggemma_rag.core.answer_priority import AnswerPriority
from embeddinggemma_rag.core.answer_types import Answer, Turn
from embeddinggemma_rag.core.answering import (
    RELEVANCE_THRESHOLD,
    AnswerOptions,
    answer_question,
    retrieval_query,
)
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken
from embeddinggemma_rag.core.chat_process import ProcessChatModel
from embeddinggemma_rag.core.chunk_store import ChunkRecord, DocumentRecord
from embeddinggemma_rag.core.documents import SearchHit
from embeddinggemma_rag.core.embedding import OnnxEmbedder
from embeddinggemma_rag.core.errors import ModelError
from embeddinggemma_rag.core.generation import ChatModel
from embeddinggemma_rag.core.ingestion import FileOutcome, Ingestor, IngestProgress, IngestReport
from embeddinggemma_rag.core.library import Library
from embeddinggemma_rag.core.matryoshka import truncate_and_normalize
from embeddinggemma_rag.core.parsing import ParserWorker
from embeddinggemma_rag.core.settings import Settings

EMBEDDING_MODEL_DIR_NAME = "embeddinggemma-300m-q4"
GENERATOR_MODEL_FILE_NAME = "gemma-3-1b-it-Q4_K_M.gguf"
# How long an answer waits for a running ingest to reach its next batch (1,024 tokens: about
# 0.3 s on two cores) before it starts anyway, on fewer threads.
INGEST_STEP_ASIDE_S = 1.0

EmbedderFactory = Callable[[Settings], OnnxEmbedder]
GeneratorFactory = Callable[[Settings], ChatModel]


def embedding_model_path(settings: Settings) -> Path:
    return settings.embedding_model or paths.models_dir() / EMBEDDING_MODEL_DIR_NAME


def generator_model_path(settings: Settings) -> Path:
    return settings.generator_model or paths.models_dir() / GENERATOR_MODEL_FILE_NAME


def default_embedder(settings: Settings) -> OnnxEmbedder:
    from embeddinggemma_rag.core.model_store import require_recorded_sums  # imports this module

    require_recorded_sums(settings, "embedding")
    return OnnxEmbedder(embedding_model_path(settings), threads=settings.threads)


def default_generator(settings: Settings) -> ChatModel:
    """The answer model in its own process: a native fault in llama.cpp costs one answer."""
    from embeddinggemma_rag.core.model_store import require_recorded_sums

    require_recorded_sums(settings, "generator")
    return ProcessChatModel(
        generator_model_path(settings), settings.context_tokens, settings.threads
    )


def embed_as_the_library_does(library: Library, embedder: OnnxEmbedder) -> None:
    """Questions are embedded the way the library's passages were, and an empty library
    takes the way this machine measured fastest (core/compute_choice.py).

    The measurement is remembered per machine, not per library, and can change (a cleared
    cache, a new onnxruntime, a first measurement on a busy machine): the library's own
    record is what keeps its passages and its questions comparable."""
    way = getattr(embedder, "compute_way", None)
    if way is None:
        return  # one way only (an fp32 graph, a forced level, a test double)
    recorded = library.embedding_way()
    stored_vectors = library.counts()[1] > 0
    if recorded not in (None, way) and stored_vectors and embedder.use_compute_way(recorded):
        return
    library.record_embedding_way(way)


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


class Engine:
    """Library operations for one data directory and one set of models."""

    def __init__(
        self,
        settings: Settings,
        embedder_factory: EmbedderFactory = default_embedder,
        generator_factory: GeneratorFactory = default_generator,
        *,
        read_only: bool = False,
    ):
        """`read_only`: a reader beside the app (the MCP server) that never writes the
        library's files and follows what the app saves (`follow_library`)."""
        # Nothing an engine does may reach the network; only `models download` lifts this.
        os.environ["HF_HUB_OFFLINE"] = "1"
        self.settings = settings
        self.read_only = read_only
        self._embedder_factory = embedder_factory
        self._embedder: OnnxEmbedder | None = None
        self._library: Library | None = None
        self._parser: ParserWorker | None = None
        self._load_lock = threading.Lock()
        self._ingest_lock = threading.Lock()  # one ingest at a time; searches run beside it
        self._generator_factory = generator_factory
        self._generator: ChatModel | None = None
        self._answer_lock = threading.Lock()  # one llama.cpp context: one answer at a time
        self._priority = AnswerPriority()  # an ingest steps aside while an answer runs
        # Random-weight test models give meaningless cosines, so tests and the self-test lower it.
        self.relevance_threshold = RELEVANCE_THRESHOLD

    # Lazy parts ----------------------------------------------------------------------

    @property
    def embedder(self) -> OnnxEmbedder:
        with self._load_lock:
            if self._embedder is None:
                self._embedder = self._embedder_factory(self.settings)
            return self._embedder

    @property
    def library(self) -> Library:
        embedder = self.embedder
        with self._load_lock:
            if self._library is None:
                self._library = Library.open(
                    self.settings.data_dir,
                    self.settings.dimension,
                    embedder.model_id,
                    read_only=self.read_only,
                )
                embed_as_the_library_does(self._library, embedder)
            return self._library

    def follow_library(self) -> bool:
        """Reopen the library when another process (the app, an ingest) saved its vectors
        since it was opened here; True when it did. Between two saves a reader sees the
        vectors of the last one and the keyword index of the moment."""
        with self._load_lock:
            library = self._library
            if library is None or not library.changed_on_disk():
                return False
            self._library = None
        library.close()
        _ = self.library
        return True

    @property
    def generator(self) -> ChatModel:
        with self._load_lock:
            if self._generator is None:
                self._generator = self._generator_factory(self.settings)
            return self._generator

    def _parser_worker(self) -> ParserWorker:
        with self._load_lock:
            if self._parser is None:
                self._parser = ParserWorker(
                    timeout_seconds=self.settings.parse_timeout_seconds,
                    memory_mb=self.settings.parse_memory_mb,
                    max_file_mb=self.settings.max_file_mb,
                    ocr=self.settings.ocr,
                    ocr_page_seconds=self.settings.ocr_page_timeout_seconds,
                    threads=self.settings.threads,
                )
            return self._parser

    # Operations ----------------------------------------------------------------------

    def ingest(
        self,
        roots: Sequence[Path],
        cancel: CancelToken = NEVER_CANCELLED,
        on_progress: Callable[[IngestProgress], None] | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Add files and folders to the library, or bring them up to date."""
        library, embedder, parser = self.library, self.embedder, self._parser_worker()
        with self._ingest_lock:
            ingestor = Ingestor(
                library,
                embedder,
                parser,
                self.settings,
                on_progress,
                on_file,
                cancel,
                self._priority,
            )
            return ingestor.run(list(roots))

    def rescan(
        self,
        cancel: CancelToken = NEVER_CANCELLED,
        on_progress: Callable[[IngestProgress], None] | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Bring every folder and file of the library up to date with the disk."""
        sources = [Path(source) for source in self.library.sources()]
        return self.ingest(sources, cancel, on_progress, on_file)

    def remove(self, targets: Sequence[Path]) -> list[str]:
        """Forget files or folders (not deleting them from disk); returns removed documents."""
        library = self.library
        keys = [str(Path(t).expanduser().absolute()) for t in targets]
        removed = [d.path for key in keys for d in library.documents(key)]
        with self._ingest_lock:
            for key in keys:
                library.remove_source(key)
            library.remove(keys)
            if library.unsaved_changes:
                library.save_index()
        return removed

    def search(
        self, query: str, k: int | None = None, mode: str | None = None, scope: Path | None = None
    ) -> list[SearchHit]:
        mode = mode or self.settings.search_mode
        vector: Callable[[], npt.NDArray[np.float32]] | None = None
        if mode != "keyword":
            embedder = self.embedder  # loads the model here: a missing one fails before searching

            def embed_query() -> npt.NDArray[np.float32]:
                vectors = embedder.embed([embedder.query_input(query)])
                return np.asarray(vectors[0], dtype=np.float32)

            vector = embed_query  # deferred: the library scores keywords while it embeds
        scope_key = str(Path(scope).expanduser().absolute()) if scope else None
        return self.library.search(query, vector, k or self.settings.top_k, mode, scope_key)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        k: int | None = None,
        scope: Path | None = None,
        cancel: CancelToken = NEVER_CANCELLED,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer from the library's passages, streaming the text to `on_token` (answering.py)."""
        started = time.monotonic()
        with self._priority.answering():  # a running ingest waits at its next batch
            hits = self.search(retrieval_query(question, history), k=k, scope=scope)
            cancel.raise_if_cancelled()
            options = AnswerOptions(
                max_answer_tokens=self.settings.max_answer_tokens,
                temperature=self.settings.temperature,
                relevance_threshold=self.relevance_threshold,
            )
            with self._answer_lock:
                return answer_question(
                    question, hits, history, self._answer_model, options, cancel, on_token, started
                )

    def _answer_model(self) -> ChatModel:
        generator = self.generator
        threads = self.settings.threads
        if not self._ingest_lock.locked():
            generator.set_threads(threads)
        elif self._priority.wait_for_ingest_to_step_aside(INGEST_STEP_ASIDE_S):
            # The cores this ingest kept busy a moment ago are free: the answer process must
            # not count that past load against the answer (core/cpu_share.py).
            generator.set_threads(threads, fresh=True)
        else:
            # The ingest is still inside one long step (a parse, say): llama.cpp's threads
            # wait for each other, and beside busy cores two threads wrote 5-10x slower than
            # one (README, Answers).
            generator.set_threads(max(1, threads // 2))
        return generator

    def passage(self, chunk_id: int, neighbours: int = 1) -> list[ChunkRecord]:
        """A passage and up to `neighbours` passages either side of it in its document."""
        return self.library.passage_in_context(chunk_id, neighbours)

    def embed(
        self,
        texts: Sequence[str],
        prompt: str = "document",
        title: str | None = None,
        dimension: int = 768,
    ) -> npt.NDArray[np.float32]:
        embedder = self.embedder
        inputs = [embedder.prompt_input(prompt, text, title) for text in texts]
        return truncate_and_normalize(embedder.embed(inputs), dimension)

    def status(self) -> LibraryStatus:
        library = self.library
        _, chunks = library.counts()
        return LibraryStatus(
            documents=library.documents(),
            chunks=chunks,
            sources=library.sources(),
            embedding_model=self.embedder.model_id,
            dimension=self.settings.dimension,
            data_dir=self.settings.data_dir,
            ocr_pages=library.ocr_page_counts(),
        )

    def close(self) -> None:
        with self._load_lock:
            if self._generator is not None:
                self._generator.close()
                self._generator = None
            if self._parser is not None:
                self._parser.close()
                self._parser = None
            if self._library is not None:
                self._library.close()
                self._library = None


def require_embedding_model(settings: Settings) -> Path:
    path = embedding_model_path(settings)
    if not path.exists():
        raise ModelError(path, "embedding model not found")
    return path
