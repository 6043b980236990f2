"""The one door into the library: the GUI, the CLI, the self-test and the MCP server
drive everything through it: an `Engine` for one library, and the functions it imports
`as` themselves for what needs no library (settings, models, recovery, JSON forms, the
highlighting of a query's words, the rule for a path under a folder), so that the GUI, the
CLI and the MCP server import nothing from core/ but this module and core.records
(tests/test_layering.py).

Importing this module is light, as `core.records` is: numpy, onnxruntime, FAISS and llama.cpp
load with the first model or library an engine opens (tests/test_layering.py), so the window
can import it at start-up and the heavy imports happen on the worker thread that first
uses them. Models load lazily, so opening the app or asking for `status` costs nothing.
Methods are synchronous and thread-safe; callers run them off the GUI thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embeddinggemma_rag.core.answering.answer_priority import AnswerPriority, answer_threads
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken
from embeddinggemma_rag.core.engine_tools import format_bench_report as format_bench_report
from embeddinggemma_rag.core.engine_tools import recover_library as recover_library
from embeddinggemma_rag.core.engine_tools import run_bench as run_bench
from embeddinggemma_rag.core.json_forms import answer_json as answer_json
from embeddinggemma_rag.core.json_forms import chunk_json as chunk_json
from embeddinggemma_rag.core.json_forms import document_json as document_json
from embeddinggemma_rag.core.json_forms import passage_json as passage_json
from embeddinggemma_rag.core.library.conversations import ConversationStore as ConversationStore
from embeddinggemma_rag.core.library.conversations import export_file_name as export_file_name
from embeddinggemma_rag.core.library.keyword_search import path_prefix_bounds as path_prefix_bounds
from embeddinggemma_rag.core.library.keyword_text import query_tokens as query_tokens
from embeddinggemma_rag.core.library.keyword_text import token_spans as token_spans
from embeddinggemma_rag.core.library.page_store import boxes_for_passage as boxes_for_passage
from embeddinggemma_rag.core.models.engine_models import default_embedder as default_embedder
from embeddinggemma_rag.core.models.engine_models import default_generator as default_generator
from embeddinggemma_rag.core.models.engine_models import download_models as download_models
from embeddinggemma_rag.core.models.engine_models import embed_as_the_library_does
from embeddinggemma_rag.core.models.engine_models import import_model as import_model
from embeddinggemma_rag.core.models.engine_models import list_models as list_models
from embeddinggemma_rag.core.models.engine_models import load_manifest as load_manifest
from embeddinggemma_rag.core.models.engine_models import query_cosine as query_cosine
from embeddinggemma_rag.core.models.engine_models import verify_models as verify_models
from embeddinggemma_rag.core.paths import config_dir as config_dir
from embeddinggemma_rag.core.records import (
    Answer,
    ChunkRecord,
    FileOutcome,
    IngestProgress,
    IngestReport,
    LibraryStatus,
    SearchHit,
    TextBox,
    Turn,
)
from embeddinggemma_rag.core.self_test import run_self_test as run_self_test
from embeddinggemma_rag.core.settings import Settings
from embeddinggemma_rag.core.settings import load_settings as load_settings
from embeddinggemma_rag.core.settings import save_settings_changes as save_settings_changes
from embeddinggemma_rag.core.settings import settings_file as settings_file

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from embeddinggemma_rag.core.answering.ask import Retrieval
    from embeddinggemma_rag.core.answering.generation import ChatModel
    from embeddinggemma_rag.core.intake.parsing import ParserWorker
    from embeddinggemma_rag.core.library.library import Library
    from embeddinggemma_rag.core.models.embedding import Embedder


# The seams are the protocols, so a test double is an embedder or a chat model like any other.
EmbedderFactory = Callable[[Settings], "Embedder"]
GeneratorFactory = Callable[[Settings], "ChatModel"]


def build_engine(
    settings: Settings,
    *,
    read_only: bool = False,
    embedder_factory: EmbedderFactory = default_embedder,
    generator_factory: GeneratorFactory = default_generator,
) -> Engine:
    """The composition root: the engine every caller runs, with the concrete models
    (`OnnxEmbedder`, the answer model's `ProcessChatModel`); the library opens `FaissIndex`
    and `SqliteChunkStore`. Tests and benchmarks pass their own factories.

    `read_only`: a reader beside the app (the MCP server) that never writes the library's
    files and follows what the app saves (`Engine.follow_library`)."""
    return Engine(settings, embedder_factory, generator_factory, read_only=read_only)


class Engine:
    """Library operations for one data directory and one set of models."""

    def __init__(
        self,
        settings: Settings,
        embedder_factory: EmbedderFactory,
        generator_factory: GeneratorFactory,
        *,
        read_only: bool = False,
    ):
        """Callers use `build_engine`, which passes the app's own models. `read_only`: a
        reader beside the app (the MCP server) that never writes the library's files and
        follows what the app saves (`follow_library`)."""
        # Nothing an engine does may reach the network; only `models download` lifts this.
        os.environ["HF_HUB_OFFLINE"] = "1"
        self.settings = settings
        self.read_only = read_only
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._library: Library | None = None
        self._parser: ParserWorker | None = None
        self._conversations: ConversationStore | None = None
        self._load_lock = threading.Lock()
        self._ingest_lock = threading.Lock()  # one ingest at a time; searches run beside it
        self._generator_factory = generator_factory
        self._generator: ChatModel | None = None
        self._answer_lock = threading.Lock()  # one llama.cpp context: one answer at a time
        self._priority = AnswerPriority()  # an ingest steps aside while an answer runs
        # Random-weight test models give meaningless cosines, so tests and the self-test lower
        # it. None: answering.ask's RELEVANCE_THRESHOLD (not imported here: it brings numpy).
        self.relevance_threshold: float | None = None

    # Lazy parts ----------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._load_lock:
            if self._embedder is None:
                self._embedder = self._embedder_factory(self.settings)
            return self._embedder

    @property
    def library(self) -> Library:
        embedder = self.embedder
        with self._load_lock:
            if self._library is None:
                from embeddinggemma_rag.core.library.library import Library

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
                from embeddinggemma_rag.core.intake.parsing import ParserWorker

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

    @property
    def conversations(self) -> ConversationStore:
        """The library's saved conversations (opened on first use: SQLite beside the library,
        no model needed). Quick reads and writes: the GUI uses it on its own thread."""
        with self._load_lock:
            if self._conversations is None:
                self._conversations = ConversationStore(self.settings.data_dir)
            return self._conversations

    def ingest(
        self,
        roots: Sequence[Path],
        cancel: CancelToken = NEVER_CANCELLED,
        on_progress: Callable[[IngestProgress], None] | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Add files and folders to the library, or bring them up to date."""
        from embeddinggemma_rag.core.intake.ingestion import Ingestor

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

    def reindex(
        self,
        also: Sequence[Path] = (),
        cancel: CancelToken = NEVER_CANCELLED,
        on_progress: Callable[[IngestProgress], None] | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Forget every document and index the same folders and files again (after a change
        of chunking), together with `also`, in one ingest."""
        sources = [Path(source) for source in self.library.sources()]
        if not (sources or also):
            return IngestReport()  # an empty library: nothing to read again
        self.remove(sources)  # forgets the sources too: they are indexed again by name
        return self.ingest([*sources, *also], cancel, on_progress, on_file)

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
        import numpy as np

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
        """Answer from the library's passages, streaming the text to `on_token`
        (core/answering/ask.py)."""
        from embeddinggemma_rag.core.answering.ask import (
            RELEVANCE_THRESHOLD,
            AnswerOptions,
            answer_question,
        )

        started = time.monotonic()
        with self._priority.answering():  # a running ingest waits at its next batch
            found = self.retrieve(question, history, k, scope)
            cancel.raise_if_cancelled()
            threshold = self.relevance_threshold
            options = AnswerOptions(
                max_answer_tokens=self.settings.max_answer_tokens,
                temperature=self.settings.temperature,
                relevance_threshold=RELEVANCE_THRESHOLD if threshold is None else threshold,
            )
            hits, turns = found.hits, found.history
            with self._answer_lock:
                return answer_question(
                    question, hits, turns, self._answer_model, options, cancel, on_token, started
                )

    def retrieve(
        self,
        question: str,
        history: Sequence[Turn] = (),
        k: int | None = None,
        scope: Path | None = None,
    ) -> Retrieval:
        """What `ask` answers from (`answering.ask.retrieve_for_question`)."""
        from embeddinggemma_rag.core.answering.ask import retrieve_for_question

        k = k or self.settings.top_k
        keyword = self.settings.search_mode == "keyword"
        similarity = None if keyword else lambda a, b: query_cosine(self.embedder, a, b)
        return retrieve_for_question(
            question, history, lambda query: self.search(query, k=k, scope=scope), similarity, k
        )

    def _answer_model(self) -> ChatModel:
        generator = self.generator
        threads = answer_threads(self.settings.threads, self._ingest_lock.locked(), self._priority)
        generator.set_threads(threads.count, fresh=threads.fresh)
        return generator

    def passage(self, chunk_id: int, neighbours: int = 1) -> list[ChunkRecord]:
        """A passage and up to `neighbours` passages either side of it in its document."""
        return self.library.passage_in_context(chunk_id, neighbours)

    def page_boxes(self, path: str, page: int) -> list[TextBox]:
        """OCR line boxes of one page of a document, for highlighting a passage on its image:
        one indexed SQLite read. [] while the library is not open yet, rather than wait for
        the model it opens with."""
        library = self._library
        return [] if library is None else library.page_boxes(path, page)

    def document_text(self, path: Path) -> str:
        """A document's text as ingestion read it (pages joined by PAGE_SEPARATOR), parsed
        in a sandbox of its own, so a viewer never waits behind an ingest's parser."""
        from embeddinggemma_rag.core.intake.parsing import ParserWorker

        s = self.settings
        with ParserWorker(s.parse_timeout_seconds, s.parse_memory_mb, s.max_file_mb) as worker:
            return worker.parse(path).text

    def embed(
        self,
        texts: Sequence[str],
        prompt: str = "document",
        title: str | None = None,
        dimension: int = 768,
    ) -> npt.NDArray[np.float32]:
        from embeddinggemma_rag.core.library.matryoshka import truncate_and_normalize

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
            if self._conversations is not None:
                self._conversations.close()
                self._conversations = None
