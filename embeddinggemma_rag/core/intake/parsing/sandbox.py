"""`ParserWorker`: parses untrusted files in a child process with a time limit and memory cap."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

from embeddinggemma_rag.core import child_process
from embeddinggemma_rag.core.errors import (
    Cancelled,
    DocumentError,
    NoTextDocument,
    UnsupportedDocument,
)
from embeddinggemma_rag.core.intake.documents import ParsedDocument
from embeddinggemma_rag.core.intake.parsing import sandbox_child

_STARTUP_SECONDS = 60.0  # a cold start on a slow disk, antivirus scanning the frozen app...
_ERRORS: dict[str, type[DocumentError]] = {
    UnsupportedDocument.status: UnsupportedDocument,
    NoTextDocument.status: NoTextDocument,
    DocumentError.status: DocumentError,
}


class ParserWorker:
    """One long-lived child process that runs `parse_file`, restarted after a kill or crash.

    A file that loops is killed after `timeout_seconds`; one that explodes in memory hits the
    child's cap (`memory_mb` of address space on top of what the child holds after start-up;
    POSIX only: Windows has no `resource` module, so there only the time limit and the file
    size limit protect). Either way the app sees a DocumentError and goes on.

    The child is started with "spawn", also under Linux: forking a process that runs Qt and
    model threads is unsafe, and spawn is what a frozen app gets on Windows and macOS anyway.
    A frozen app must call `multiprocessing.freeze_support()` first thing in its entry point,
    and, as with any spawn child, the child re-imports the entry script: heavy imports (Qt,
    onnxruntime) belong inside its main(), not at its top, or every parser start pays for them.
    One lock serialises `parse`, so threads may share a worker, one file at a time.
    """

    def __init__(
        self,
        timeout_seconds: float = 60.0,
        memory_mb: int = 2048,
        max_file_mb: int = 512,
        *,
        ocr: bool = True,
        ocr_page_seconds: float = 60.0,
        threads: int = -1,
        _setup_module: str | None = None,
    ) -> None:
        # `_setup_module` is for tests only: a module the child imports before serving, to
        # register parsers that sleep or crash on purpose.
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.max_file_mb = max_file_mb
        # Pages read by OCR each get `ocr_page_seconds` on top of the file's time limit: a
        # 300-page scan takes minutes, one page that hangs still ends in a timeout.
        self.ocr_page_seconds = ocr_page_seconds
        self._ocr_options = sandbox_child.OcrOptions(enabled=ocr, threads=threads)
        self._setup_module = _setup_module
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._closed = False

    def parse(self, path: Path, on_step: Callable[[str], None] | None = None) -> ParsedDocument:
        """Parse one file in the child. Raises DocumentError subclasses, or Cancelled when
        `close` is called meanwhile (from another thread). `on_step` hears of slow steps
        ("reading page 3 of 40 by OCR") as they start."""
        path = Path(path)
        self._check_size(path)
        with self._lock:
            if self._closed:
                raise RuntimeError("ParserWorker is closed")
            try:
                connection = self._ensure_child(path)
                try:
                    connection.send(str(path))
                except (OSError, ValueError):  # the child died since the last file: start anew
                    self._stop_child(graceful=False)
                    connection = self._ensure_child(path)
                    connection.send(str(path))
                return self._receive(connection, path, on_step or (lambda _message: None))
            except DocumentError:
                if self._closed:  # the failure is the kill that close() did: not the file's fault
                    raise Cancelled() from None
                raise

    def close(self) -> None:
        """Stop the child. A parse under way in another thread ends at once with Cancelled,
        so closing the app never waits for a slow file."""
        self._closed = True
        if not self._lock.acquire(blocking=False):
            process = self._process
            if process is not None:
                with contextlib.suppress(ValueError, OSError):  # already closed or gone
                    process.kill()
            self._lock.acquire()
        try:
            self._stop_child(graceful=True)
        finally:
            self._lock.release()

    def __enter__(self) -> ParserWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _check_size(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DocumentError(path, "file not found") from None
        except PermissionError:
            raise DocumentError(path, "unreadable: permission denied") from None
        except OSError as error:
            raise DocumentError(path, f"unreadable: {error.strerror or error}") from None
        if size > self.max_file_mb * 1024 * 1024:
            raise DocumentError(
                path, f"file too large ({size // (1024 * 1024)} MB, limit {self.max_file_mb} MB)"
            )

    def _receive(
        self, connection: Connection, path: Path, on_step: Callable[[str], None]
    ) -> ParsedDocument:
        deadline = time.monotonic() + self.timeout_seconds
        step: str | None = None
        try:
            while True:
                if not connection.poll(max(0.0, deadline - time.monotonic())):
                    self._stop_child(graceful=False)
                    raise DocumentError(path, self._timeout_reason(step))
                reply = connection.recv()
                if not isinstance(reply, sandbox_child.ParseStep):
                    break
                step = reply.message
                deadline = time.monotonic() + self.ocr_page_seconds
                on_step(step)
        except (EOFError, OSError):  # the child died: the pipe closed under us
            raise DocumentError(path, self._death_reason()) from None
        if isinstance(reply, ParsedDocument):
            return reply
        status, reason = reply
        raise _ERRORS.get(status, DocumentError)(path, reason)

    def _timeout_reason(self, step: str | None) -> str:
        if step is None:
            return f"timed out after {self.timeout_seconds:g} s"
        return f"timed out after {self.ocr_page_seconds:g} s {step}"

    def _ensure_child(self, path: Path) -> Connection:
        if self._closed:
            raise Cancelled()
        if self._process is not None and self._connection is not None and self._process.is_alive():
            return self._connection
        self._stop_child(graceful=False)
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=sandbox_child.serve,
            args=(child_end, self.memory_mb, self._setup_module, self._ocr_options),
            name="embeddinggemma-rag-parser",
            daemon=True,  # never outlive the app, even when it exits without close()
        )
        process.start()
        child_end.close()  # so that the child's death reads as EOF here
        self._process, self._connection = process, parent_end
        try:
            ready = parent_end.poll(_STARTUP_SECONDS) and parent_end.recv() == sandbox_child.READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            how = child_process.describe_exit(self._reap())
            raise DocumentError(path, f"the parser process could not start ({how})")
        return parent_end

    def _death_reason(self) -> str:
        code = self._reap()
        if code == -child_process.SIGKILL:  # what the kernel's out-of-memory killer sends
            return "ran out of memory while parsing (the parser process was killed)"
        return f"the parser crashed ({child_process.describe_exit(code)})"

    def _reap(self) -> int | None:
        """Wait briefly for a dying child, forget it, and return its exit code."""
        process, code = self._process, None
        if process is not None:
            process.join(timeout=5)
            code = process.exitcode
        self._stop_child(graceful=False)
        return code

    def _stop_child(self, graceful: bool) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        child_process.stop(process, connection, graceful)
