"""The one bridge from core work to Qt: functions run on worker threads and report by signal.

A job's function gets a `JobContext` and calls it from its own thread; the `Job` turns what
it hears into signals delivered on the GUI thread. Jobs never touch widgets, and widgets never
run core work. Repaints are throttled here, not the work: progress at most every 1 % (with a
heartbeat so a long file still shows its name), items every 100 ms, tokens every 50 ms.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from embeddinggemma_rag.core.records import Cancelled, CancelToken
from embeddinggemma_rag.gui.signals import emit

PROGRESS_STEP = 0.01
PROGRESS_HEARTBEAT_SECONDS = 0.5
ITEMS_EVERY_SECONDS = 0.1
TOKENS_EVERY_SECONDS = 0.05
# Ingest, answer, and one for short work (status, loading, viewer text) at the same time;
# more would only make the models fight over the same cores.
WORKER_THREADS = 3


class JobContext:
    """What a job's function holds: cancellation, a pause point, and throttled reporting."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self.cancel = CancelToken()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._progress: tuple[object, float | None] | None = None
        self._progress_sent: tuple[float | None, float] = (None, 0.0)
        self._items: list[object] = []
        self._items_sent = 0.0
        self._tokens: list[str] = []
        self._tokens_sent = 0.0

    def check(self) -> None:
        """Wait here while paused; raise `Cancelled` once cancelled."""
        while not self._running.wait(0.05):
            self.cancel.raise_if_cancelled()
        self.cancel.raise_if_cancelled()

    def progress(self, value: object, fraction: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._progress = (value, fraction)
            last_fraction, last_time = self._progress_sent
            moved = fraction is not None and (
                last_fraction is None or abs(fraction - last_fraction) >= PROGRESS_STEP
            )
            if not moved and now - last_time < PROGRESS_HEARTBEAT_SECONDS:
                return
            self._progress, self._progress_sent = None, (fraction, now)
        self._flush_items()  # the items a progress report counts are never shown after it
        emit(self._job.progressed, value)

    def item(self, value: object) -> None:
        with self._lock:
            self._items.append(value)
            if time.monotonic() - self._items_sent < ITEMS_EVERY_SECONDS:
                return
        self._flush_items()

    def token(self, text: str) -> None:
        with self._lock:
            self._tokens.append(text)
            if time.monotonic() - self._tokens_sent < TOKENS_EVERY_SECONDS:
                return
        self._flush_tokens()

    def flush(self) -> None:
        """Send whatever the throttles held back; called once the function has returned."""
        self._flush_items()
        self._flush_tokens()
        with self._lock:
            pending, self._progress = self._progress, None
        if pending is not None:
            emit(self._job.progressed, pending[0])

    def _flush_items(self) -> None:
        with self._lock:
            items, self._items, self._items_sent = self._items, [], time.monotonic()
        if items:
            emit(self._job.items, items)

    def _flush_tokens(self) -> None:
        with self._lock:
            text, self._tokens, self._tokens_sent = "".join(self._tokens), [], time.monotonic()
        if text:
            emit(self._job.tokens, text)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._running.clear()
        else:
            self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()


class Job(QObject):
    """One piece of work on a worker thread. Exactly one of succeeded, failed or cancelled
    is emitted, then finished."""

    progressed = Signal(object)
    items = Signal(list)
    tokens = Signal(str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception, its traceback attached
    cancelled = Signal()
    finished = Signal()
    paused_changed = Signal(bool)

    def __init__(self, name: str, work: Callable[[JobContext], object]) -> None:
        super().__init__()
        self.name = name
        self._work = work
        self.context = JobContext(self)
        self.done = False
        self.finished.connect(self._on_self_finished)

    def cancel(self) -> None:
        self.context.cancel.cancel()
        self.context.set_paused(False)  # a paused job must wake up to see the cancel

    def set_paused(self, paused: bool) -> None:
        if self.context.paused != paused and not self.done:
            self.context.set_paused(paused)
            emit(self.paused_changed, paused)

    @property
    def paused(self) -> bool:
        return self.context.paused

    @property
    def cancel_requested(self) -> bool:
        return self.context.cancel.cancelled

    def run(self) -> None:
        """Runs on the worker thread."""
        try:
            result = self._work(self.context)
        except Cancelled:
            self.context.flush()
            emit(self.cancelled)
        except Exception as exc:
            self.context.flush()
            emit(self.failed, exc)
        else:
            self.context.flush()
            emit(self.succeeded, result)
        finally:
            emit(self.finished)

    def _on_self_finished(self) -> None:
        self.done = True


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:
        self._job.run()


class JobRunner(QObject):
    """Starts jobs on a small pool and, on close, cancels them and waits."""

    def __init__(self, threads: int = WORKER_THREADS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._jobs: set[Job] = set()
        self.closed = False

    def start(self, name: str, work: Callable[[JobContext], object]) -> Job:
        """Queue `work`; it starts once control returns to the event loop, so the caller's
        connections made right after this call never miss a quick job's signals."""
        job = Job(name, work)
        self._jobs.add(job)
        job.finished.connect(self._on_job_finished)
        QTimer.singleShot(0, self, lambda: self._launch(job))
        return job

    def _launch(self, job: Job) -> None:
        if self.closed:  # nothing new starts once the window is closing
            job.cancel()
            emit(job.cancelled)
            emit(job.finished)
        else:
            self._pool.start(_Runnable(job))

    def _on_job_finished(self) -> None:
        self._jobs.discard(self.sender())  # type: ignore[arg-type]

    def active(self) -> list[Job]:
        return [job for job in self._jobs if not job.done]

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Cancel every job and wait for the workers; True when all of them stopped."""
        self.closed = True
        for job in list(self._jobs):
            job.cancel()
        return self._pool.waitForDone(timeout_ms)

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait for the running jobs without cancelling them (tests, settings changes)."""
        return self._pool.waitForDone(timeout_ms)
