"""Test-only parsers that misbehave on purpose, registered inside the sandbox's child.

`ParserWorker(_setup_module=sandbox_hooks.__name__)` makes the spawned child import this
module, so the suffixes below exist there (and only in tests).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing.registry import register


def _sleep(path: Path) -> ParsedDocument:
    """Sleeps for the number of seconds written in the file: a parser stuck in a loop."""
    time.sleep(float(path.read_text()))
    return ParsedDocument(title=None, pages=(PageText(None, "woke up"),))


def _exit(path: Path) -> ParsedDocument:
    """Exits the process with the code written in the file, as a crashing C library would."""
    os._exit(int(path.read_text()))


def _hog(path: Path) -> ParsedDocument:
    """Allocates the number of megabytes written in the file: a decompression bomb."""
    block = bytearray(int(path.read_text()) * 1024 * 1024)
    return ParsedDocument(title=None, pages=(PageText(None, f"got {len(block)} bytes"),))


def _killed(path: Path) -> ParsedDocument:
    """Dies by SIGKILL, which is how the kernel's out-of-memory killer ends a process."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)
    raise AssertionError("not reached")


def _pid(path: Path) -> ParsedDocument:
    """Answers with the id of the process that parsed, to see whether the child is reused."""
    return ParsedDocument(title=None, pages=(PageText(None, str(os.getpid())),))


register([".sleep"], _sleep)
register([".exit"], _exit)
register([".hog"], _hog)
register([".killed"], _killed)
register([".pid"], _pid)


def _slow_pages(path: Path) -> ParsedDocument:
    """Announces pages as OCR does, each taking the seconds written in the file, one per line."""
    from embeddinggemma_rag.core.intake.parsing import ocr

    delays = [float(line) for line in path.read_text().split()]
    for number, delay in enumerate(delays, start=1):
        ocr.announce(f"reading page {number} of {len(delays)} by OCR")
        time.sleep(delay)
    return ParsedDocument(title=None, pages=(PageText(None, "all pages read"),))


register([".slowpages"], _slow_pages)
