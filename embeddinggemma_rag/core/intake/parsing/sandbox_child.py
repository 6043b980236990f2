"""The parser process's side of `ParserWorker`: cap its memory, then parse what it is sent."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from embeddinggemma_rag.core.errors import DocumentError
from embeddinggemma_rag.core.intake.documents import ParsedDocument
from embeddinggemma_rag.core.intake.parsing import ocr
from embeddinggemma_rag.core.intake.parsing.registry import parse_file

READY = "ready"  # sent once, when the child is set up and waits for paths
_OUT_OF_MEMORY = (DocumentError.status, "ran out of memory while parsing")

Reply = ParsedDocument | tuple[str, str]  # a document, or (status, reason) of a DocumentError


@dataclass(frozen=True)
class ParseStep:
    """Sent before each slow step of one file (a page read by OCR): what is being done. The
    parent shows it and gives the step its own time limit."""

    message: str


@dataclass(frozen=True)
class OcrOptions:
    enabled: bool = True
    threads: int = -1  # onnxruntime's intra-op threads; -1 for its default


def serve(
    connection: Connection,
    memory_mb: int,
    setup_module: str | None,
    ocr_options: OcrOptions | None = None,
) -> None:
    """Entry point of the child (module level, so that spawn and frozen apps can import it).

    Protocol: the parent sends a path as str and gets any number of ParseStep, then a Reply;
    None or a closed pipe ends it.
    """
    # Ctrl+C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    options = ocr_options or OcrOptions()
    ocr.configure(options.enabled, options.threads, lambda m: connection.send(ParseStep(m)))
    if setup_module:
        importlib.import_module(setup_module)
    _limit_memory(memory_mb)
    connection.send(READY)
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        reply = _parse(Path(request))
        try:
            connection.send(reply)
        except MemoryError:  # pickling a huge document can fail when parsing did not
            del reply
            connection.send(_OUT_OF_MEMORY)


def _parse(path: Path) -> Reply:
    try:
        return parse_file(path)
    except DocumentError as error:
        return (error.status, error.reason)
    except MemoryError:
        return _OUT_OF_MEMORY


def _limit_memory(memory_mb: int) -> None:
    """Cap the address space at what the child holds now plus `memory_mb`.

    Relative, not absolute: under spawn the child re-imports the app's main module, and what
    that loads (Qt, onnxruntime) must not eat the parser's allowance. An allocation past the
    cap raises MemoryError in Python code, which becomes a reason instead of a dead app.
    """
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the time and file size limits still apply
        return
    limit = _address_space_bytes() + memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    # macOS refuses some values and does not enforce this limit anyway.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0  # no /proc (macOS): the cap is then `memory_mb` in total
