"""The engine seen from the GUI: loads its models in the background, queues ingests, starts
answers.

The engine is made with the window (cheap: nothing loads until used), so its conversations
are there at once, even before the models are. Loading a model pulls in onnxruntime, FAISS
and numpy (over a second), so it happens on a worker thread and the window is usable first.
Every engine call that may wait for a model or the disk runs in a job; this object only keeps
the queue and relays results as signals. Pause is a `threading.Event` checked from
the ingest progress callback (the job blocks between files or batches while paused); cancel
stops the ingest, and the next ingest resumes it, because unchanged files are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from embeddinggemma_rag.core.engine import ConversationStore, Engine, build_engine
from embeddinggemma_rag.core.records import (
    Answer,
    IngestProgress,
    IngestReport,
    LibraryStatus,
    Settings,
    TextBox,
    Turn,
)
from embeddinggemma_rag.gui.jobs import Job, JobContext, JobRunner
from embeddinggemma_rag.gui.signals import emit

EngineFactory = Callable[[Settings], Engine]


@dataclass(frozen=True)
class FilesFound:
    """Sent among an ingest's items before any outcome: the files it is going to index."""

    paths: tuple[str, ...]


EMBEDDING, GENERATOR = "embedding", "generator"


def default_engine_factory(settings: Settings) -> Engine:
    return build_engine(settings)


class EngineHost(QObject):
    """Owns the `Engine` and the `JobRunner`; the GUI thread never calls the engine."""

    model_state_changed = Signal(str, str)  # which (EMBEDDING or GENERATOR), state text
    status_changed = Signal(object)  # LibraryStatus
    ingest_started = Signal(object)  # the ingest Job: progress, items (FileOutcome), pause
    ingest_finished = Signal(object)  # IngestReport, or None when it failed
    failed = Signal(object, str)  # exception, what was being done
    generator_failed = Signal(object)  # the exception: the library works on without it
    pending_changed = Signal()  # folders and files waiting to be indexed
    library_changed = Signal()  # new settings name another library folder

    def __init__(
        self,
        settings: Settings,
        engine_factory: EngineFactory = default_engine_factory,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.runner = JobRunner(parent=self)
        self._factory = engine_factory
        self._engine = engine_factory(settings)
        self._retiring: list[Engine] = []  # replaced by `reload`: closed on a worker
        # Set once `start` has closed the engines this one replaced: jobs wait for it.
        self._engine_made = threading.Event()
        self._ingest_job: Job | None = None
        self._pending_paths: list[str] = []
        self._running_paths: list[str] = []
        # True while the search model is missing: ingests wait (kept, not dropped) and
        # questions are answered by the window with what to set up, not a search that hangs.
        self.models_missing = False
        self._pending_rescan = False
        self._pending_reindex = False
        self.download_endpoint: str | None = None  # None: the Hugging Face hub (tests: loopback)
        self._status_job: Job | None = None
        self._status_dirty = False
        self.library_chunks: int | None = None  # passages in the library, once it was read
        self.status_changed.connect(self._on_self_status_changed)

    # Start-up and shutdown -------------------------------------------------------------

    def start(self, rescan: bool = True) -> None:
        """Make the engine and load the embedding model; then rescan and load the generator."""
        self.models_missing = False
        self._engine_made.clear()
        emit(self.model_state_changed, EMBEDDING, "loading…")
        retiring, self._retiring = self._retiring, []
        engine = self._engine
        job = self.runner.start("load", lambda ctx: self._load(engine, retiring))
        job.succeeded.connect(self._on_load_succeeded)
        job.failed.connect(self._on_load_failed)
        if rescan:
            self.rescan()
        else:
            self._start_next_ingest()  # folders added while the models were missing

    def reload(self, settings: Settings, rescan: bool = False) -> None:
        """Use new settings: stop every job, then close the engine and make a new one."""
        self.settings = settings
        # Folders waiting, or being indexed, are indexed again by the new engine: cancelling
        # keeps what was stored, and unchanged files are skipped.
        for path in self._running_paths:
            if path not in self._pending_paths:
                self._pending_paths.append(path)
        if self._ingest_job is not None:
            self._ingest_job.cancel()
        stopping = self.runner.active()
        for job in stopping:
            job.cancel()
        self._engine_made.clear()  # jobs started from now on wait for the new engine
        self._after(stopping, lambda: self._replace_engine(rescan))

    def _replace_engine(self, rescan: bool) -> None:
        """A new engine for the new settings; the old one is closed by `start`'s job, not
        here on the GUI thread (it may save a large index)."""
        data_dir = self._engine.settings.data_dir
        self._retiring.append(self._engine)
        self._engine = self._factory(self.settings)
        if self.settings.data_dir != data_dir:
            emit(self.library_changed)  # another library: its own conversations
        self.start(rescan)

    def _after(self, jobs: list[Job], callback: Callable[[], None]) -> None:
        """Call back once these jobs are done (not jobs started since: they may be waiting
        for the very engine the callback makes)."""
        if any(not job.done for job in jobs):
            QTimer.singleShot(50, self, lambda: self._after(jobs, callback))  # not after close
        else:
            callback()

    def _load(self, engine: Engine, retiring: list[Engine]) -> LibraryStatus:
        try:
            for old in retiring:
                old.close()  # here, not on the GUI thread: it may save a large index
        finally:
            self._engine_made.set()  # waiting jobs then fail on a missing model, never hang
        engine.embedder  # noqa: B018 - the property loads the model
        return engine.status()

    def _on_load_succeeded(self, status: LibraryStatus) -> None:
        emit(self.model_state_changed, EMBEDDING, "ready")
        emit(self.status_changed, status)
        # Loaded now, not at the first question: the first answer should not wait for it.
        emit(self.model_state_changed, GENERATOR, "loading…")
        job = self.runner.start("load generator", self._load_generator)
        job.succeeded.connect(self._on_generator_loaded)
        job.failed.connect(self._on_generator_failed)

    def _on_load_failed(self, exc: BaseException) -> None:
        emit(self.model_state_changed, EMBEDDING, "not loaded")
        emit(self.failed, exc, "load the embedding model")

    def _load_generator(self, ctx: JobContext) -> None:
        self.engine(ctx).generator  # noqa: B018 - the property loads the model

    def _on_generator_loaded(self, _: object) -> None:
        emit(self.model_state_changed, GENERATOR, "ready")

    def _on_generator_failed(self, exc: BaseException) -> None:
        emit(self.model_state_changed, GENERATOR, f"not loaded ({exc})")
        emit(self.generator_failed, exc)

    def _on_self_status_changed(self, status: LibraryStatus) -> None:
        self.library_chunks = status.chunks

    @property
    def library_empty(self) -> bool:
        """Known to hold no passages (False while it has not been read yet)."""
        return self.library_chunks == 0

    def engine(self, ctx: JobContext) -> Engine:
        """The engine, for job functions: waits (cancellably) until it has been made."""
        while not self._engine_made.wait(0.05):
            ctx.check()
        return self._engine

    @property
    def conversations(self) -> ConversationStore:
        """The library's saved conversations: quick SQLite reads and writes, fine on the GUI
        thread, and there before the models are."""
        return self._engine.conversations

    def stop_jobs(self) -> None:
        """Cancel every job and wait for the workers; nothing new starts after this."""
        self.runner.shutdown()

    def close(self) -> None:
        """Stop the jobs, then close the engines (saving the index)."""
        self.stop_jobs()
        for engine in [*self._retiring, self._engine]:
            engine.close()
        self._retiring = []

    # Library ---------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path | str]) -> None:
        for path in map(str, paths):
            if path not in self._pending_paths:
                self._pending_paths.append(path)
        self._start_next_ingest()
        emit(self.pending_changed)

    @property
    def pending_paths(self) -> list[str]:
        """Added folders and files not yet being indexed (waiting for the models or a turn)."""
        return list(self._pending_paths)

    def rescan(self) -> None:
        self._pending_rescan = True
        self._start_next_ingest()

    def reindex(self) -> None:
        """Forget every document and index the same sources again (after a chunking change)."""
        self._pending_reindex = True
        self._start_next_ingest()

    @property
    def ingest_job(self) -> Job | None:
        return self._ingest_job

    def cancel_ingest(self) -> None:
        """Stop the running ingest and drop the queued ones; what was stored stays."""
        self._pending_paths.clear()
        self._pending_rescan = self._pending_reindex = False
        if self._ingest_job is not None:
            self._ingest_job.cancel()
        emit(self.pending_changed)

    def _start_next_ingest(self) -> None:
        if self._ingest_job is not None or self.runner.closed or self.models_missing:
            return
        rescan, paths = self._pending_rescan, [Path(p) for p in self._pending_paths]
        reindex = self._pending_reindex
        if not (rescan or reindex or paths):
            return
        self._pending_rescan = self._pending_reindex = False
        self._pending_paths, self._running_paths = [], [str(p) for p in paths]
        emit(self.pending_changed)

        def work(ctx: JobContext) -> tuple[IngestReport | None, LibraryStatus]:
            engine = self.engine(ctx)

            def on_progress(progress: IngestProgress) -> None:
                ctx.check()  # the pause point
                if progress.files:  # the walk's list, once: every file is shown at once
                    ctx.item(FilesFound(progress.files))
                total = progress.work_total
                ctx.progress(progress, progress.work_done / total if total else None)

            report = None
            if reindex:  # the queued folders and files go with the library's own
                report = engine.reindex(paths, ctx.cancel, on_progress, ctx.item)
            elif rescan:
                report = engine.rescan(ctx.cancel, on_progress, ctx.item)
            if paths and not reindex:  # even when cancelled: it records the folders first
                report = engine.ingest(paths, ctx.cancel, on_progress, ctx.item)
            return report, engine.status()

        job = self.runner.start("ingest", work)
        job.succeeded.connect(self._on_ingest_succeeded)
        job.failed.connect(self._on_ingest_failed)
        job.finished.connect(self._on_ingest_job_finished)
        self._ingest_job = job
        emit(self.ingest_started, job)

    def _on_ingest_succeeded(self, result: tuple[IngestReport | None, LibraryStatus]) -> None:
        report, status = result
        emit(self.ingest_finished, report)
        emit(self.status_changed, status)

    def _on_ingest_failed(self, exc: BaseException) -> None:
        emit(self.ingest_finished, None)
        emit(self.failed, exc, "index the files")
        self.refresh_status()

    def _on_ingest_job_finished(self) -> None:
        self._ingest_job = None
        self._running_paths = []
        # A 0 ms timer: the job's other signals are all delivered before the next starts.
        QTimer.singleShot(0, self, self._start_next_ingest)

    def remove(self, paths: Sequence[Path | str]) -> None:
        targets = [Path(p) for p in paths]
        job = self.runner.start("remove", lambda ctx: self.engine(ctx).remove(targets))
        job.failed.connect(lambda exc: emit(self.failed, exc, "remove from the library"))
        job.finished.connect(self.refresh_status)

    def refresh_status(self) -> None:
        """Read the library's documents again; requests during a read are merged into one."""
        if self._status_job is not None:
            self._status_dirty = True
            return
        job = self.runner.start("status", lambda ctx: self.engine(ctx).status())
        job.succeeded.connect(self.status_changed)
        job.failed.connect(lambda exc: emit(self.failed, exc, "read the library"))
        job.finished.connect(self._on_status_job_finished)
        self._status_job = job

    def _on_status_job_finished(self) -> None:
        self._status_job = None
        if self._status_dirty:
            self._status_dirty = False
            self.refresh_status()

    # Answers ---------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[Turn], scope: Path | None) -> Job:
        """Start an answer; the job streams `tokens` and succeeds with an `Answer`."""
        turns = tuple(history)

        def work(ctx: JobContext) -> Answer:
            return self.engine(ctx).ask(
                question, history=turns, scope=scope, cancel=ctx.cancel, on_token=ctx.token
            )

        return self.runner.start("ask", work)

    # Documents -------------------------------------------------------------------------

    def page_boxes(self, path: str, page: int) -> list[TextBox]:
        """OCR line boxes of one page, for the viewer: one indexed SQLite read, quick enough
        for the GUI thread. [] before the library is open or when it fails."""
        try:
            return self._engine.page_boxes(path, page)
        except Exception:  # the viewer then shows the page without a highlight
            return []

    def read_document(self, path: str, then: Callable[[str], object] = str) -> Job:
        """Extract a document's text as ingestion did (in the parser sandbox) and hand it to
        `then` on the worker too (searching a long text is no work for the GUI thread)."""
        engine = self._engine
        return self.runner.start(
            "read document", lambda ctx: then(engine.document_text(Path(path)))
        )
