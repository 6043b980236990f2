"""`ProcessChatModel`: the answer model in a child process, so a native crash costs one answer."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from embeddinggemma_rag.core import child_process, paths
from embeddinggemma_rag.core.answering import chat_worker
from embeddinggemma_rag.core.answering.generation import Message
from embeddinggemma_rag.core.cancel import NEVER_CANCELLED, CancelToken
from embeddinggemma_rag.core.errors import STOPPED_UNEXPECTEDLY as STOPPED_UNEXPECTEDLY
from embeddinggemma_rag.core.errors import AnswerModelCrashed, ModelError
from embeddinggemma_rag.core.models import model_files

_LOAD_SECONDS = 300.0  # a 4 GB model from a slow disk; the parent waits on its pipe, not busy
_REPLY_SECONDS = 60.0  # counting tokens or changing threads: instant unless the child is stuck
_CANCEL_SECONDS = 5.0  # a cancelled answer that keeps going this long gets its process killed
_POLL_SECONDS = 0.05  # how often a streaming answer looks at the caller's cancel token


class ProcessChatModel:
    """A `ChatModel` whose llama.cpp runs in a child process that is restarted when it dies.

    The child keeps its llama.cpp context between questions, so the prompt cache works as in
    process. Loading happens here, in the constructor, so a broken file fails at load time with
    the child's own message. One request at a time (a lock), like a llama.cpp context.
    """

    def __init__(
        self,
        model_path: Path,
        context_tokens: int = 2048,
        threads: int | None = None,
        seed: int = 0,
        *,
        _setup_module: str | None = None,
    ) -> None:
        self.model_path = model_files.locate_generator_model(model_path)
        self.context_tokens = context_tokens
        self._threads = threads or paths.physical_cores()
        self._seed = seed
        self._setup_module = _setup_module  # tests only: imported by the child first
        self._context = multiprocessing.get_context("spawn")  # see ParserWorker on why spawn
        self._cancel = self._context.Event()
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._closed = False
        with self._lock:
            self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (tests kill it), or None when no child runs."""
        return self._process.pid if self._process is not None else None

    def count_tokens(self, text: str) -> int:
        return int(self._call(("count", text)))

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return int(self._call(("count_chat", [dict(m) for m in messages])))

    def set_threads(self, threads: int, *, fresh: bool = False) -> None:
        if threads != self._threads or fresh:
            self._threads = threads
            self._call(("threads", threads, fresh))

    def forget_prompt(self) -> None:
        """Drop the child's cached prompt (benchmarks: every round cold)."""
        self._call(("forget",))

    def stream_chat(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> Iterator[str]:
        """Yield the answer piece by piece; a cancel stops the child's decoding within ~50 ms."""
        with self._lock:
            if cancel.cancelled:
                return
            connection = self._ensure_child()
            self._cancel.clear()
            self._send(connection, ("chat", messages, max_tokens, temperature))
            finished = False
            try:
                while True:
                    if cancel.cancelled:
                        self._cancel.set()  # the child's abort callback and loop read it
                    reply = self._next_reply(connection, cancel)
                    if reply is None:  # cancelled and the child did not stop in time
                        self._stop_child(graceful=False)
                        finished = True
                        return
                    kind, value = reply
                    if kind == "end":
                        finished = True
                        return
                    if kind == "error":
                        finished = True
                        raise ModelError(self.model_path, value)
                    if not cancel.cancelled:
                        yield value
            finally:
                if not finished:  # the consumer stopped early: stop the child, drain its reply
                    self._cancel.set()
                    self._drain(connection)

    def close(self) -> None:
        self._closed = True
        self._cancel.set()
        with self._lock:
            self._stop_child(graceful=True)

    # The child ---------------------------------------------------------------------------

    def _start(self) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=chat_worker.serve,
            args=(
                child_end,
                self._cancel,
                str(self.model_path),
                self.context_tokens,
                self._threads,
                self._seed,
                self._setup_module,
            ),
            name="embeddinggemma-rag-answers",
            daemon=True,  # never outlive the app, even when it exits without close()
        )
        process.start()
        child_end.close()  # so that the child's death reads as EOF here
        self._process, self._connection = process, parent_end
        try:
            ready = parent_end.poll(_LOAD_SECONDS)
            reply = parent_end.recv() if ready else None
        except (EOFError, OSError):
            reply = None
        if reply is None:
            raise AnswerModelCrashed(self.model_path, f"while loading: {self._death()}")
        kind, value = reply
        if kind != chat_worker.READY:
            self._stop_child(graceful=False)
            raise ModelError(self.model_path, str(value))
        self.context_tokens = int(value)

    def _ensure_child(self) -> Connection:
        if self._closed:
            raise ModelError(self.model_path, "the answer model was closed")
        if self._process is None or self._connection is None or not self._process.is_alive():
            self._stop_child(graceful=False)
            self._start()
        assert self._connection is not None
        return self._connection

    def _call(self, request: tuple[Any, ...]) -> Any:
        with self._lock:
            connection = self._ensure_child()
            self._send(connection, request)
            try:
                if not connection.poll(_REPLY_SECONDS):
                    self._stop_child(graceful=False)
                    raise AnswerModelCrashed(self.model_path, "it stopped answering")
                kind, value = connection.recv()
            except (EOFError, OSError):
                raise AnswerModelCrashed(self.model_path, self._death()) from None
            if kind == "error":
                raise ModelError(self.model_path, value)
            return value

    def _send(self, connection: Connection, request: tuple[Any, ...]) -> None:
        try:
            connection.send(request)
        except (OSError, ValueError):
            raise AnswerModelCrashed(self.model_path, self._death()) from None

    def _next_reply(self, connection: Connection, cancel: CancelToken) -> tuple[str, Any] | None:
        """The child's next message; None if it ignored a cancel for `_CANCEL_SECONDS`."""
        waited = 0.0
        try:
            while not connection.poll(_POLL_SECONDS):
                if cancel.cancelled:
                    self._cancel.set()
                    waited += _POLL_SECONDS
                    if waited >= _CANCEL_SECONDS:
                        return None
            reply: tuple[str, Any] = connection.recv()
            return reply
        except (EOFError, OSError):
            raise AnswerModelCrashed(self.model_path, self._death()) from None

    def _drain(self, connection: Connection) -> None:
        """Read the rest of an abandoned answer so the next request starts in step."""
        try:
            while connection.poll(_CANCEL_SECONDS):
                if connection.recv()[0] in ("end", "error"):
                    return
        except (EOFError, OSError):
            pass
        self._stop_child(graceful=False)

    def _death(self) -> str:
        process, code = self._process, None
        if process is not None:
            process.join(timeout=5)
            code = process.exitcode
        self._stop_child(graceful=False)
        return describe_exit(code)

    def _stop_child(self, graceful: bool) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        # A graceful stop lets the child free a model of gigabytes: more time than a parser.
        child_process.stop(process, connection, graceful, grace_seconds=5.0)


def describe_exit(code: int | None) -> str:
    """How the answer process ended; a kill is most often the out-of-memory killer."""
    if code == -child_process.SIGKILL:
        return "killed, perhaps out of memory"
    return child_process.describe_exit(code)
