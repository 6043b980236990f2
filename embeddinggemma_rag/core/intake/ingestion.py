"""Ingestion: walk, parse in the sandbox, chunk, embed across files in batches, store; the
next files are parsed and chunked while the previous batch embeds.

Each file is committed in its own SQLite transaction, so a kill loses at most the files whose
vectors were still being computed; unchanged files (same size and mtime, or same content
hash) are never embedded again, which is also how an interrupted ingest resumes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from embeddinggemma_rag.core.answering.answer_priority import AnswerPriority
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken, Progress
from embeddinggemma_rag.core.errors import Cancelled, DocumentError, LibraryError
from embeddinggemma_rag.core.intake.chunking import chunk_document, fit_title
from embeddinggemma_rag.core.intake.documents import Chunk, FileStatus, PageText
from embeddinggemma_rag.core.intake.file_walk import iter_library_files
from embeddinggemma_rag.core.intake.parsing import ParserWorker, is_supported
from embeddinggemma_rag.core.library.chunk_store import DocumentRecord
from embeddinggemma_rag.core.library.library import Library
from embeddinggemma_rag.core.models.embedding import Embedder
from embeddinggemma_rag.core.records import FileOutcome as FileOutcome
from embeddinggemma_rag.core.records import IngestProgress as IngestProgress
from embeddinggemma_rag.core.records import IngestReport as IngestReport
from embeddinggemma_rag.core.settings import Settings

# Embed chunks of several small files together: one file of one chunk is a batch of one,
# which leaves most of the model's throughput unused.
FLUSH_TOKENS = 32_768
FLUSH_FILES = 64
SAVE_INDEX_EVERY_SECONDS = 30.0

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    record: DocumentRecord
    chunks: list[Chunk]
    inputs: list[str]
    pages: tuple[PageText, ...] = ()


FILE_WORK_BYTES = 4096  # what opening, hashing and recording a file costs, as bytes of text


def _work_weight(path: Path) -> float:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return float(size + FILE_WORK_BYTES)


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Ingestor:
    """Brings files into a library; one instance per ingest run."""

    def __init__(
        self,
        library: Library,
        embedder: Embedder,
        parser: ParserWorker,
        settings: Settings,
        on_progress: Callable[[IngestProgress], None] | None = None,
        on_file: Callable[[FileOutcome], None] | None = None,
        cancel: CancelToken = NEVER_CANCELLED,
        priority: AnswerPriority | None = None,
    ) -> None:
        self.library = library
        self.embedder = embedder
        self.parser = parser
        self.settings = settings
        self.on_progress = on_progress or (lambda _: None)
        self.on_file = on_file or (lambda _: None)
        self.cancel = cancel
        self.priority = priority
        self.report = IngestReport()
        self._pending: list[_Pending] = []
        self._pending_tokens = 0
        self._started = time.monotonic()
        self._last_save = self._started
        self._files_total = 0
        self._current = ""
        self._step = ""
        self._weights: dict[str, float] = {}
        self._work_done = self._work_total = 0.0
        # Parsing overlaps embedding: queued chunks embed and store on this thread while the
        # run's own thread parses and chunks the next files, one batch in flight at a time.
        self._embedder_thread = ThreadPoolExecutor(1, thread_name_prefix="ingest-embed")
        self._embedding: Future[None] | None = None
        self._inflight_work = 0.0  # the in-flight batch's share of the work, as it embeds
        self._lock = threading.Lock()  # counters both threads add to

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:  # parse and embed run at once: phases overlap in wall time
                self.report.phase_seconds[phase] += time.perf_counter() - started

    def run(self, roots: Sequence[Path]) -> IngestReport:
        roots = [Path(root).expanduser().absolute() for root in roots]
        try:
            with self._timed("walk"):
                files = self._walk(roots)
            for path in files:
                self._give_way_to_answers()
                self.cancel.raise_if_cancelled()
                self._current = str(path)
                self._ingest_file_safely(path)
                self._maybe_save()
            self._flush()
            self._finish_embedding()
            self.report.removed = self._prune(roots, {str(p) for p in files})
        except Cancelled:
            self.report.cancelled = True
        finally:
            self._settle_embedding()
            # An ingest that changed nothing writes nothing: the index file can be gigabytes.
            if self.library.unsaved_changes:
                with self._timed("store"):
                    self.library.save_index()
            self.report.seconds = time.monotonic() - self._started
        return self.report

    def _walk(self, roots: Sequence[Path]) -> list[Path]:
        present = []
        for root in roots:
            if root.exists():
                self.library.add_source(str(root))
                present.append(root)
            else:
                self.report.missing_roots.append(str(root))
        files = list(iter_library_files(present, self.cancel, self._passed_over))
        self._files_total = len(files)
        self._weights = {str(path): _work_weight(path) for path in files}
        self._work_total = sum(self._weights.values())
        self._progress(files=tuple(self._weights))
        return files

    def _ingest_file_safely(self, path: Path) -> None:
        """One file's unexpected error fails that file, never the run (a library or disk
        error, or a cancel, still stops it: those concern every file)."""
        try:
            self._ingest_file(path)
        except (Cancelled, LibraryError):
            raise
        except Exception as exc:  # reported as the file's reason, so the run goes on
            logger.debug("ingesting %s failed", path, exc_info=True)
            reason = f"could not be indexed ({type(exc).__name__}: {exc})"
            self._outcome(FileOutcome(str(path), FileStatus.FAILED, reason, 0, False))

    def _passed_over(self, path: Path, reason: str) -> None:
        """Paths the walk cannot index (undecodable names, paths too long) are reported."""
        self._outcome(FileOutcome(str(path), FileStatus.FAILED, reason, 0, False))

    def _ingest_file(self, path: Path) -> None:
        key = str(path)
        try:
            stat = path.stat()
        except OSError as exc:  # deleted or unreadable between the walk and now
            self._finish(
                DocumentRecord(
                    key,
                    None,
                    None,
                    None,
                    None,
                    FileStatus.FAILED,
                    f"unreadable ({exc.strerror or exc})",
                )
            )
            return
        known = self.library.get_document(key)
        if known and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns:
            self._unchanged(known)
            return
        if not is_supported(path):
            reason = f"unsupported file type ({path.suffix or 'no extension'})"
            self._finish(
                DocumentRecord(
                    key, stat.st_size, stat.st_mtime_ns, None, None, FileStatus.SKIPPED, reason
                )
            )
            return
        try:
            with self._timed("walk"):
                digest = content_hash(path)
        except OSError as exc:
            self._finish(
                DocumentRecord(
                    key,
                    stat.st_size,
                    stat.st_mtime_ns,
                    None,
                    None,
                    FileStatus.FAILED,
                    f"unreadable ({exc.strerror or exc})",
                )
            )
            return
        if known and known.content_hash == digest and known.status == FileStatus.INDEXED:
            # Touched but not changed (a checkout, a copy): keep its vectors.
            self.library.store.update_file_stat(key, stat.st_size, stat.st_mtime_ns)
            self._unchanged(known)
            return
        self._parse_and_queue(path, stat.st_size, stat.st_mtime_ns, digest)

    def _parse_and_queue(self, path: Path, size: int, mtime_ns: int, digest: str) -> None:
        key = str(path)
        try:
            with self._timed("parse"):
                parsed = self.parser.parse(path, self._on_parse_step)
        except DocumentError as error:
            status = FileStatus(error.status)
            self._finish(DocumentRecord(key, size, mtime_ns, digest, None, status, error.reason))
            return
        with self._timed("chunk"):
            title = fit_title(
                parsed.title or path.stem, self.embedder.count_tokens, self.settings.chunk_tokens
            )
            chunks = chunk_document(
                parsed,
                title,
                self.embedder.count_tokens,
                self.settings.chunk_tokens,
                self.settings.chunk_overlap_tokens,
                self.embedder.count_tokens_many,
            )
            inputs = [self.embedder.document_input(title, chunk.text) for chunk in chunks]
        if not chunks:
            reason = "no extractable text"
            self._finish(
                DocumentRecord(key, size, mtime_ns, digest, title, FileStatus.NO_TEXT, reason)
            )
            return
        record = DocumentRecord(
            key, size, mtime_ns, digest, title, FileStatus.INDEXED, parsed.warning, len(chunks)
        )
        self._pending.append(_Pending(record, chunks, inputs, parsed.pages))
        self._pending_tokens += sum(chunk.token_count for chunk in chunks)
        if self._pending_tokens >= FLUSH_TOKENS or len(self._pending) >= FLUSH_FILES:
            self._flush()

    def _flush(self) -> None:
        """Hand every queued chunk to the embedding thread (after the batch before it is
        stored), so the next files are parsed and chunked while these embed."""
        self._finish_embedding()
        if not self._pending:
            return
        pending, self._pending, self._pending_tokens = self._pending, [], 0
        self._embedding = self._embedder_thread.submit(self._embed_and_store, pending)

    def _finish_embedding(self) -> None:
        """Wait for the batch in flight; what it raised (a cancel, a library error) is raised
        here, on the run's thread."""
        embedding, self._embedding = self._embedding, None
        if embedding is not None:
            embedding.result()

    def _settle_embedding(self) -> None:
        """On the way out, whatever happened: the batch in flight ends (its files stored, or
        cancelled) before the index is saved; an error of its own is only logged then."""
        try:
            self._finish_embedding()
        except Cancelled:
            self.report.cancelled = True
        except Exception:
            logger.exception("embedding the last batch failed")
        finally:
            self._embedder_thread.shutdown(wait=True)

    def _embed_and_store(self, pending: list[_Pending]) -> None:
        """Embed a batch of files' chunks in shared batches, then commit file by file."""
        inputs = [text for item in pending for text in item.inputs]
        done_before = self.report.chunks_embedded
        work_here = sum(self._weights.get(item.record.path, 0.0) for item in pending)

        def on_batch(progress: Progress) -> None:
            share = progress.done / progress.total if progress.total else 0.0
            self._inflight_work = work_here * share
            self._progress(chunks_done=done_before + progress.done)
            self._give_way_to_answers()  # between two batches: the cores are free now

        with self._timed("embed"):
            vectors = self.embedder.embed(inputs, self.cancel, on_batch)
        self._inflight_work = work_here  # each file's share moves to done with its outcome
        offset = 0
        for item in pending:
            count = len(item.chunks)
            with self._timed("store"):
                self.library.replace_document(
                    item.record, item.chunks, vectors[offset : offset + count], item.pages
                )
            offset += count
            self._inflight_work -= self._weights.get(item.record.path, 0.0)
            self.report.chunks_embedded += count
            self._record(item.record, embedded=True)
        self._inflight_work = 0.0

    def _give_way_to_answers(self) -> None:
        """Wait while the person's question is answered (core/answering/answer_priority.py)."""
        if self.priority is None or not self.priority.answer_running:
            return
        step, self._step = self._step, "paused while an answer is written"
        self._progress()
        waited = self.priority.wait_for_answers(self.cancel)
        with self._lock:
            self.report.seconds_waiting_for_answers += waited
        self._step = step
        self._progress()

    def _on_parse_step(self, message: str) -> None:
        self._step = message
        self._progress()

    def _finish(self, record: DocumentRecord) -> None:
        self.library.mark_document(record)
        self._record(record, embedded=False)

    def _unchanged(self, record: DocumentRecord) -> None:
        outcome = FileOutcome(record.path, record.status, record.reason, record.chunk_count, False)
        self._outcome(outcome)

    def _record(self, record: DocumentRecord, embedded: bool) -> None:
        outcome = FileOutcome(
            record.path, record.status, record.reason, record.chunk_count, embedded
        )
        self._outcome(outcome)

    def _outcome(self, outcome: FileOutcome) -> None:
        self._step = ""
        with self._lock:
            self._work_done += self._weights.get(outcome.path, 0.0)
            self.report.outcomes.append(outcome)
        self.on_file(outcome)
        self._progress()

    def _progress(self, chunks_done: int | None = None, files: tuple[str, ...] = ()) -> None:
        self.on_progress(
            IngestProgress(
                files_done=len(self.report.outcomes),
                files_total=self._files_total,
                chunks_done=self.report.chunks_embedded if chunks_done is None else chunks_done,
                current_file=self._current,
                elapsed_seconds=time.monotonic() - self._started,
                current_step=self._step,
                work_done=self._work_done + self._inflight_work,
                work_total=self._work_total,
                files=files,
            )
        )

    def _maybe_save(self) -> None:
        now = time.monotonic()
        if now - self._last_save >= SAVE_INDEX_EVERY_SECONDS and self.library.unsaved_changes:
            with self._timed("store"):
                self.library.save_index()
            self._last_save = now

    def _prune(self, roots: Iterable[Path], seen: set[str]) -> list[str]:
        """Drop documents under the walked roots that are gone from disk or now ignored."""
        gone: list[str] = []
        for root in roots:
            if not root.exists():
                continue  # an unplugged drive must not wipe its part of the library
            gone += [d.path for d in self.library.documents(str(root)) if d.path not in seen]
        if gone:
            self.library.remove(gone)
        return gone
