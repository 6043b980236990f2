"""Cancellation tokens and progress reports shared by every long-running core function."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from embeddinggemma_rag.core.errors import Cancelled


class CancelToken:
    """Set from any thread; long work checks it between steps and raises `Cancelled`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


NEVER_CANCELLED = CancelToken()  # a token nobody holds, for callers that never cancel


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units (total 0 when unknown)."""

    done: int
    total: int
    unit: str = ""
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """A progress callback for callers that show none."""
