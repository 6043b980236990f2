"""Cancellation tokens and progress reports shared by every long-running core function."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from embeddinggemma_rag.core.errors import Cancelled


class _Flag(Protocol):
    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class CancelToken:
    """Set from any thread; long work checks it between steps and raises `Cancelled`.

    `event` may be a `multiprocessing` Event, so a token can be cancelled from another process.
    """

    def __init__(self, event: _Flag | None = None) -> None:
        self._event: _Flag = event if event is not None else threading.Event()

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
