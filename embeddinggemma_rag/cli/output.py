"""Terminal output: a progress line for long work, JSON documents, and plain tables."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from embeddinggemma_rag.core.records import IngestProgress


def print_json(document: object) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


class ProgressLine:
    """Redraws one status line on a terminal at most ten times a second; silent elsewhere."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # Looked up per call: a default bound at import keeps a stream that may since be closed.
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0
        self._width = 0

    def update(self, progress: IngestProgress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        total = max(progress.files_total, 1)
        filled = int(24 * progress.files_done / total)
        rate = progress.chunks_done / progress.elapsed_seconds if progress.elapsed_seconds else 0
        name = progress.current_file[-40:]
        if progress.current_step:  # e.g. "reading page 3 of 40 by OCR"
            name += f": {progress.current_step}"
        line = (
            f"[{'#' * filled}{'.' * (24 - filled)}] {progress.files_done}/"
            f"{progress.files_total} files, {progress.chunks_done} chunks "
            f"({rate:.1f}/s) {name}"
        )
        self.clear()
        self.stream.write(line)
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def above(self, text: str) -> None:
        """Print a line on stdout without tearing the progress line."""
        self.clear()
        print(text, flush=True)
