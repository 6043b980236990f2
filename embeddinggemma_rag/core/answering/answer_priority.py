"""Answers before indexing: an ingest steps aside at its next batch while an answer is written.

A person who asks while a folder is being indexed is waiting for that answer; the ingest can
wait a few seconds. On two cores, llama.cpp beside the app's own embedding wrote a third of
its idle speed (README, Answers); with the ingest stepped aside it writes at full speed. The
ingest waits between embedding batches (under half a second of work on two cores), so an
answer starts almost at once, and never longer than `MAX_WAIT_S` per answer, so a stuck
answer cannot stall indexing for good.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from embeddinggemma_rag.core.cancel import CancelToken

MAX_WAIT_S = 120.0  # an answer of 384 tokens takes 5-30 s; past this the ingest goes on
# How long an answer waits for a running ingest to reach its next batch (1,024 tokens: about
# 0.3 s on two cores) before it starts anyway, on fewer threads.
INGEST_STEP_ASIDE_S = 1.0
_POLL_S = 0.1  # how often a waiting ingest looks at its cancel token


class AnswerPriority:
    """Shared by an engine's answers and its ingests."""

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._answers = 0
        self._finished = 0  # answers ended so far: a waiting ingest goes on after each one
        self._changed = threading.Condition()
        self._ingest_waiting = threading.Event()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around an answer (its retrieval included): ingests wait while it runs."""
        with self._changed:
            self._answers += 1
        try:
            yield
        finally:
            with self._changed:
                self._answers -= 1
                self._finished += 1
                self._changed.notify_all()

    @property
    def answer_running(self) -> bool:
        return self._answers > 0

    def wait_for_answers(self, cancel: CancelToken) -> float:
        """Block an ingest while answers run, until one of them ends (at most `max_wait_s`,
        or until cancelled); returns the seconds waited.

        Until one ends, not until none runs: with questions asked back to back (a script, an
        assistant over MCP) the next answer often starts before the woken ingest runs, and
        the ingest would wait out `max_wait_s` at every batch. This way it takes one batch
        (a fraction of a second) between two answers, then steps aside for the next."""
        started = time.monotonic()
        deadline = started + self.max_wait_s
        with self._changed:
            if not self._answers:
                return 0.0
            finished_before = self._finished
            self._ingest_waiting.set()
            try:
                while (
                    self._answers
                    and self._finished == finished_before
                    and not cancel.cancelled
                    and time.monotonic() < deadline
                ):
                    self._changed.wait(_POLL_S)
            finally:
                self._ingest_waiting.clear()
        return time.monotonic() - started

    def wait_for_ingest_to_step_aside(self, timeout: float) -> bool:
        """True once an ingest is waiting for the answers (within `timeout` seconds)."""
        return self._ingest_waiting.wait(timeout)


@dataclass(frozen=True)
class AnswerThreads:
    count: int
    fresh: bool  # the answer process measures other programs from now on (core/cpu_share.py)


def answer_threads(threads: int, ingesting: bool, priority: AnswerPriority) -> AnswerThreads:
    """Threads for the next answer, once a running ingest has stepped aside (or not)."""
    if not ingesting:
        return AnswerThreads(threads, fresh=False)
    if priority.wait_for_ingest_to_step_aside(INGEST_STEP_ASIDE_S):
        # The cores this ingest kept busy a moment ago are free: the answer process must
        # not count that past load against the answer.
        return AnswerThreads(threads, fresh=True)
    # The ingest is still inside one long step (a parse, say): llama.cpp's threads wait for
    # each other, and beside busy cores two threads wrote 5-10x slower than one (README,
    # Answers).
    return AnswerThreads(max(1, threads // 2), fresh=False)
