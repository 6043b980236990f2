"""PDF files through pypdf: text page by page with 1-based numbers, titled by metadata."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from embeddinggemma_rag.core.errors import DocumentError, NoTextDocument
from embeddinggemma_rag.core.intake.documents import PageText, ParsedDocument
from embeddinggemma_rag.core.intake.parsing import limits, ocr, pdf_ocr
from embeddinggemma_rag.core.intake.parsing.encoding import normalise_newlines
from embeddinggemma_rag.core.intake.parsing.garble import is_garbled

SUFFIXES = frozenset({".pdf"})

# pypdf logs every repaired defect of a damaged file as a warning; without a handler of the
# app's own those lines would reach stderr through logging's last resort, once per object.
logging.getLogger("pypdf").addHandler(logging.NullHandler())
_log = logging.getLogger(__name__)

# Titles that authoring tools write when the author wrote none: worse than the file name.
_JUNK_TITLE = re.compile(
    r"^(untitled.*|document\d*|doc\d+|presentation\d*|powerpoint presentation|slide \d+|"
    r"title|no title|none|null|unknown|\W*)$",
    re.I,
)
_WORD_PREFIX = re.compile(r"^Microsoft (Word|PowerPoint|Excel) - ", re.I)
_DETAIL_CHARS = 120


def parse(path: Path) -> ParsedDocument:
    # Damaged files make pypdf warn (warnings module) while it repairs them; the result is what
    # counts, and a warning escaping here would be an error under `-W error`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _read(path)
        except (DocumentError, MemoryError, OSError):
            raise
        except DependencyError:
            raise DocumentError(path, "encrypted with AES, which needs `cryptography`") from None
        except LimitReachedError as error:
            raise DocumentError(path, _bomb_reason(error)) from None
        except Exception as error:  # pypdf raises many kinds on broken files, not only its own
            raise DocumentError(path, f"damaged or not a valid PDF ({_detail(error)})") from None


def _read(path: Path) -> ParsedDocument:
    with path.open("rb") as file:
        if b"%PDF-" not in file.read(1024):  # readers accept junk before the header, not none
            raise DocumentError(path, "damaged or not a valid PDF (no PDF header)")
    reader = PdfReader(path)
    if reader.is_encrypted:
        # pypdf already tried the empty password, which opens owner-password-only files;
        # trying it again tells whether it worked.
        try:
            opened = bool(reader.decrypt(""))
        except FileNotDecryptedError:
            opened = False
        if not opened:
            raise DocumentError(path, "password-protected")
    try:
        page_count = len(reader.pages)
    except FileNotDecryptedError:
        raise DocumentError(path, "password-protected") from None
    if page_count == 0:
        raise NoTextDocument(path, "no extractable text (the PDF has no pages)")
    pages, failures = _extract_pages(reader, page_count, path)
    if failures == page_count:
        raise DocumentError(path, "damaged or not a valid PDF (no page could be read)")
    garbled = [page.page or 0 for page in pages if is_garbled(page.text)]
    blank = [page.page or 0 for page in pages if not page.text.strip()]
    if ocr.is_enabled():
        pages = _read_by_ocr(path, pages, sorted(garbled + blank))
    unreadable = [page.page or 0 for page in pages if is_garbled(page.text)]
    pages = [PageText(page.page, "") if is_garbled(page.text) else page for page in pages]
    still_blank = [
        page.page or 0
        for page in pages
        if not page.text.strip() and (page.page or 0) not in unreadable
    ]
    warnings_ = [_garbled_warning(unreadable), _blank_warning(still_blank)]
    document = ParsedDocument(
        title=_title(reader),
        pages=tuple(pages),
        warning="; ".join(w for w in warnings_ if w) or None,
    )
    if not document.has_text:
        raise NoTextDocument(path, _no_text_reason(page_count, unreadable))
    return document


def _read_by_ocr(path: Path, pages: list[PageText], numbers: list[int]) -> list[PageText]:
    """`pages` with those numbered `numbers` read again by OCR where OCR found real text."""
    read = {page.page: page for page in pdf_ocr.read_pages(path, numbers, len(pages))}
    better = {n: p for n, p in read.items() if p.text.strip() and not is_garbled(p.text)}
    return [better.get(page.page, page) for page in pages]


def _garbled_warning(unreadable: list[int]) -> str | None:
    if not unreadable:
        return None
    how = "" if ocr.is_enabled() else f" ({ocr.why_off()})"
    return (
        f"{len(unreadable)} page(s) left out: their text is garbled (fonts without a "
        f"Unicode map): page {_listed(unreadable)}{how}"
    )


def _blank_warning(blank: list[int]) -> str | None:
    """Pages left without text in a file that has some: said, so a reader knows which."""
    if not blank:
        return None
    if not ocr.is_enabled():
        return f"page {_listed(blank)} not read: no text layer ({ocr.why_off()})"
    return f"OCR found no text on page {_listed(blank)}"


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:10])) + (" ..." if len(numbers) > 10 else "")


def _no_text_reason(page_count: int, unreadable: list[int]) -> str:
    if unreadable:
        return (_garbled_warning(unreadable) or "").replace(" page(s) left out", " page(s)")
    if not ocr.is_enabled():
        return f"no extractable text (scanned or image-only PDF; {ocr.why_off()})"
    return (
        "no extractable text (scanned or image-only PDF: OCR found no text on "
        f"{page_count} page(s))"
    )


def _extract_pages(reader: PdfReader, page_count: int, path: Path) -> tuple[list[PageText], int]:
    """Every page's text; a page that cannot be read counts as empty, so one bad page does
    not lose the rest of the book. A page that trips one of pypdf's safety limits (a stream
    that inflates past 75 MB) ends the file at once: that is a bomb, not damage, and its
    other pages would only repeat the cost. So does text past the text limit."""
    pages: list[PageText] = []
    failures = 0
    characters = 0
    for index in range(page_count):
        try:
            text = reader.pages[index].extract_text() or ""
        except (MemoryError, LimitReachedError):
            raise
        except Exception as error:
            _log.info("page %d unreadable: %s", index + 1, _detail(error))
            failures += 1
            text = ""
        text = normalise_newlines(text.replace("\x00", "")).strip()
        characters += len(text)
        limits.check_text_length(path, characters)
        pages.append(PageText(page=index + 1, text=text))
    return pages, failures


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        raw = metadata.title if metadata is not None else None
    except Exception:  # a damaged /Info dictionary only costs the title
        return None
    if not isinstance(raw, str):
        return None
    title = " ".join(_WORD_PREFIX.sub("", raw.replace("\x00", "")).split())
    title = re.sub(r"\.(docx?|pptx?|xlsx?|rtf|odt)$", "", title, flags=re.I)
    return None if _JUNK_TITLE.match(title) else title


def _bomb_reason(error: LimitReachedError) -> str:
    _log.info("safety limit reached: %s", _detail(error))
    return "refused: a compressed part unpacks past the safety limit (a decompression bomb?)"


def _detail(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
