"""Which parser reads which suffix, and `parse_file`, which turns every failure into a reason."""

from __future__ import annotations

import dataclasses
import logging
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument, UnsupportedDocument
from embeddinggemma_rag.core.intake.documents import ParsedDocument
from embeddinggemma_rag.core.intake.parsing import (
    docx,
    epub,
    html,
    image,
    limits,
    markdown,
    ods,
    odt,
    pdf,
    slides,
    tables,
    text,
    xlsx,
)
from embeddinggemma_rag.core.intake.parsing.garble import remove_control_characters

Parser = Callable[[Path], ParsedDocument]

_log = logging.getLogger(__name__)
_PARSERS: dict[str, Parser] = {}
_MAX_TITLE_CHARS = 200  # a "heading" longer than this is a paragraph, not a title


def register(suffixes: Iterable[str], parser: Parser) -> None:
    """Read files with these suffixes (".ext", any case) with `parser`.

    A parser returns the title it finds (or None) and the pages; it raises DocumentError
    subclasses for what it recognises, and may let anything else escape: `parse_file`
    turns that into a failure with a reason.
    """
    for suffix in suffixes:
        _PARSERS[suffix.lower()] = parser


for _module in (text, markdown, html, pdf, docx, odt, image, tables, xlsx, ods, slides, epub):
    register(_module.SUFFIXES, _module.parse)

BUILTIN_SUFFIXES = frozenset(_PARSERS)


def parser_for(path: Path) -> Parser | None:
    return _PARSERS.get(path.suffix.lower())


def is_supported(path: Path) -> bool:
    return parser_for(Path(path)) is not None


def parse_file(path: Path) -> ParsedDocument:
    """Read one file in this process. Raises UnsupportedDocument, NoTextDocument or
    DocumentError, never anything else (short of KeyboardInterrupt)."""
    path = Path(path)
    parser = parser_for(path)
    if parser is None:
        raise UnsupportedDocument(path, f"unsupported file type ({path.suffix or 'no extension'})")
    try:
        document = _parse_regular_file(path, parser)
    except DocumentError:
        raise
    except FileNotFoundError:
        raise DocumentError(path, "file not found") from None
    except PermissionError:
        raise DocumentError(path, "unreadable: permission denied") from None
    except OSError as error:
        raise DocumentError(path, f"unreadable: {error.strerror or error}") from None
    except MemoryError:
        raise DocumentError(path, "ran out of memory while parsing") from None
    except RecursionError:
        raise DocumentError(path, "damaged or too deeply nested to read") from None
    except Exception as error:  # a parser bug or a library surprise: fail this file, not the run
        _log.exception("parser failed on %s", path)
        detail = " ".join(str(error).split())[:120]
        raise DocumentError(path, f"could not be read ({type(error).__name__}: {detail})") from None
    # OCR text holds no control codes, and its boxes count characters: it stays as it is.
    pages = tuple(
        page if page.ocr else dataclasses.replace(page, text=remove_control_characters(page.text))
        for page in document.pages
    )
    document = dataclasses.replace(document, title=_title(document.title, path), pages=pages)
    if not document.has_text:
        raise NoTextDocument(path, "no extractable text")
    # Whatever the format: a zip or a PDF can unpack to far more text than its size suggests.
    limits.check_text_length(path, sum(len(page.text) for page in document.pages))
    return document


def _parse_regular_file(path: Path, parser: Parser) -> ParsedDocument:
    mode = path.stat()
    if stat.S_ISDIR(mode.st_mode):
        raise DocumentError(path, "not a file (a folder)")
    if not stat.S_ISREG(mode.st_mode):  # a FIFO or a device would block or never end
        raise DocumentError(path, "not a regular file")
    if mode.st_size == 0:
        raise NoTextDocument(path, "empty file")
    return parser(path)


def _title(found: str | None, path: Path) -> str:
    """The format's title or first heading when there is one, else the file name; cut to
    `_MAX_TITLE_CHARS` either way (a name may have 255 characters), since every chunk's
    model input starts with the title."""
    title = " ".join((found or "").split()) or path.stem or path.name
    if len(title) > _MAX_TITLE_CHARS:
        title = title[: _MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title
